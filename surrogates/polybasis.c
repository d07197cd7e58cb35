#include "surrogates/polybasis.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

enum { KV_POLYBASIS_MAX_TERMS = 10000 };

long kv_polybasis_count(int d, int degree) {
  double c = 1.0;
  for (int k = 1; k <= d; k++) {
    c = c * (double)(degree + k) / (double)k;
  }
  return c > 1e9 ? 1000000000L : (long)(c + 0.5);
}

/* Append the compositions of t over inputs j.. into pow (depth-first, higher powers of the
 * earlier inputs first); returns the new count or -1 when there are too many. */
static int compose(int d, int j, int t, const int *lim, int *cur, int *pow, int count) {
  if (j == d - 1) {
    if (t > lim[j]) {
      return count;
    }
    if (count >= KV_POLYBASIS_MAX_TERMS) {
      return -1;
    }
    cur[j] = t;
    memcpy(pow + (size_t)count * d, cur, (size_t)d * sizeof *cur);
    return count + 1;
  }
  for (int k = t < lim[j] ? t : lim[j]; k >= 0 && count >= 0; k--) {
    cur[j] = k;
    count = compose(d, j + 1, t - k, lim, cur, pow, count);
  }
  return count;
}

int kv_polybasis_create(int d, int degree, int interaction, const int *per_input, const double *lo,
                        const double *hi, kv_polybasis *b) {
  memset(b, 0, sizeof *b);
  if (d < 1 || degree < 0) {
    return KV_ERROR(KV_ERR_INVALID, "polynomial basis: degree %d in %d inputs", degree, d);
  }
  b->d = d;
  b->degree = degree;
  b->pow = malloc((size_t)KV_POLYBASIS_MAX_TERMS * (size_t)d * sizeof *b->pow);
  b->off = malloc((size_t)d * sizeof *b->off);
  b->scale = malloc((size_t)d * sizeof *b->scale);
  int *lim = malloc(2 * (size_t)d * sizeof *lim);
  if (!b->pow || !b->off || !b->scale || !lim) {
    free(lim);
    kv_polybasis_free(b);
    return KV_ERROR(KV_ERR_NOMEM, "polynomial basis: out of memory");
  }
  int *cur = lim + d;
  for (int j = 0; j < d; j++) {
    lim[j] = interaction ? 1 : degree;
    if (per_input && per_input[j] >= 0 && per_input[j] < lim[j]) {
      lim[j] = per_input[j];
    }
    b->off[j] = 0.5 * (lo[j] + hi[j]);
    b->scale[j] = hi[j] > lo[j] ? 0.5 * (hi[j] - lo[j]) : 1.0;
  }
  int count = 0;
  for (int t = 0; t <= degree && count >= 0; t++) {
    count = compose(d, 0, t, lim, cur, b->pow, count);
  }
  free(lim);
  if (count < 0) {
    kv_polybasis_free(b);
    return KV_ERROR(KV_ERR_INVALID,
                    "polynomial basis: degree %d in %d inputs has over %d terms; lower the degree",
                    degree, d, KV_POLYBASIS_MAX_TERMS);
  }
  b->nterms = count;
  return KV_OK;
}

void kv_polybasis_free(kv_polybasis *b) {
  if (!b) {
    return;
  }
  free(b->pow);
  free(b->off);
  free(b->scale);
  memset(b, 0, sizeof *b);
}

void kv_polybasis_eval(const kv_polybasis *b, long m, const double *X, double *Phi) {
  int d = b->d, deg = b->degree;
  /* P_k(u_j) for k <= degree, by the three-term recurrence (k+1) P_{k+1} = (2k+1) u P_k - k
   * P_{k-1}. */
  double stack[64 * 9];
  double *P = (size_t)d * ((size_t)deg + 1) <= sizeof stack / sizeof stack[0]
                  ? stack
                  : malloc((size_t)d * ((size_t)deg + 1) * sizeof *P);
  for (long i = 0; i < m; i++) {
    for (int j = 0; j < d; j++) {
      double u = (X[i * d + j] - b->off[j]) / b->scale[j], *Pj = P + (size_t)j * (deg + 1);
      Pj[0] = 1.0;
      if (deg > 0) {
        Pj[1] = u;
      }
      for (int k = 1; k < deg; k++) {
        Pj[k + 1] = ((2.0 * k + 1.0) * u * Pj[k] - k * Pj[k - 1]) / (k + 1.0);
      }
    }
    for (int t = 0; t < b->nterms; t++) {
      const int *pw = b->pow + (size_t)t * d;
      double v = 1.0;
      for (int j = 0; j < d; j++) {
        v *= P[(size_t)j * (deg + 1) + pw[j]];
      }
      Phi[i * b->nterms + t] = v;
    }
  }
  if (P != stack) {
    free(P);
  }
}

int kv_polybasis_save(const kv_polybasis *b, kv_h5_store *h, const char *grp) {
  char name[256];
  long dims[2] = {b->nterms, b->d}, d = b->d;
  double *pw = malloc(((size_t)b->nterms * (size_t)b->d + 1) * sizeof *pw);
  if (!pw) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  for (long i = 0; i < (long)b->nterms * b->d; i++) {
    pw[i] = b->pow[i];
  }
  snprintf(name, sizeof name, "%s/powers", grp);
  int rc = kv_h5_store_put(h, name, 2, dims, pw);
  free(pw);
  KV_CHECK(rc);
  snprintf(name, sizeof name, "%s/offset", grp);
  KV_CHECK(kv_h5_store_put(h, name, 1, &d, b->off));
  snprintf(name, sizeof name, "%s/scale", grp);
  KV_CHECK(kv_h5_store_put(h, name, 1, &d, b->scale));
  KV_CHECK(kv_h5_store_put_number(h, grp, "degree", b->degree));
  return KV_OK;
}

int kv_polybasis_load(kv_h5_store *h, const char *path, const char *grp, kv_polybasis *b) {
  memset(b, 0, sizeof *b);
  char name[256];
  kv_h5_array pw = {0}, off = {0}, sc = {0};
  double deg = 0.0;
  int rc = KV_OK;
  snprintf(name, sizeof name, "%s/powers", grp);
  KV_TRY(kv_h5_store_get(h, name, &pw));
  snprintf(name, sizeof name, "%s/offset", grp);
  KV_TRY(kv_h5_store_get(h, name, &off));
  snprintf(name, sizeof name, "%s/scale", grp);
  KV_TRY(kv_h5_store_get(h, name, &sc));
  KV_TRY(kv_h5_store_get_number(h, grp, "degree", &deg));
  if (pw.rank != 2 || pw.dims[1] != off.count || sc.count != off.count || off.count < 1 ||
      deg < 0 || deg > 100) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s is not a polynomial basis", path, grp);
    goto cleanup;
  }
  b->d = (int)off.count;
  b->nterms = (int)pw.dims[0];
  b->degree = (int)deg;
  b->pow = malloc(((size_t)pw.count + 1) * sizeof *b->pow);
  if (!b->pow) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  for (long i = 0; i < pw.count; i++) {
    b->pow[i] = (int)pw.data[i];
    if (b->pow[i] < 0 || b->pow[i] > b->degree) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s/powers holds %g", path, grp, pw.data[i]);
      goto cleanup;
    }
  }
  b->off = off.data;
  b->scale = sc.data;
  off.data = sc.data = NULL;
cleanup:
  free(pw.data);
  free(off.data);
  free(sc.data);
  if (rc != KV_OK) {
    kv_polybasis_free(b);
  }
  return rc;
}

void kv_polybasis_term(const kv_polybasis *b, int t, char *const *names, char *buf, unsigned n) {
  buf[0] = '\0';
  size_t len = 0;
  for (int j = 0; j < b->d; j++) {
    int p = b->pow[(size_t)t * b->d + j];
    if (p > 0 && len < n) {
      len += (size_t)snprintf(buf + len, n - len, "%s%s", len ? "*" : "", names[j]);
      if (p > 1 && len < n) {
        len += (size_t)snprintf(buf + len, n - len, "^%d", p);
      }
    }
  }
  if (!buf[0]) {
    snprintf(buf, n, "1");
  }
}

#include "solvers/ebm/sphere.h"
#include "core/comm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define KV_PI 3.14159265358979323846

int kv_sphere_init(kv_sphere *s, int nlat, int nlon) {
  memset(s, 0, sizeof *s);
  s->nlat = nlat;
  s->nlon = nlon;
  s->dlat = KV_PI / nlat;
  s->dlon = 2.0 * KV_PI / nlon;
  s->lat = malloc((size_t)nlat * sizeof *s->lat);
  s->lon = malloc((size_t)nlon * sizeof *s->lon);
  s->w = malloc((size_t)nlat * sizeof *s->w);
  s->cn = malloc((size_t)nlat * sizeof *s->cn);
  s->cs = malloc((size_t)nlat * sizeof *s->cs);
  s->ce = malloc((size_t)nlat * sizeof *s->ce);
  double *edge = malloc((size_t)(nlat + 1) * sizeof *edge);
  if (!s->lat || !s->lon || !s->w || !s->cn || !s->cs || !s->ce || !edge) {
    free(edge);
    kv_sphere_free(s);
    return KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory for a %d x %d grid", nlat, nlon);
  }
  /* cos(lat) on the faces between rows; exactly zero at the poles: no flux through them. */
  for (int j = 0; j <= nlat; j++) {
    edge[j] = (j == 0 || j == nlat) ? 0.0 : cos(-0.5 * KV_PI + j * s->dlat);
  }
  const double half = sin(0.5 * s->dlat);
  for (int j = 0; j < nlat; j++) {
    s->lat[j] = -0.5 * KV_PI + (j + 0.5) * s->dlat;
    /* sin(lat + dlat/2) - sin(lat - dlat/2), written so that it is exactly symmetric. */
    double dsin = 2.0 * cos(s->lat[j]) * half;
    s->w[j] = 0.5 * dsin / nlon;
    s->cn[j] = edge[j + 1] / (s->dlat * dsin);
    s->cs[j] = edge[j] / (s->dlat * dsin);
    s->ce[j] = nlon > 1 ? s->dlat / (cos(s->lat[j]) * s->dlon * s->dlon * dsin) : 0.0;
  }
  for (int i = 0; i < nlon; i++) {
    s->lon[i] = (i + 0.5) * s->dlon;
  }
  free(edge);
  return KV_OK;
}

void kv_sphere_free(kv_sphere *s) {
  if (!s) {
    return;
  }
  free(s->lat);
  free(s->lon);
  free(s->w);
  free(s->cn);
  free(s->cs);
  free(s->ce);
  memset(s, 0, sizeof *s);
}

/* ---------------------------------------------------------------- tridiagonal systems */

/* Thomas factorisation of the batch with diagonal b (the cyclic corners already folded in). */
static void thomas_factor(kv_sphere_tridiag *t, const double *b, const double *c) {
  const long n = t->n, nb = t->nb;
  for (long q = 0; q < nb; q++) {
    t->m[q] = 1.0 / b[q];
    t->cp[q] = c[q] * t->m[q];
  }
  for (long k = 1; k < n; k++) {
    for (long q = 0; q < nb; q++) {
      long e = k * nb + q;
      double p = b[e] - t->a[e] * t->cp[e - nb];
      t->m[e] = 1.0 / p;
      t->cp[e] = (k < n - 1 ? c[e] : 0.0) * t->m[e];
    }
  }
}

static void thomas_solve(const kv_sphere_tridiag *t, double *restrict x) {
  const long n = t->n, nb = t->nb;
  const double *restrict a = t->a, *restrict m = t->m, *restrict cp = t->cp;
  for (long q = 0; q < nb; q++) {
    x[q] *= m[q];
  }
  for (long k = 1; k < n; k++) {
    double *restrict xk = x + k * nb;
    const double *restrict xp = xk - nb;
    const double *restrict ak = a + k * nb, *restrict mk = m + k * nb;
    for (long q = 0; q < nb; q++) {
      xk[q] = (xk[q] - ak[q] * xp[q]) * mk[q];
    }
  }
  for (long k = n - 2; k >= 0; k--) {
    double *restrict xk = x + k * nb;
    const double *restrict xn = xk + nb, *restrict ck = cp + k * nb;
    for (long q = 0; q < nb; q++) {
      xk[q] -= ck[q] * xn[q];
    }
  }
}

int kv_sphere_tridiag_factor(kv_sphere_tridiag *t, long n, long nb, int cyclic, const double *a,
                             const double *b, const double *c) {
  memset(t, 0, sizeof *t);
  t->n = n;
  t->nb = nb;
  t->cyclic = cyclic;
  size_t sz = (size_t)(n * nb) * sizeof(double);
  t->a = malloc(sz ? sz : 1);
  t->m = malloc(sz ? sz : 1);
  t->cp = malloc(sz ? sz : 1);
  double *bb = malloc(sz ? sz : 1);
  if (cyclic) {
    t->z = malloc(sz ? sz : 1);
    t->beta = malloc((size_t)(nb ? nb : 1) * sizeof(double));
    t->den = malloc((size_t)(nb ? nb : 1) * sizeof(double));
    t->work = malloc((size_t)(nb ? nb : 1) * sizeof(double));
  }
  if (!t->a || !t->m || !t->cp || !bb || (cyclic && (!t->z || !t->beta || !t->den || !t->work))) {
    free(bb);
    kv_sphere_tridiag_free(t);
    return KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory for %ld tridiagonal systems", nb);
  }
  if (n * nb == 0) {
    free(bb);
    return KV_OK;
  }
  memcpy(t->a, a, sz);
  memcpy(bb, b, sz);
  if (!cyclic) {
    thomas_factor(t, bb, c);
    free(bb);
    return KV_OK;
  }
  /* Periodic: A = B + u v^T with u = (gamma, 0, .., 0, alpha), v = (1, 0, .., 0, beta / gamma),
   * alpha = c_n-1 and beta = a_0 the corners, gamma = -b_0 (Numerical Recipes section 2.7). */
  for (long q = 0; q < nb; q++) {
    long last = (n - 1) * nb + q;
    double gamma = -b[q], alpha = c[last], beta = a[q];
    bb[q] = b[q] - gamma;
    bb[last] = b[last] - alpha * beta / gamma;
    t->beta[q] = beta / gamma;
  }
  thomas_factor(t, bb, c);
  for (long e = 0; e < n * nb; e++) {
    t->z[e] = 0.0;
  }
  for (long q = 0; q < nb; q++) {
    t->z[q] = -b[q];
    t->z[(n - 1) * nb + q] = c[(n - 1) * nb + q];
  }
  thomas_solve(t, t->z);
  for (long q = 0; q < nb; q++) {
    t->den[q] = 1.0 + t->z[q] + t->beta[q] * t->z[(n - 1) * nb + q];
  }
  free(bb);
  return KV_OK;
}

void kv_sphere_tridiag_solve(const kv_sphere_tridiag *t, double *x) {
  if (t->n * t->nb == 0) {
    return;
  }
  thomas_solve(t, x);
  if (!t->cyclic) {
    return;
  }
  const long n = t->n, nb = t->nb;
  const double *restrict xl = x + (n - 1) * nb;
  double *restrict f = t->work;
  for (long q = 0; q < nb; q++) {
    f[q] = (x[q] + t->beta[q] * xl[q]) / t->den[q];
  }
  for (long k = 0; k < n; k++) {
    double *restrict xk = x + k * nb;
    const double *restrict zk = t->z + k * nb;
    for (long q = 0; q < nb; q++) {
      xk[q] -= f[q] * zk[q];
    }
  }
}

void kv_sphere_tridiag_free(kv_sphere_tridiag *t) {
  if (!t) {
    return;
  }
  free(t->a);
  free(t->m);
  free(t->cp);
  free(t->z);
  free(t->beta);
  free(t->den);
  free(t->work);
  memset(t, 0, sizeof *t);
}

/* ---------------------------------------------------------------- transpose */

int kv_sphere_transpose_create(MPI_Comm comm, int nlat, int nlon, int my_j0, int my_nj, int maxf,
                               kv_sphere_transpose *t) {
  memset(t, 0, sizeof *t);
  t->comm = comm;
  t->size = kv_comm_size(comm);
  t->rank = kv_comm_rank(comm);
  t->nlat = nlat;
  t->nlon = nlon;
  t->maxf = maxf;
  int p = t->size;
  t->j0 = malloc((size_t)p * sizeof(int));
  t->nj = malloc((size_t)p * sizeof(int));
  t->i0 = malloc((size_t)p * sizeof(int));
  t->ni = malloc((size_t)p * sizeof(int));
  t->scnt = malloc((size_t)p * sizeof(int));
  t->sdsp = malloc((size_t)p * sizeof(int));
  t->rcnt = malloc((size_t)p * sizeof(int));
  t->rdsp = malloc((size_t)p * sizeof(int));
  int ok = t->j0 && t->nj && t->i0 && t->ni && t->scnt && t->sdsp && t->rcnt && t->rdsp;
  if (ok) {
    MPI_Allgather(&my_j0, 1, MPI_INT, t->j0, 1, MPI_INT, comm);
    MPI_Allgather(&my_nj, 1, MPI_INT, t->nj, 1, MPI_INT, comm);
    for (int q = 0; q < p; q++) {
      t->ni[q] = nlon / p + (q < nlon % p ? 1 : 0);
      t->i0[q] = q == 0 ? 0 : t->i0[q - 1] + t->ni[q - 1];
    }
    size_t n =
        (size_t)maxf * ((size_t)nlon * (size_t)my_nj + (size_t)nlat * (size_t)t->ni[t->rank]);
    t->sbuf = malloc(n * sizeof(double) + 8);
    t->rbuf = malloc(n * sizeof(double) + 8);
    ok = t->sbuf && t->rbuf;
  }
  int rc = ok ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "ebm: out of memory for the transpose buffers");
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    kv_sphere_transpose_free(t);
  }
  return rc;
}

void kv_sphere_transpose_free(kv_sphere_transpose *t) {
  if (!t) {
    return;
  }
  free(t->j0);
  free(t->nj);
  free(t->i0);
  free(t->ni);
  free(t->scnt);
  free(t->sdsp);
  free(t->rcnt);
  free(t->rdsp);
  free(t->sbuf);
  free(t->rbuf);
  memset(t, 0, sizeof *t);
}

/* Counts for nf fields: rows of rank r x columns of rank q per field. */
static void counts(kv_sphere_transpose *t, int nf, int to_cols) {
  int me = t->rank, s = 0, r = 0;
  for (int q = 0; q < t->size; q++) {
    int mine = to_cols ? t->nj[me] * t->ni[q] : t->ni[me] * t->nj[q];
    int theirs = to_cols ? t->nj[q] * t->ni[me] : t->ni[q] * t->nj[me];
    t->scnt[q] = nf * mine;
    t->rcnt[q] = nf * theirs;
    t->sdsp[q] = s;
    t->rdsp[q] = r;
    s += t->scnt[q];
    r += t->rcnt[q];
  }
}

int kv_sphere_transpose_to_cols(kv_sphere_transpose *t, int nf, const double *const *rows,
                                double *const *cols) {
  const int me = t->rank, nj = t->nj[me], ni = t->ni[me];
  counts(t, nf, 1);
  for (int q = 0; q < t->size; q++) {
    double *b = t->sbuf + t->sdsp[q];
    for (int f = 0; f < nf; f++) {
      for (int i = t->i0[q]; i < t->i0[q] + t->ni[q]; i++) {
        memcpy(b, rows[f] + (size_t)i * nj, (size_t)nj * sizeof(double));
        b += nj;
      }
    }
  }
  if (MPI_Alltoallv(t->sbuf, t->scnt, t->sdsp, MPI_DOUBLE, t->rbuf, t->rcnt, t->rdsp, MPI_DOUBLE,
                    t->comm) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "ebm: transpose failed");
  }
  for (int r = 0; r < t->size; r++) {
    const double *b = t->rbuf + t->rdsp[r];
    const int j0 = t->j0[r], njr = t->nj[r];
    for (int f = 0; f < nf; f++) {
      double *c = cols[f];
      for (int il = 0; il < ni; il++) {
        for (int jl = 0; jl < njr; jl++) {
          c[(size_t)(j0 + jl) * ni + il] = b[jl];
        }
        b += njr;
      }
    }
  }
  return KV_OK;
}

int kv_sphere_transpose_to_rows(kv_sphere_transpose *t, int nf, const double *const *cols,
                                double *const *rows) {
  const int me = t->rank, nj = t->nj[me], ni = t->ni[me];
  counts(t, nf, 0);
  for (int q = 0; q < t->size; q++) {
    double *b = t->sbuf + t->sdsp[q];
    const int j0 = t->j0[q], njq = t->nj[q];
    for (int f = 0; f < nf; f++) {
      for (int il = 0; il < ni; il++) {
        for (int jl = 0; jl < njq; jl++) {
          *b++ = cols[f][(size_t)(j0 + jl) * ni + il];
        }
      }
    }
  }
  if (MPI_Alltoallv(t->sbuf, t->scnt, t->sdsp, MPI_DOUBLE, t->rbuf, t->rcnt, t->rdsp, MPI_DOUBLE,
                    t->comm) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "ebm: transpose failed");
  }
  for (int r = 0; r < t->size; r++) {
    const double *b = t->rbuf + t->rdsp[r];
    for (int f = 0; f < nf; f++) {
      for (int i = t->i0[r]; i < t->i0[r] + t->ni[r]; i++) {
        memcpy(rows[f] + (size_t)i * nj, b, (size_t)nj * sizeof(double));
        b += nj;
      }
    }
  }
  return KV_OK;
}

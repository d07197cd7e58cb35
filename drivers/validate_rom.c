/* kelvin validate of a ROM basis: the ROM runs of the held-out cases against the full solver's. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "drivers/validate_impl.h"

/* Pearson correlation of x and y (n values), NaN when undefined. */
static double correlation(const double *x, const double *y, long n) {
  double mx = 0.0, my = 0.0, sxy = 0.0, sxx = 0.0, syy = 0.0;
  for (long i = 0; i < n; i++) {
    mx += x[i] / n;
    my += y[i] / n;
  }
  for (long i = 0; i < n; i++) {
    sxy += (x[i] - mx) * (y[i] - my);
    sxx += (x[i] - mx) * (x[i] - mx);
    syy += (y[i] - my) * (y[i] - my);
  }
  return sxx > 0.0 && syy > 0.0 ? sxy / sqrt(sxx * syy) : NAN;
}

/* The ROM runs of the held-out cases against the full solver's: every record of the state field
 * (T, or tas of the ebm). rel_l2 per case is ||rom - full|| / ||full - its mean over records||
 * (the signal, not the offset of absolute temperatures). Also the indicator/error correlation:
 * log of each record's largest indicator against log of its relative error, over all records. */
int kv_validate_score_rom(const kv_sweep *hs, const kv_sweep *rs, const char *var, double full_wall,
                          double rom_wall, kv_validation *v, char *what, size_t whn) {
  long n = kv_sweep_ncases(hs), nrec_all = 0;
  double *cerr = calloc((size_t)n + 1, sizeof *cerr), *cupd = calloc((size_t)n + 1, sizeof *cupd),
         *cind = calloc((size_t)n + 1, sizeof *cind);
  double *li = NULL, *le = NULL, *tlast = NULL, *plast = NULL;
  double sse = 0.0, sae = 0.0, mx = 0.0, sst = 0.0;
  long cnt = 0, P = 0;
  char tf[4300], rf[4300];
  int rc = cerr && cupd && cind ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  kv_field_layout L;
  memset(&L, 0, sizeof L);
  for (long c = 0; rc == KV_OK && c < n; c++) {
    kv_sweep_case_path(hs, c, tf, sizeof tf);
    kv_sweep_case_path(rs, c, rf, sizeof rf);
    kv_h5_array a = {0}, b = {0}, ind = {0}, up = {0};
    if (rc == KV_OK) {
      rc = kv_h5_read_array(tf, var, &a);
    }
    if (rc == KV_OK) {
      rc = kv_h5_read_array(rf, var, &b);
    }
    if (rc == KV_OK) {
      rc = kv_h5_read_array(rf, "rom/indicator", &ind);
    }
    if (rc == KV_OK) {
      rc = kv_h5_read_array(rf, "rom/updates", &up);
    }
    long nr = rc == KV_OK && a.rank > 1 ? a.dims[0] : 0, np = nr ? a.count / nr : 0;
    if (rc == KV_OK && (a.count != b.count || nr == 0 || ind.count != nr)) {
      rc = KV_ERROR(KV_ERR_FORMAT, "validate: '%s' and '%s' do not hold the same records of %s", tf,
                    rf, var);
    }
    if (rc == KV_OK && c == 0) {
      P = np;
      tlast = malloc((size_t)n * P * sizeof *tlast);
      plast = malloc((size_t)n * P * sizeof *plast);
      if (!tlast || !plast) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      }
      if (rc == KV_OK) {
        rc = kv_layout_read(tf, var, &L);
      }
    }
    if (rc == KV_OK && np != P) {
      rc = KV_ERROR(KV_ERR_FORMAT, "validate: '%s': another grid", tf);
    }
    double *tmp = NULL;
    if (rc == KV_OK) {
      tmp = realloc(li, (size_t)(nrec_all + nr) * sizeof *li);
      if (tmp) {
        li = tmp;
      }
      tmp = tmp ? realloc(le, (size_t)(nrec_all + nr) * sizeof *le) : NULL;
      if (tmp) {
        le = tmp;
      }
      if (!tmp) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      }
    }
    if (rc == KV_OK) {
      double *mean = calloc((size_t)np, sizeof *mean), e2 = 0.0, s2 = 0.0, gm = 0.0;
      if (!mean) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      }
      for (long r = 0; rc == KV_OK && r < nr; r++) {
        for (long q = 0; q < np; q++) {
          mean[q] += a.data[r * np + q] / nr;
        }
      }
      for (long q = 0; rc == KV_OK && q < np; q++) {
        gm += mean[q] / np;
      }
      for (long r = 0; rc == KV_OK && r < nr; r++) {
        double re = 0.0, rs2 = 0.0;
        for (long q = 0; q < np; q++) {
          double t = a.data[r * np + q], e = b.data[r * np + q] - t, d = t - mean[q];
          re += e * e;
          rs2 += d * d;
          sae += fabs(e);
          mx = fmax(mx, fabs(e));
          sst += (t - gm) * (t - gm);
        }
        e2 += re;
        s2 += rs2;
        li[nrec_all + r] = ind.data[r];
        le[nrec_all + r] = re;
      }
      for (long r = 0; rc == KV_OK && r < nr; r++) {
        /* A record's error relative to the case's signal. */
        le[nrec_all + r] = sqrt(le[nrec_all + r] / (s2 > 0.0 ? s2 / nr : 1.0));
      }
      if (rc == KV_OK) {
        sse += e2;
        cnt += nr * np;
        cerr[c] = s2 > 0.0 ? sqrt(e2 / s2) : (e2 > 0.0 ? INFINITY : 0.0);
        cupd[c] = up.count ? up.data[up.count - 1] : 0.0;
        for (long r = 0; r < nr; r++) {
          cind[c] = fmax(cind[c], ind.data[r]);
        }
        memcpy(tlast + c * P, a.data + (nr - 1) * np, (size_t)np * sizeof *tlast);
        memcpy(plast + c * P, b.data + (nr - 1) * np, (size_t)np * sizeof *plast);
        nrec_all += nr;
      }
      free(mean);
    }
    kv_h5_array_free(&a);
    kv_h5_array_free(&b);
    kv_h5_array_free(&ind);
    kv_h5_array_free(&up);
  }
  double corr = NAN;
  if (rc == KV_OK) {
    kv_validation_add(v, KV_M_RMSE, sqrt(sse / cnt), 1.0);
    kv_validation_add(v, KV_M_MAE, sae / cnt, 1.0);
    kv_validation_add(v, KV_M_MAX_ABS, mx, 1.0);
    for (long c = 0; c < n; c++) {
      kv_validation_add(v, KV_M_REL_L2, cerr[c], 1.0 / n);
    }
    kv_validation_add(v, KV_M_R2, sst > 0.0 ? 1.0 - sse / sst : NAN, 1.0);
    kv_validation_add(v, KV_M_SPEEDUP, rom_wall > 0.0 ? full_wall / rom_wall : NAN, 1.0);
    v->ncases = n;
    /* Records where both are positive and finite enter the log-log correlation. */
    long m = 0;
    for (long i = 0; i < nrec_all; i++) {
      if (li[i] > 0.0 && le[i] > 0.0 && isfinite(li[i]) && isfinite(le[i])) {
        li[m] = log(li[i]);
        le[m] = log(le[i]);
        m++;
      }
    }
    corr = m > 2 ? correlation(li, le, m) : NAN;
  }
  size_t len = 0;
  if (rc == KV_OK) {
    len += (size_t)snprintf(what + len, whn - len,
                            "Reduced-order model against the full solver on %ld held-out case%s, "
                            "every record of `%s`. Correlation of log(indicator) with log(error) "
                            "over the records: %.3f.\n\n| case | rel. error | largest indicator | "
                            "full steps |\n|---|---|---|---|\n",
                            n, n == 1 ? "" : "s", var, corr);
    for (long c = 0; c < n && len < whn; c++) {
      len += (size_t)snprintf(what + len, whn - len, "| %ld | %.3g | %.3g | %.0f |\n", c, cerr[c],
                              cind[c], cupd[c]);
    }
  }
  char path[4300];
  snprintf(path, sizeof path, "%s/validation.h5", v->dir);
  kv_h5_store *h = NULL;
  if (rc == KV_OK) {
    rc = kv_h5_store_create(path, &h);
  }
  if (rc == KV_OK) {
    char tn[80], pn[80], ln[200];
    snprintf(tn, sizeof tn, "/%s_truth", var);
    snprintf(pn, sizeof pn, "/%s_prediction", var);
    rc = kv_validate_store_coords(h, &L, n, "held-out case");
    snprintf(ln, sizeof ln, "%s: final record, full solver", var);
    if (rc == KV_OK) {
      rc = kv_validate_store_var(h, tn, n, &L, NULL, 0, tlast, L.units, ln, NULL);
    }
    snprintf(ln, sizeof ln, "%s: final record, ROM", var);
    if (rc == KV_OK) {
      rc = kv_validate_store_var(h, pn, n, &L, NULL, 0, plast, L.units, ln, NULL);
    }
    if (rc == KV_OK) {
      rc = kv_validate_store_var(h, "/case_rel_l2", n, NULL, NULL, 0, cerr, "1",
                                 "relative L2 error of the case (all records)", NULL);
    }
    if (rc == KV_OK) {
      rc = kv_validate_store_var(h, "/case_full_steps", n, NULL, NULL, 0, cupd, "1",
                                 "full-solver steps the adaptive ROM took", NULL);
    }
    if (rc == KV_OK) {
      rc = kv_validate_store_var(h, "/case_indicator_max", n, NULL, NULL, 0, cind, "1",
                                 "largest error indicator of the case", NULL);
    }
    if (rc == KV_OK) {
      rc = kv_validate_store_metrics(h, v, L.units);
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_put_number(h, "/metrics", "indicator_error_correlation", corr);
    }
    int rc2 = kv_h5_store_close(h, rc == KV_OK);
    if (rc == KV_OK) {
      rc = rc2;
    }
  }
  if (rc == KV_OK) {
    rc =
        kv_validate_append_maps(v, &L, tlast, plast, P, "held-out case 0, final record", what, whn);
  }
  kv_layout_free(&L);
  free(cerr);
  free(cupd);
  free(cind);
  free(li);
  free(le);
  free(tlast);
  free(plast);
  return rc;
}

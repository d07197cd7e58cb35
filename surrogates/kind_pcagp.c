/* Kind "pcagp": a whole field as the mean plus a few POD/PCA modes (numerics/pod: TSQR, the same
 * decomposition as the reduced-order models), one GP per retained mode learning its coefficient.
 * A prediction is mean + sum_k a_k(x) phi_k with pointwise variance
 *   sum_k phi_k^2 s_k^2(x) + r(point)
 * where s_k^2 is each mode's GP predictive variance with its fitted noise, and r what the
 * truncated modes leave out: the variance over the training fields, per point, of the part of
 * each field the kept modes do not reproduce (n / (n - k - 1) times its mean square, the dof the
 * mean and the modes took).
 *
 * Model file: "/pca" (mean, modes (k x points), eigenvalues = sigma^2 of the centred fields,
 * residual_variance (points); attribute energy), "/field" (the layout, io/layout.h), one GP group
 * "/mode_NNNN" per mode. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "numerics/pod.h"
#include "surrogates/gp.h"
#include "surrogates/surrogate_impl.h"

extern const kv_surrogate_type kv_surrogate_pcagp;

typedef struct {
  kv_gp_options gp;
  double energy; /* surrogate.energy: keep the modes holding this fraction        */
  int modes;     /* surrogate.modes: exactly this many (0: by energy)             */
  double floor;  /* modes with sigma^2 below floor^2 of the largest are noise     */
} pcagp_params;

typedef struct {
  kv_surrogate base;
  kv_field_layout layout;
  long npts;
  int nmodes;
  double *mean, *modes, *eig; /* npts; nmodes x npts; nmodes                          */
  double *resvar;             /* npts: variance the truncated modes leave (may be NULL) */
  double energy;              /* fraction of the variance the modes keep              */
  kv_gp **gp;                 /* nmodes                                               */
} pcagp_model;

static const kv_config_key pca_keys[] = {
    {"surrogate.energy", KV_CFG_DOUBLE, "0.9999", NULL, 1e-6, 1.0,
     "keep the leading modes holding this fraction of the variance of the training fields"},
    {"surrogate.modes", KV_CFG_INT, "0", NULL, 0, 100000, "number of modes (0: by energy)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static int params_create(const kv_config *cfg, void **params) {
  pcagp_params *p = calloc(1, sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  long modes = 0;
  int rc = kv_gp_options_from_config(cfg, &p->gp);
  if (rc == KV_OK) {
    rc = kv_config_get_double(cfg, "surrogate.energy", 1e-6, 1.0, &p->energy);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "surrogate.modes", 0, 100000, &modes);
  }
  p->modes = (int)modes;
  p->floor = 1e-6;
  if (rc != KV_OK) {
    free(p);
    return rc;
  }
  *params = p;
  return KV_OK;
}

static void pcagp_free(kv_surrogate *s) {
  pcagp_model *m = (pcagp_model *)s;
  for (int k = 0; m->gp && k < m->nmodes; k++) {
    kv_gp_free(m->gp[k]);
  }
  free(m->gp);
  free(m->mean);
  free(m->modes);
  free(m->eig);
  free(m->resvar);
  kv_layout_free(&m->layout);
  kv_surrogate_header_free(s);
  free(m);
}

static int pcagp_new(int d, char *const *names, const char *output, pcagp_model **out) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_pcagp, sizeof(pcagp_model), d, names, output, &s));
  *out = (pcagp_model *)s;
  return KV_OK;
}

/* The centred fields' POD: modes, eigenvalues sigma^2, the coefficients phi_k^T y_i (k x n). */
static int pca(pcagp_model *m, double *Y, long n, const pcagp_params *p, double **coef) {
  long P = m->npts;
  double total = 0.0;
  for (long i = 0; i < n * P; i++) {
    total += Y[i] * Y[i];
  }
  if (!(total > 0.0)) {
    return KV_ERROR(KV_ERR_INVALID, "pca: the training fields are all the same: nothing to learn");
  }
  kv_pod_options o;
  kv_pod_options_default(&o);
  o.energy = p->modes > 0 ? 1.0 : p->energy;
  o.max_modes = p->modes;
  o.floor = p->floor;
  kv_pod *pod = NULL;
  /* Each row of Y (row-major n x P) is a snapshot: column-major P x n. */
  KV_CHECK(kv_pod_compute(MPI_COMM_SELF, P, (int)n, Y, &o, &pod));
  int k = kv_pod_nmodes(pod);
  const double *U = kv_pod_modes(pod), *sg = kv_pod_sigma(pod);
  m->nmodes = k;
  m->modes = malloc(((size_t)k * (size_t)P + 1) * sizeof *m->modes);
  m->eig = malloc(((size_t)k + 1) * sizeof *m->eig);
  *coef = malloc(((size_t)k * (size_t)n + 1) * sizeof **coef);
  int rc = m->modes && m->eig && *coef ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "pca: out of memory");
  if (rc == KV_OK) {
    double kept = 0.0;
    for (int j = 0; j < k; j++) {
      m->eig[j] = sg[j] * sg[j];
      kept += m->eig[j];
      /* Row j of modes: phi_j (the POD's column j). */
      memcpy(m->modes + (size_t)j * P, U + (size_t)j * P, (size_t)P * sizeof *m->modes);
    }
    m->energy = kept / total;
    /* coef (k x n, row-major) = Phi Y^T: coefficient of snapshot i on mode j. */
    if (k > 0) {
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, k, (int)n, (int)P, 1.0, m->modes, (int)P,
                  Y, (int)P, 0.0, *coef, (int)n);
    }
  }
  kv_pod_free(pod);
  return rc;
}

/* r per point: the mean square of Y minus its projection on the kept modes, scaled by the
 * degrees of freedom the mean and the modes used. */
static int residual_variance(pcagp_model *m, const double *Y, long n, const double *coef) {
  long P = m->npts;
  m->resvar = calloc((size_t)P + 1, sizeof *m->resvar);
  if (!m->resvar) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  double dof = (double)n - m->nmodes - 1.0;
  double scale = dof >= 1.0 ? 1.0 / dof : 1.0 / (double)n;
  for (long i = 0; i < n; i++) {
    for (long q = 0; q < P; q++) {
      double r = Y[i * P + q];
      for (int k = 0; k < m->nmodes; k++) {
        r -= coef[(size_t)k * n + i] * m->modes[(size_t)k * P + q];
      }
      m->resvar[q] += r * r * scale;
    }
  }
  return KV_OK;
}

/* The modes' GPs: mode k optimised on rank k mod size, its hyperparameters broadcast, and the
 * others set to them, so every rank holds the same GPs as one rank fitting them all would. */
static int train_modes(MPI_Comm comm, pcagp_model *m, const kv_dataset *ds, const double *coef,
                       const kv_gp_options *o) {
  int rank, size;
  rank = kv_comm_rank(comm);
  size = kv_comm_size(comm);
  long n = ds->n;
  int rc = KV_OK;
  for (int k = 0; k < m->nmodes; k++) {
    const double *ck = coef + (size_t)k * (size_t)n;
    if (k % size == rank) {
      rc = kv_gp_train(n, ds->d, ds->X, ck, o, &m->gp[k]);
      if (rc == KV_OK) {
        kv_info("mode %d: LML %.6g", k, kv_gp_lml_data(m->gp[k]));
      }
    } else {
      rc = kv_gp_create(n, ds->d, ds->X, ck, o, &m->gp[k]);
    }
    if (rc != KV_OK) {
      break;
    }
  }
  rc = kv_status_agree(comm, rc);
  for (int k = 0; rc == KV_OK && size > 1 && k < m->nmodes; k++) {
    double theta[66];
    int p = ds->d + 2, owner = k % size;
    if (p > 66) {
      rc = KV_ERROR(KV_ERR_INVALID, "pcagp: at most 64 inputs");
      break;
    }
    if (rank == owner) {
      memcpy(theta, kv_gp_theta(m->gp[k]), (size_t)p * sizeof *theta);
    }
    kv_comm_bcast(theta, p, MPI_DOUBLE, owner, comm);
    if (rank != owner) {
      rc = kv_gp_set_theta(m->gp[k], theta);
    }
    rc = kv_status_agree(comm, rc);
  }
  return rc;
}

static int pcagp_fit_comm(MPI_Comm comm, const kv_dataset *ds, const void *params,
                          kv_surrogate **out) {
  pcagp_params p;
  if (params) {
    p = *(const pcagp_params *)params;
  } else {
    kv_gp_options_default(&p.gp);
    p.energy = 0.9999;
    p.modes = 0;
    p.floor = 1e-6;
  }
  KV_CHECK(kv_gp_log_inputs(&p.gp, ds->d, ds->names));
  pcagp_model *m = NULL;
  KV_CHECK(pcagp_new(ds->d, ds->names, ds->yname, &m));
  long n = ds->n, P = ds->npts;
  double *Y = malloc(((size_t)n * (size_t)P + 1) * sizeof *Y), *coef = NULL;
  m->mean = calloc((size_t)P + 1, sizeof *m->mean);
  m->npts = P;
  int rc = Y && m->mean ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory for %ld fields", n);
  if (rc == KV_OK) {
    rc = kv_layout_copy(&m->layout, &ds->layout);
  }
  if (rc == KV_OK) {
    for (long i = 0; i < n; i++) {
      for (long q = 0; q < P; q++) {
        m->mean[q] += ds->fields[i * P + q] / (double)n;
      }
    }
    for (long i = 0; i < n; i++) {
      for (long q = 0; q < P; q++) {
        Y[i * P + q] = ds->fields[i * P + q] - m->mean[q];
      }
    }
    rc = pca(m, Y, n, &p, &coef);
  }
  if (rc == KV_OK) {
    rc = residual_variance(m, Y, n, coef);
  }
  if (rc == KV_OK) {
    kv_info("pca: %d mode%s keep %.6f of the variance of %ld fields of %ld points", m->nmodes,
            m->nmodes == 1 ? "" : "s", m->energy, n, P);
    m->gp = calloc((size_t)m->nmodes + 1, sizeof *m->gp);
    if (!m->gp) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
  }
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK) {
    rc = train_modes(comm, m, ds, coef, &p.gp);
  }
  free(Y);
  free(coef);
  if (rc != KV_OK) {
    pcagp_free(&m->base);
    return rc;
  }
  *out = &m->base;
  return KV_OK;
}

static int pcagp_fit(const kv_dataset *ds, const void *params, kv_surrogate **out) {
  return pcagp_fit_comm(MPI_COMM_SELF, ds, params, out);
}

static int pcagp_predict(const kv_surrogate *s, const double *X, long n, double *mean,
                         double *var) {
  const pcagp_model *m = (const pcagp_model *)s;
  double *a = malloc((2 * (size_t)n + 1) * sizeof *a);
  if (!a) {
    return KV_ERROR(KV_ERR_NOMEM, "surrogate: out of memory");
  }
  double *av = a + n;
  for (long i = 0; i < n; i++) {
    memcpy(mean + i * m->npts, m->mean, (size_t)m->npts * sizeof *mean);
    if (var && m->resvar) {
      memcpy(var + i * m->npts, m->resvar, (size_t)m->npts * sizeof *var);
    } else if (var) {
      memset(var + i * m->npts, 0, (size_t)m->npts * sizeof *var);
    }
  }
  int rc = KV_OK;
  for (int k = 0; k < m->nmodes && rc == KV_OK; k++) {
    rc = kv_gp_predict(m->gp[k], n, X, a, av, 1);
    const double *phi = m->modes + (size_t)k * (size_t)m->npts;
    for (long i = 0; rc == KV_OK && i < n; i++) {
      double *mu = mean + i * m->npts, *v = var ? var + i * m->npts : NULL;
      for (long q = 0; q < m->npts; q++) {
        mu[q] += a[i] * phi[q];
        if (v) {
          v[q] += phi[q] * phi[q] * av[i];
        }
      }
    }
  }
  free(a);
  return rc;
}

static int pcagp_save(const kv_surrogate *s, kv_h5_store *h) {
  const pcagp_model *m = (const pcagp_model *)s;
  long k = m->nmodes, dims[2] = {m->nmodes, m->npts};
  (void)dims;
  /* Maps on the field's own coordinates: xarray and ncview show the modes as maps. */
  KV_CHECK(kv_layout_put_maps(h, &m->layout, "/pca/mean", NULL, 0, m->mean, m->layout.units,
                              "mean of the training fields"));
  KV_CHECK(kv_layout_put_maps(h, &m->layout, "/pca/modes", "mode", m->nmodes, m->modes, "1",
                              "principal components (orthonormal)"));
  KV_CHECK(kv_h5_store_put(h, "/pca/eigenvalues", 1, &k, m->eig));
  KV_CHECK(kv_h5_store_put_number(h, "/pca", "energy", m->energy));
  if (m->resvar) {
    KV_CHECK(kv_layout_put_maps(h, &m->layout, "/pca/residual_variance", NULL, 0, m->resvar, NULL,
                                "variance of the modes left out, per point"));
  }
  KV_CHECK(kv_layout_save(&m->layout, h));
  for (int j = 0; j < m->nmodes; j++) {
    char grp[32];
    snprintf(grp, sizeof grp, "/mode_%04d", j);
    KV_CHECK(kv_gp_save(m->gp[j], h, grp));
  }
  return KV_OK;
}

static int pcagp_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  pcagp_model *m = NULL;
  KV_CHECK(pcagp_new(0, NULL, "", &m));
  kv_h5_array a = {0}, mo = {0}, e = {0};
  int rc = KV_OK;
  KV_TRY(kv_h5_store_get(h, "/pca/mean", &a));
  m->mean = a.data;
  m->npts = a.count;
  KV_TRY(kv_h5_store_get(h, "/pca/modes", &mo));
  m->modes = mo.data;
  KV_TRY(kv_h5_store_get(h, "/pca/eigenvalues", &e));
  m->eig = e.data;
  m->nmodes = (int)e.count;
  KV_TRY(kv_h5_store_get_number(h, "/pca", "energy", &m->energy));
  /* (mode, points) in files of earlier versions, (mode, [z,] y, x) since. */
  if (mo.rank < 2 || mo.dims[0] != m->nmodes || mo.count != (long)m->nmodes * m->npts) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /pca/modes has the wrong shape", path);
    goto cleanup;
  }
  if (kv_h5_store_has(h, "/pca/residual_variance")) {
    kv_h5_array rv = {0};
    KV_TRY(kv_h5_store_get(h, "/pca/residual_variance", &rv));
    m->resvar = rv.data;
    if (rv.count != m->npts) {
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /pca/residual_variance has the wrong size", path);
      goto cleanup;
    }
  }
  KV_TRY(kv_layout_load(h, &m->layout));
  if (kv_layout_points(&m->layout) != m->npts) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': /field does not hold %ld points", path, m->npts);
    goto cleanup;
  }
  m->gp = calloc((size_t)m->nmodes + 1, sizeof *m->gp);
  if (!m->gp) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
    goto cleanup;
  }
  for (int j = 0; j < m->nmodes; j++) {
    char grp[32];
    snprintf(grp, sizeof grp, "/mode_%04d", j);
    KV_TRY(kv_gp_load(h, path, grp, &m->gp[j]));
  }
cleanup:
  if (rc != KV_OK) {
    pcagp_free(&m->base);
    return rc;
  }
  *out = &m->base;
  return KV_OK;
}

static int pcagp_describe(const kv_surrogate *s, FILE *f) {
  const pcagp_model *m = (const pcagp_model *)s;
  fprintf(f, "pca: %d modes keep %.8f of the variance of %ld-point fields\n", m->nmodes, m->energy,
          m->npts);
  for (int k = 0; k < m->nmodes; k++) {
    char what[32];
    snprintf(what, sizeof what, "mode %d", k);
    if (kv_gp_dim(m->gp[k]) != s->ninputs) {
      return KV_ERROR(KV_ERR_FORMAT, "pcagp: %d inputs named for GPs of %d", s->ninputs,
                      kv_gp_dim(m->gp[k]));
    }
    kv_gp_describe(m->gp[k], s->inputs, what, f);
  }
  return KV_OK;
}

static long pcagp_noutputs(const kv_surrogate *s) {
  return ((const pcagp_model *)s)->npts;
}

static const kv_field_layout *pcagp_layout(const kv_surrogate *s) {
  return &((const pcagp_model *)s)->layout;
}

const kv_surrogate_type kv_surrogate_pcagp = {
    .name = "pcagp",
    .summary = "a whole field: PCA (POD by TSQR) of the training fields, one GP per mode",
    .data = KV_DATA_FIELD,
    .keys = {kv_gp_keys, pca_keys, NULL},
    .params_create = params_create,
    .fit = pcagp_fit,
    .predict = pcagp_predict,
    .save = pcagp_save,
    .load = pcagp_load,
    .describe = pcagp_describe,
    .free = pcagp_free,
    .noutputs = pcagp_noutputs,
    .layout = pcagp_layout,
    .fit_parallel = pcagp_fit_comm,
};

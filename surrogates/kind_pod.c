/* Kind "pod": the basis of a reduced-order model (run.model = rom, solvers/rom/): the POD of the
 * training states (numerics/pod: TSQR), truncated by surrogate.energy or surrogate.modes, and for
 * a nonlinear model the POD of its tendency snapshots (F, or N = F - L u with u_ref) with their
 * greedy DEIM points. It does not predict from inputs: the ROM uses it.
 *
 * Model file (read by solvers/rom/rom_basis.c): root attributes model, snapshots,
 * training_runs, energy; rom/n (grid cells per axis), rom/modes (k, grid...), rom/sigma,
 * rom/deim_modes, rom/deim_sigma, rom/u_ref (1, grid...), rom/deim_points (for inspection: a run
 * selects them again the same way). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "numerics/deim.h"
#include "numerics/pod.h"
#include "surrogates/surrogate_impl.h"

extern const kv_surrogate_type kv_surrogate_pod;

typedef struct {
  double energy;         /* surrogate.energy: of sum sigma^2                          */
  int modes, deim_modes; /* surrogate.modes, surrogate.deim_modes (0: by energy)       */
} pod_params;

typedef struct {
  kv_surrogate base;
  char model[32];
  int ndims;
  long n[3], N;
  long snapshots, runs;
  double energy; /* fraction of sum sigma^2 the state modes keep               */
  int k, kf;
  double *V, *sv; /* N x k (column-major), k                                   */
  double *W, *sw; /* N x kf, kf (kf = 0: a linear model)                        */
  double *uref;   /* N, or NULL                                                */
  long *P;        /* kf DEIM points                                            */
} pod_model;

static const kv_config_key pod_keys[] = {
    {"surrogate.energy", KV_CFG_DOUBLE, "0.9999999999", NULL, 1e-6, 1.0,
     "pod: keep the leading modes holding this fraction of sum sigma^2"},
    {"surrogate.modes", KV_CFG_INT, "0", NULL, 0, 100000, "pod: number of modes (0: by energy)"},
    {"surrogate.deim_modes", KV_CFG_INT, "0", NULL, 0, 100000,
     "pod: DEIM modes (and points) of the nonlinear term (0: by surrogate.energy)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

static int params_create(const kv_config *cfg, void **params) {
  pod_params *p = calloc(1, sizeof *p);
  long modes = 0, deim = 0;
  int rc = p ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) {
    rc = kv_config_get_double(cfg, "surrogate.energy", 1e-6, 1.0, &p->energy);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "surrogate.modes", 0, 100000, &modes);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "surrogate.deim_modes", 0, 100000, &deim);
  }
  if (rc != KV_OK) {
    free(p);
    return rc;
  }
  p->modes = (int)modes;
  p->deim_modes = (int)deim;
  *params = p;
  return KV_OK;
}

static void pod_free(kv_surrogate *s) {
  pod_model *m = (pod_model *)s;
  free(m->V);
  free(m->sv);
  free(m->W);
  free(m->sw);
  free(m->uref);
  free(m->P);
  kv_surrogate_header_free(s);
  free(m);
}

static int pod_new(pod_model **out) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_alloc(&kv_surrogate_pod, sizeof(pod_model), 0, NULL, "", &s));
  *out = (pod_model *)s;
  return KV_OK;
}

/* Copy a POD's modes and singular values out (it lives on MPI_COMM_SELF). */
static int take(const kv_pod *p, long N, double **U, double **s, int *k) {
  *k = kv_pod_nmodes(p);
  *U = malloc(((size_t)N * (size_t)*k + 1) * sizeof **U);
  *s = malloc(((size_t)*k + 1) * sizeof **s);
  if (!*U || !*s) {
    return KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
  }
  memcpy(*U, kv_pod_modes(p), (size_t)N * (size_t)*k * sizeof **U);
  memcpy(*s, kv_pod_sigma(p), (size_t)*k * sizeof **s);
  return KV_OK;
}

static int pod_fit(const kv_dataset *ds, const void *params, kv_surrogate **out) {
  pod_params p = {1.0 - 1e-10, 0, 0};
  if (params) {
    p = *(const pod_params *)params;
  }
  pod_model *m = NULL;
  KV_CHECK(pod_new(&m));
  snprintf(m->model, sizeof m->model, "%s", ds->model);
  m->ndims = ds->ndims;
  memcpy(m->n, ds->gn, sizeof m->n);
  m->N = ds->N;
  m->snapshots = ds->m;
  m->runs = ds->runs;
  kv_pod *V = NULL, *W = NULL;
  kv_pod_options o;
  kv_pod_options_default(&o);
  o.energy = p.energy;
  o.max_modes = p.modes;
  int rc = kv_pod_compute(MPI_COMM_SELF, ds->N, (int)ds->m, ds->S, &o, &V);
  if (rc == KV_OK) {
    rc = take(V, ds->N, &m->V, &m->sv, &m->k);
  }
  if (rc == KV_OK) {
    /* Energy kept: from the snapshot matrix's Frobenius norm. */
    double tot = 0.0, kept = 0.0;
    for (long i = 0; i < ds->m * ds->N; i++) {
      tot += ds->S[i] * ds->S[i];
    }
    for (int j = 0; j < m->k; j++) {
      kept += m->sv[j] * m->sv[j];
    }
    m->energy = tot > 0.0 ? kept / tot : 1.0;
  }
  if (rc == KV_OK && !ds->linear && ds->mf > 0) {
    o.max_modes = p.deim_modes;
    rc = kv_pod_compute(MPI_COMM_SELF, ds->N, (int)ds->mf, ds->F, &o, &W);
    if (rc == KV_OK) {
      rc = take(W, ds->N, &m->W, &m->sw, &m->kf);
    }
    long *gidx = malloc(((size_t)ds->N + 1) * sizeof *gidx);
    m->P = malloc(((size_t)m->kf + 1) * sizeof *m->P);
    if (rc == KV_OK && (!gidx || !m->P)) {
      rc = KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
    }
    for (long i = 0; rc == KV_OK && i < ds->N; i++) {
      gidx[i] = i;
    }
    if (rc == KV_OK) {
      rc = kv_deim_points(MPI_COMM_SELF, ds->N, gidx, m->W, m->kf, m->P);
    }
    free(gidx);
  }
  if (rc == KV_OK && ds->uref && m->kf > 0) {
    m->uref = malloc(((size_t)ds->N + 1) * sizeof *m->uref);
    if (!m->uref) {
      rc = KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
    } else {
      memcpy(m->uref, ds->uref, (size_t)ds->N * sizeof *m->uref);
    }
  }
  kv_pod_free(V);
  kv_pod_free(W);
  if (rc != KV_OK) {
    pod_free(&m->base);
    return rc;
  }
  *out = &m->base;
  return KV_OK;
}

static int pod_save(const kv_surrogate *s, kv_h5_store *h) {
  const pod_model *m = (const pod_model *)s;
  int nd = m->ndims;
  long dims[4] = {m->k, 0, 0, 0}, ndl = nd, kk = m->k;
  double gn[3];
  for (int d = 0; d < nd; d++) {
    dims[1 + d] = m->n[nd - 1 - d];
    gn[d] = (double)m->n[d];
  }
  KV_CHECK(kv_h5_store_put_text(h, "/", "model", m->model));
  KV_CHECK(kv_h5_store_put_number(h, "/", "snapshots", (double)m->snapshots));
  KV_CHECK(kv_h5_store_put_number(h, "/", "training_runs", (double)m->runs));
  KV_CHECK(kv_h5_store_put_number(h, "/", "energy", m->energy));
  KV_CHECK(kv_h5_store_put(h, "rom/n", 1, &ndl, gn));
  KV_CHECK(kv_h5_store_put(h, "rom/modes", nd + 1, dims, m->V));
  KV_CHECK(kv_h5_store_put(h, "rom/sigma", 1, &kk, m->sv));
  KV_CHECK(
      kv_h5_store_put_text(h, "rom/modes", "long_name", "POD modes of the state (orthonormal)"));
  if (m->kf > 0) {
    dims[0] = kk = m->kf;
    KV_CHECK(kv_h5_store_put(h, "rom/deim_modes", nd + 1, dims, m->W));
    KV_CHECK(kv_h5_store_put(h, "rom/deim_sigma", 1, &kk, m->sw));
    KV_CHECK(kv_h5_store_put_text(
        h, "rom/deim_modes", "long_name",
        m->uref ? "POD modes of N(u) = F(u) - L u (L: the Jacobian of F = du/dt "
                  "at rom/u_ref) for the DEIM hyper-reduction"
                : "POD modes of F(u) = du/dt for the DEIM hyper-reduction"));
    double *Pd = malloc(((size_t)m->kf + 1) * sizeof *Pd);
    if (!Pd) {
      return KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
    }
    for (int i = 0; i < m->kf; i++) {
      Pd[i] = (double)m->P[i];
    }
    int rc = kv_h5_store_put(h, "rom/deim_points", 1, &kk, Pd);
    free(Pd);
    KV_CHECK(rc);
  }
  if (m->uref) {
    long d1[4] = {1, dims[1], dims[2], dims[3]};
    KV_CHECK(kv_h5_store_put(h, "rom/u_ref", nd + 1, d1, m->uref));
    KV_CHECK(kv_h5_store_put_text(h, "rom/u_ref", "long_name",
                                  "the mean snapshot, where the "
                                  "ROM linearises F to project its linear part exactly"));
  }
  return KV_OK;
}

static int get_array(kv_h5_store *h, const char *path, const char *name, long count, double **out) {
  kv_h5_array a = {0};
  KV_CHECK(kv_h5_store_get(h, name, &a));
  if (a.count != count) {
    kv_h5_array_free(&a);
    return KV_ERROR(KV_ERR_FORMAT, "'%s': /%s holds %ld values, %ld expected", path, name, a.count,
                    count);
  }
  *out = a.data;
  return KV_OK;
}

static int pod_load(kv_h5_store *h, const char *path, kv_surrogate **out) {
  pod_model *m = NULL;
  KV_CHECK(pod_new(&m));
  kv_h5_array gn = {0}, sv = {0}, sw = {0}, P = {0};
  char *model = NULL;
  double v = 0.0;
  int rc = KV_OK;
  KV_TRY(kv_h5_store_get_text(h, "/", "model", &model));
  snprintf(m->model, sizeof m->model, "%s", model);
  KV_TRY(kv_h5_store_get(h, "rom/n", &gn));
  if (gn.count < 1 || gn.count > 3) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': rom/n is not a grid size", path);
    goto cleanup;
  }
  m->ndims = (int)gn.count;
  m->N = 1;
  m->n[0] = m->n[1] = m->n[2] = 1;
  for (int d = 0; d < m->ndims; d++) {
    m->n[d] = (long)gn.data[d];
    m->N *= m->n[d];
  }
  if (kv_h5_store_get_number(h, "/", "snapshots", &v) == KV_OK) {
    m->snapshots = (long)v;
  }
  if (kv_h5_store_get_number(h, "/", "training_runs", &v) == KV_OK) {
    m->runs = (long)v;
  }
  m->energy = NAN;
  if (kv_h5_store_get_number(h, "/", "energy", &v) == KV_OK) {
    m->energy = v;
  }
  kv_error_clear();
  KV_TRY(kv_h5_store_get(h, "rom/sigma", &sv));
  m->k = (int)sv.count;
  m->sv = sv.data;
  sv.data = NULL;
  KV_TRY(get_array(h, path, "rom/modes", (long)m->k * m->N, &m->V));
  if (kv_h5_store_has(h, "rom/deim_sigma")) {
    KV_TRY(kv_h5_store_get(h, "rom/deim_sigma", &sw));
    m->kf = (int)sw.count;
    m->sw = sw.data;
    sw.data = NULL;
    KV_TRY(get_array(h, path, "rom/deim_modes", (long)m->kf * m->N, &m->W));
    m->P = malloc(((size_t)m->kf + 1) * sizeof *m->P);
    if (!m->P) {
      rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
      goto cleanup;
    }
    if (kv_h5_store_has(h, "rom/deim_points")) {
      KV_TRY(kv_h5_store_get(h, "rom/deim_points", &P));
      for (int i = 0; i < m->kf && i < P.count; i++) {
        m->P[i] = (long)P.data[i];
      }
    }
  }
  if (kv_h5_store_has(h, "rom/u_ref")) {
    KV_TRY(get_array(h, path, "rom/u_ref", m->N, &m->uref));
  }
cleanup:
  kv_h5_array_free(&gn);
  kv_h5_array_free(&sv);
  kv_h5_array_free(&sw);
  kv_h5_array_free(&P);
  free(model);
  if (rc != KV_OK) {
    pod_free(&m->base);
    return rc;
  }
  *out = &m->base;
  return KV_OK;
}

static int pod_describe(const kv_surrogate *s, FILE *f) {
  const pod_model *m = (const pod_model *)s;
  fprintf(f, "pod: %d modes of %ld snapshots keep %.12f of sum sigma^2", m->k, m->snapshots,
          m->energy);
  if (m->kf == 0) {
    fprintf(f, "; a linear model: the ROM projects it exactly (reduced operators from the "
               "model's own operator at each run's parameters)\n");
  } else {
    fprintf(f, "; %d DEIM modes of %s\n", m->kf, m->uref ? "N = F - L u" : "F");
  }
  fprintf(f, "  model %s, grid", m->model);
  for (int d = 0; d < m->ndims; d++) {
    fprintf(f, "%s%ld", d ? " x " : " ", m->n[d]);
  }
  fprintf(f, ", %ld training run%s; use it with run.model = rom, rom.basis = this file\n", m->runs,
          m->runs == 1 ? "" : "s");
  return KV_OK;
}

const kv_surrogate_type kv_surrogate_pod = {
    .name = "pod",
    .summary = "the POD (+ DEIM) basis of a reduced-order model, for run.model = rom",
    .data = KV_DATA_SNAPSHOTS,
    .keys = {pod_keys, NULL, NULL},
    .params_create = params_create,
    .fit = pod_fit,
    .save = pod_save,
    .load = pod_load,
    .describe = pod_describe,
    .free = pod_free,
};

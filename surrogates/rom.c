#include "surrogates/rom.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/field.h"
#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "solvers/driver.h"
#include "solvers/heat/heat.h"
#include "surrogates/pod.h"

const kv_config_key kv_rom_keys[] = {
    {"rom.basis", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "the POD model file of kelvin fit (surrogate.kind = pod), fit on this model and grid"},
    {"rom.model", KV_CFG_ENUM, "heat", "heat|ebm", KV_CFG_NORANGE,
     "the full model reduced (its section configures the case)"},
    {"rom.tolerance", KV_CFG_DOUBLE, "1e-3", NULL, 0.0, INFINITY,
     "error-indicator threshold (> 0): a step above it is redone by the full solver and updates "
     "the basis (with rom.adaptive)"},
    {"rom.adaptive", KV_CFG_BOOL, "true", NULL, KV_CFG_NORANGE,
     "take full-solver steps and update the basis when the indicator exceeds rom.tolerance"},
    {"rom.modes", KV_CFG_INT, "0", NULL, 0, 100000,
     "use the leading this many modes of the basis (0: all)"},
    {"rom.max_modes", KV_CFG_INT, "0", NULL, 0, 100000,
     "adaptive: stop growing the basis at this many modes (0: no limit)"},
    {"rom.indicator_points", KV_CFG_INT, "64", NULL, 1, 100000,
     "random cells where the indicator evaluates the full residual"},
    {"rom.seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0, "seed of the indicator's cells"},
    {"rom.check_every", KV_CFG_INT, "0", NULL, 0, 1000000000,
     "every this many steps also take the full solver's step from the same state and record the "
     "ROM step's true error beside its indicator (rom/local_error, rom/checked_indicator): how "
     "well the indicator tracks the error; one full step each (0: never)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

#define S7 KV_STENCIL_MAX

typedef struct {
  kv_model base;
  kv_model *full;
  kv_model_info finfo;
  MPI_Comm comm;
  const kv_grid *grid;
  long nloc, N;
  long *gidx;              /* global cell of each local row                                */
  kv_pod *V, *W;           /* state basis; DEIM basis of F (NULL: linear)                 */
  int k;
  int linear;
  int li;                  /* the model steps as u1 = G (u0 + dt N(u0)) (linear_implicit)  */
  double *Gr;              /* li: V^T G V, k x k column-major                               */
  int means;               /* records are means: a_sum / nsum of the reduced states        */
  double *a_sum;
  long nsum;
  double t_origin;         /* time of step 0                                              */
  double *A, *c;           /* linear: reduced operator and constant term (run's scales)   */
  double *M, *d;           /* linear: a1 = M a0 + d                                       */
  long *P;                 /* DEIM points (kf)                                            */
  double *D;               /* k x kf: V^T W (P^T W)^-1, column-major                      */
  long *E;                 /* indicator cells (ne)                                        */
  int ne;
  long *sten;              /* stencils of P then E: (kf + ne) x S7 global cells           */
  double *VS;              /* rows of V at sten: ((kf + ne) S7) x k, row-major            */
  double *a, *a0, *FP, *FE, *uE; /* state; F at P and E of the state; u at E              */
  double *vals, *fv;       /* work: stencil values and F values                           */
  double *Jw;              /* work                                                         */
  double *uref;            /* split: the state whose Jacobian L of F is the exact linear
                            * part (rom/u_ref; NULL: no split), this rank's rows           */
  double *Lt;              /* split: V^T L V - D P^T L V, k x k column-major (the Galerkin
                            * minus the DEIM part of L)                                    */
  kv_field *u;             /* the lifted state                                             */
  double *uloc, *floc, *sloc;
  double theta, dt, tol;
  int adaptive, max_modes;
  long step;
  double t;
  double eta, eta_max;     /* last indicator; largest since the last record               */
  long updates;
  long newton_its;
  int blas_threads;        /* the caller's OpenBLAS threads (restored around full steps)   */
  long check_every;        /* rom.check_every                                              */
  char chk[4200];          /* the run's checkpoint path: updated bases go beside it        */
  long saved[2];           /* update counts of the bases saved at the last two checkpoints */
  kv_field *u2;            /* the lifted record sum, for checkpoints                       */
  double chk_err, chk_eta; /* the last checked step's true local error and indicator       */
} kv_rom;

/* ------------------------------------------------------------------ small helpers */

static void pack(const kv_field *f, double *out) {
  const kv_grid *g = kv_field_grid(f);
  const long *nl = kv_grid_local_n(g), *st = kv_field_stride(f);
  const int *gh = kv_field_ghost(f);
  const double *v = kv_field_data_const(f);
  long r = 0;
  for (long k = 0; k < nl[2]; k++)
    for (long j = 0; j < nl[1]; j++)
      for (long i = 0, p = kv_field_index(st, gh, 0, j, k); i < nl[0]; i++, p++) out[r++] = v[p];
}

static void unpack(const double *in, kv_field *f) {
  const kv_grid *g = kv_field_grid(f);
  const long *nl = kv_grid_local_n(g), *st = kv_field_stride(f);
  const int *gh = kv_field_ghost(f);
  double *v = kv_field_data(f);
  long r = 0;
  for (long k = 0; k < nl[2]; k++)
    for (long j = 0; j < nl[1]; j++)
      for (long i = 0, p = kv_field_index(st, gh, 0, j, k); i < nl[0]; i++, p++) v[p] = in[r++];
}

/* Global row-major index (x fastest) of every local row. */
static long *global_rows(const kv_grid *g, long nloc) {
  long *gi = malloc(((size_t)nloc + 1) * sizeof *gi);
  if (!gi) return NULL;
  const long *nl = kv_grid_local_n(g), *off = kv_grid_offset(g), *n = kv_grid_global_n(g);
  int nd = kv_grid_ndims(g);
  long r = 0;
  for (long k = 0; k < nl[2]; k++)
    for (long j = 0; j < nl[1]; j++)
      for (long i = 0; i < nl[0]; i++) {
        long idx[3] = {i + off[0], j + off[1], k + off[2]}, c = 0;
        for (int d = nd - 1; d >= 0; d--) c = c * n[d] + idx[d];
        gi[r++] = c;
      }
  return gi;
}

/* out[c * k + j] = U[row of cells[c], j] on every rank (0 for cells -1 or not on the grid). The
 * owner of each row fills it, a sum gives it to all. Collective. */
static int gather_rows(kv_rom *r, const double *U, int k, const long *cells, long nc, double *out) {
  memset(out, 0, (size_t)nc * (size_t)k * sizeof *out);
  if (r->nloc > 0) {
    long lo = r->gidx[0], hi = r->gidx[r->nloc - 1];
    for (long c = 0; c < nc; c++) {
      if (cells[c] < lo || cells[c] > hi) continue;
      /* Rows are sorted by global index within the block: binary search. */
      long a = 0, b = r->nloc - 1;
      while (a <= b) {
        long m = (a + b) / 2;
        if (r->gidx[m] == cells[c]) {
          for (int j = 0; j < k; j++) out[c * k + j] = U[(size_t)j * r->nloc + m];
          break;
        }
        if (r->gidx[m] < cells[c]) a = m + 1; else b = m - 1;
      }
    }
  }
  if (MPI_Allreduce(MPI_IN_PLACE, out, (int)(nc * k), MPI_DOUBLE, MPI_SUM, r->comm) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "rom: reduction failed");
  }
  return KV_OK;
}

/* Greedy DEIM points of the columns of W (Chaturantabut & Sorensen): each next point where the
 * next mode is worst interpolated from the previous points. Ties go to the smallest global cell,
 * so the points do not depend on the decomposition. Collective. */
static int deim_points_inner(kv_rom *r, const kv_pod *W, long *P);

/* Its many small solves are slower threaded (hand-offs): one OpenBLAS thread. */
static int deim_points(kv_rom *r, const kv_pod *W, long *P) {
  int threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  int rc = deim_points_inner(r, W, P);
  openblas_set_num_threads(threads);
  return rc;
}

static int deim_points_inner(kv_rom *r, const kv_pod *W, long *P) {
  int kf = kv_pod_nmodes(W);
  const double *U = kv_pod_modes(W);
  long n = r->nloc;
  double *res = malloc(((size_t)n + 1) * sizeof *res), *PU = calloc((size_t)kf * kf + 1, sizeof *PU),
         *c = malloc(((size_t)kf + 1) * sizeof *c), *row = malloc(((size_t)kf + 1) * sizeof *row);
  int *ipiv = malloc(((size_t)kf + 1) * sizeof *ipiv);
  int rc = res && PU && c && row && ipiv ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  for (int l = 0; rc == KV_OK && l < kf; l++) {
    /* res = u_l - U_{<l} (P^T U_{<l})^-1 P^T u_l */
    for (int i = 0; i < l; i++) c[i] = PU[i * kf + l]; /* PU row-major: PU[i][j] = U[P_i, j] */
    if (l > 0) {
      double *Mt = malloc((size_t)l * l * sizeof *Mt);
      for (int i = 0; i < l; i++)
        for (int j = 0; j < l; j++) Mt[i * l + j] = PU[i * kf + j];
      if (LAPACKE_dgesv(LAPACK_ROW_MAJOR, l, 1, Mt, l, ipiv, c, 1) != 0) {
        rc = KV_ERROR(KV_ERR_NUMERIC, "rom: the DEIM interpolation matrix is singular");
      }
      free(Mt);
      if (rc != KV_OK) break;
    }
    double best = -1.0;
    long bcell = -1;
    if (n > 0) {
      cblas_dcopy((int)n, U + (size_t)l * n, 1, res, 1);
      if (l > 0) cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, l, -1.0, U, (int)n, c, 1, 1.0, res, 1);
    }
    for (long i = 0; i < n; i++) {
      double v = fabs(res[i]);
      if (v > best || (v == best && r->gidx[i] < bcell)) {
        best = v;
        bcell = r->gidx[i];
      }
    }
    double gbest;
    MPI_Allreduce(&best, &gbest, 1, MPI_DOUBLE, MPI_MAX, r->comm);
    long mine = best == gbest && n > 0 ? bcell : INT64_MAX, cell;
    MPI_Allreduce(&mine, &cell, 1, MPI_LONG, MPI_MIN, r->comm);
    P[l] = cell;
    KV_TRY(gather_rows(r, U, kf, &P[l], 1, row));
    for (int j = 0; j < kf; j++) PU[l * kf + j] = row[j];
  }
cleanup:
  free(res);
  free(PU);
  free(c);
  free(row);
  free(ipiv);
  return rc;
}

/* Values of V a on every stencil entry of the cells (stencil rows VS), -1 entries 0. */
static void lift_points(const kv_rom *r, const double *VS, long nent, const double *a, double *out) {
  cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)nent, r->k, 1.0, VS, r->k, a, 1, 0.0, out, 1);
}

/* ------------------------------------------------------------------ reduced system */

/* out = L v, L the Jacobian of the model's F at uref (rows of this rank), by central differences:
 * exact for F quadratic in u (kappa linear in T), O(e^2) otherwise. w, fw: work fields of the
 * model's grid; tmp: nloc values. Collective. */
static int jacobian_apply(kv_model *m, long step, MPI_Comm comm, long nloc, const double *uref,
                          const double *v, kv_field *w, kv_field *fw, double *tmp, double *out) {
  double mx[2] = {0.0, 0.0};
  for (long i = 0; i < nloc; i++) {
    mx[0] = fmax(mx[0], fabs(uref[i]));
    mx[1] = fmax(mx[1], fabs(v[i]));
  }
  MPI_Allreduce(MPI_IN_PLACE, mx, 2, MPI_DOUBLE, MPI_MAX, comm);
  if (mx[1] == 0.0) {
    memset(out, 0, (size_t)nloc * sizeof *out);
    return KV_OK;
  }
  double e = 1e-4 * (mx[0] > 0.0 ? mx[0] : 1.0) / mx[1];
  for (int sgn = 1; sgn >= -1; sgn -= 2) {
    for (long i = 0; i < nloc; i++) tmp[i] = uref[i] + sgn * e * v[i];
    unpack(tmp, w);
    KV_CHECK(m->type->residual(m, step, w, fw));
    pack(fw, sgn > 0 ? out : tmp);
  }
  for (long i = 0; i < nloc; i++) out[i] = (out[i] - tmp[i]) / (2.0 * e);
  return KV_OK;
}

/* out = G U for the ncol columns of U (nloc x ncol, column-major) by the model's solve. Collective. */
static int apply_G(kv_rom *r, const double *U, int ncol, double *out) {
  kv_field *f = NULL;
  int rc = kv_status_agree(r->comm, kv_field_create(r->grid, &f));
  for (int j = 0; rc == KV_OK && j < ncol; j++) {
    unpack(U + (size_t)j * r->nloc, f);
    rc = r->full->type->solve(r->full, f, r->u);
    if (rc == KV_OK) pack(r->u, out + (size_t)j * r->nloc);
  }
  kv_field_free(f);
  return rc;
}

/* Gr = V^T G V (linear-implicit models). Collective; k solves. */
static int assemble_li(kv_rom *r) {
  int k = r->k;
  double *GV = malloc(((size_t)r->nloc * k + 1) * sizeof *GV), *G = calloc((size_t)k * k + 1, sizeof *G);
  int rc = GV && G ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  rc = kv_status_agree(r->comm, rc);
  if (rc == KV_OK) rc = apply_G(r, kv_pod_modes(r->V), k, GV);
  if (rc == KV_OK && r->nloc > 0) {
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, k, (int)r->nloc, 1.0,
                kv_pod_modes(r->V), (int)r->nloc, GV, (int)r->nloc, 0.0, G, k);
  }
  if (rc == KV_OK) MPI_Allreduce(MPI_IN_PLACE, G, k * k, MPI_DOUBLE, MPI_SUM, r->comm);
  if (rc == KV_OK) {
    free(r->Gr);
    r->Gr = G;
    G = NULL;
  }
  free(GV);
  free(G);
  return rc;
}

/* Everything that depends on the basis: stencil rows, DEIM matrix, linear operators. Collective. */
static int setup_reduced(kv_rom *r) {
  r->k = kv_pod_nmodes(r->V);
  int k = r->k, kf = r->W ? kv_pod_nmodes(r->W) : 0;
  long nc = kf + r->ne;
  const kv_model_type *ft = r->full->type;
  free(r->sten);
  free(r->VS);
  free(r->D);
  r->sten = malloc((size_t)nc * S7 * sizeof *r->sten);
  r->VS = malloc(((size_t)nc * S7 * (size_t)k + 1) * sizeof *r->VS);
  r->D = malloc(((size_t)k * kf + 1) * sizeof *r->D);
  double *tmp = realloc(r->a, ((size_t)k + 1) * sizeof *r->a);
  if (tmp) r->a = tmp;
  tmp = realloc(r->a0, ((size_t)k + 1) * sizeof *r->a0);
  if (tmp) r->a0 = tmp;
  tmp = realloc(r->a_sum, ((size_t)k + 1) * sizeof *r->a_sum);
  if (tmp) r->a_sum = tmp;
  tmp = realloc(r->FP, ((size_t)kf + 1) * sizeof *r->FP);
  if (tmp) r->FP = tmp;
  tmp = realloc(r->vals, ((size_t)(nc + r->ne) * S7 * (size_t)(k + 1) + 1) * sizeof *r->vals);
  if (tmp) r->vals = tmp;
  tmp = realloc(r->fv, ((size_t)nc * (size_t)(k + 1) + 1) * sizeof *r->fv);
  if (tmp) r->fv = tmp;
  tmp = realloc(r->Jw, ((size_t)(k + kf) * (k + kf) + 1) * sizeof *r->Jw);
  if (tmp) r->Jw = tmp;
  if (!r->sten || !r->VS || !r->D || !r->a || !r->a0 || !r->a_sum || !r->FP || !r->vals || !r->fv || !r->Jw) {
    return KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  }
  for (long c = 0; c < nc; c++) {
    long *s = r->sten + c * S7;
    for (int e = 0; e < S7; e++) s[e] = -1;
    ft->stencil(r->full, c < kf ? r->P[c] : r->E[c - kf], s);
  }
  KV_CHECK(gather_rows(r, kv_pod_modes(r->V), k, r->sten, nc * S7, r->VS));
  if (r->W) {
    /* D = V^T W (P^T W)^-1 */
    double *VW = calloc((size_t)k * kf + 1, sizeof *VW), *PW = malloc(((size_t)kf * kf + 1) * sizeof *PW);
    int *ipiv = malloc(((size_t)kf + 1) * sizeof *ipiv);
    int rc = VW && PW && ipiv ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    /* Linear-implicit: D = V^T G W (P^T W)^-1, the solve folded into the DEIM matrix. */
    double *GW = r->li ? malloc(((size_t)r->nloc * kf + 1) * sizeof *GW) : NULL;
    if (r->li && !GW) rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    rc = kv_status_agree(r->comm, rc);
    if (rc == KV_OK && r->li) rc = apply_G(r, kv_pod_modes(r->W), kf, GW);
    if (rc == KV_OK && r->nloc > 0) {
      cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, kf, (int)r->nloc, 1.0,
                  kv_pod_modes(r->V), (int)r->nloc, r->li ? GW : kv_pod_modes(r->W), (int)r->nloc,
                  0.0, VW, k);
    }
    free(GW);
    if (rc == KV_OK) MPI_Allreduce(MPI_IN_PLACE, VW, k * kf, MPI_DOUBLE, MPI_SUM, r->comm);
    if (rc == KV_OK) rc = gather_rows(r, kv_pod_modes(r->W), kf, r->P, kf, PW); /* row-major */
    /* D (P^T W) = VW  <=>  (P^T W)^T D^T = VW^T; with column-major PW^T = row-major PW. */
    if (rc == KV_OK) {
      for (int i = 0; i < k; i++)
        for (int j = 0; j < kf; j++) r->D[(size_t)j * k + i] = VW[(size_t)j * k + i];
      /* Solve X PW = VW for X (k x kf): PW^T X^T = VW^T. */
      double *Xt = malloc(((size_t)kf * k + 1) * sizeof *Xt), *PWt = malloc(((size_t)kf * kf + 1) * sizeof *PWt);
      if (!Xt || !PWt) rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
      if (rc == KV_OK) {
        for (int i = 0; i < kf; i++)
          for (int j = 0; j < kf; j++) PWt[(size_t)j * kf + i] = PW[(size_t)j * kf + i]; /* col-major PW^T */
        for (int i = 0; i < k; i++)
          for (int j = 0; j < kf; j++) Xt[(size_t)i * kf + j] = VW[(size_t)j * k + i];
        if (LAPACKE_dgesv(LAPACK_COL_MAJOR, kf, k, PWt, kf, ipiv, Xt, kf) != 0) {
          rc = KV_ERROR(KV_ERR_NUMERIC, "rom: the DEIM interpolation matrix is singular");
        }
      }
      if (rc == KV_OK) {
        for (int i = 0; i < k; i++)
          for (int j = 0; j < kf; j++) r->D[(size_t)j * k + i] = Xt[(size_t)i * kf + j];
      }
      free(Xt);
      free(PWt);
    }
    free(VW);
    free(PW);
    free(ipiv);
    KV_CHECK(kv_status_agree(r->comm, rc));
  }
  return KV_OK;
}

/* Linear heat: the reduced operators at this run's scales from the model itself (after a basis
 * update; the stored unit-scale ones serve at the start). Collective; O(k N). */
static int assemble_linear(kv_rom *r) {
  kv_heat *h = (kv_heat *)r->full;
  int k = r->k;
  kv_field *v = NULL, *Av = NULL;
  int rc = kv_field_create(r->grid, &v);
  if (rc == KV_OK) rc = kv_field_create(r->grid, &Av);
  double *Al = calloc((size_t)k * k + 1, sizeof *Al), *w = malloc(((size_t)r->nloc + 1) * sizeof *w),
         *cv = calloc((size_t)k + 1, sizeof *cv);
  if (rc == KV_OK && (!Al || !w || !cv)) rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  rc = kv_status_agree(r->comm, rc);
  const double *U = kv_pod_modes(r->V);
  for (int j = 0; rc == KV_OK && j < k; j++) {
    unpack(U + (size_t)j * r->nloc, v);
    rc = kv_heat_operator(h, v, 1, Av);
    if (rc == KV_OK) {
      pack(Av, w);
      if (r->nloc > 0)
        cblas_dgemv(CblasColMajor, CblasTrans, (int)r->nloc, k, 1.0, U, (int)r->nloc, w, 1, 0.0,
                    Al + (size_t)j * k, 1);
    }
  }
  if (rc == KV_OK) {
    /* c = V^T (b + q): b = L_h(0), q the source, both at the run's scales. */
    kv_field_fill(v, 0.0);
    rc = kv_heat_operator(h, v, 0, Av);
    if (rc == KV_OK) {
      pack(Av, w);
      rc = kv_heat_source(h, v);
    }
    if (rc == KV_OK) {
      double *w2 = malloc(((size_t)r->nloc + 1) * sizeof *w2);
      if (!w2) rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
      else {
        pack(v, w2);
        for (long i = 0; i < r->nloc; i++) w[i] += w2[i];
        if (r->nloc > 0)
          cblas_dgemv(CblasColMajor, CblasTrans, (int)r->nloc, k, 1.0, U, (int)r->nloc, w, 1, 0.0, cv, 1);
        free(w2);
      }
    }
  }
  if (rc == KV_OK) {
    MPI_Allreduce(MPI_IN_PLACE, Al, k * k, MPI_DOUBLE, MPI_SUM, r->comm);
    MPI_Allreduce(MPI_IN_PLACE, cv, k, MPI_DOUBLE, MPI_SUM, r->comm);
    free(r->A);
    free(r->c);
    r->A = Al; /* column-major: column j = V^T A v_j */
    r->c = cv;
    Al = cv = NULL;
  }
  free(Al);
  free(cv);
  free(w);
  kv_field_free(v);
  kv_field_free(Av);
  return kv_status_agree(r->comm, rc);
}

/* The split F = L u + N(u): Lt = V^T L V - D P^T L V, so that the reduced F is
 * V^T L V a + D N_P(a) = D F_P(a) + Lt a. The stiff linear part is then projected exactly and
 * only the remainder is interpolated; DEIM of a stiff F alone gives reduced systems whose Newton
 * iteration diverges (seen at cfl 55). Collective; 2k evaluations of F on the whole grid. */
static int assemble_split(kv_rom *r) {
  int k = r->k, kf = kv_pod_nmodes(r->W);
  double *LV = malloc(((size_t)r->nloc * k + 1) * sizeof *LV), *tmp = malloc(((size_t)r->nloc + 1) * sizeof *tmp);
  double *Lr = calloc((size_t)k * k + 1, sizeof *Lr), *LP = malloc(((size_t)kf * k + 1) * sizeof *LP);
  double *LPc = malloc(((size_t)kf * k + 1) * sizeof *LPc);
  kv_field *w = NULL, *fw = NULL;
  int rc = LV && tmp && Lr && LP && LPc ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  if (rc == KV_OK) rc = kv_field_create(r->grid, &w);
  if (rc == KV_OK) rc = kv_field_create(r->grid, &fw);
  rc = kv_status_agree(r->comm, rc);
  const double *V = kv_pod_modes(r->V);
  for (int j = 0; rc == KV_OK && j < k; j++) {
    rc = jacobian_apply(r->full, r->step, r->comm, r->nloc, r->uref, V + (size_t)j * r->nloc, w, fw,
                        tmp, LV + (size_t)j * r->nloc);
  }
  if (rc == KV_OK && r->nloc > 0) {
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, k, (int)r->nloc, 1.0, V, (int)r->nloc,
                LV, (int)r->nloc, 0.0, Lr, k);
  }
  if (rc == KV_OK) MPI_Allreduce(MPI_IN_PLACE, Lr, k * k, MPI_DOUBLE, MPI_SUM, r->comm);
  if (rc == KV_OK) rc = gather_rows(r, LV, k, r->P, kf, LP); /* LP[c k + j] = (L v_j)(P_c) */
  if (rc == KV_OK) {
    for (int c = 0; c < kf; c++)
      for (int j = 0; j < k; j++) LPc[(size_t)j * kf + c] = LP[(size_t)c * k + j];
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, k, kf, -1.0, r->D, k, LPc, kf, 1.0,
                Lr, k);
    free(r->Lt);
    r->Lt = Lr;
    Lr = NULL;
  }
  kv_field_free(w);
  kv_field_free(fw);
  free(LV);
  free(tmp);
  free(Lr);
  free(LP);
  free(LPc);
  return kv_status_agree(r->comm, rc);
}

/* a1 = M a0 + d with M = (I - theta dt A)^-1 (I + (1 - theta) dt A), d = (I - theta dt A)^-1 dt c. */
static int linear_step_matrix(kv_rom *r) {
  int k = r->k;
  double *L = malloc(((size_t)k * k + 1) * sizeof *L), *R = malloc(((size_t)k * (k + 1) + 1) * sizeof *R);
  int *ipiv = malloc(((size_t)k + 1) * sizeof *ipiv);
  if (!L || !R || !ipiv) {
    free(L);
    free(R);
    free(ipiv);
    return KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  }
  for (int j = 0; j < k; j++)
    for (int i = 0; i < k; i++) {
      double a = r->A[(size_t)j * k + i];
      L[(size_t)j * k + i] = (i == j) - r->theta * r->dt * a;
      R[(size_t)j * k + i] = (i == j) + (1.0 - r->theta) * r->dt * a;
    }
  for (int i = 0; i < k; i++) R[(size_t)k * k + i] = r->dt * r->c[i];
  int info = k > 0 ? LAPACKE_dgesv(LAPACK_COL_MAJOR, k, k + 1, L, k, ipiv, R, k) : 0;
  free(L);
  free(ipiv);
  if (info != 0) {
    free(R);
    return KV_ERROR(KV_ERR_NUMERIC, "rom: the reduced implicit matrix is singular");
  }
  free(r->M);
  r->M = R; /* the first k columns are M, the last d */
  r->d = R + (size_t)k * k;
  return KV_OK;
}

/* F at the DEIM points (nf copies: states a + eps e_j for j < nf - 1 after the unperturbed one)
 * and optionally at the indicator cells of a. Collective. */
static int eval_points(kv_rom *r, long step, const double *a, int perturb, double eps, int with_E) {
  int k = r->k, kf = r->W ? kv_pod_nmodes(r->W) : 0;
  long ent = (long)kf * S7;
  int copies = perturb ? k + 1 : 1;
  long ncell = (long)kf * copies + (with_E ? r->ne : 0);
  long *cells = malloc(((size_t)ncell + 1) * sizeof *cells);
  if (!cells) return KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  /* Stencil values of the base state at P, then its perturbations along each mode. */
  lift_points(r, r->VS, ent, a, r->vals);
  for (int j = 1; j < copies; j++) {
    double *v = r->vals + (size_t)j * ent;
    for (long e = 0; e < ent; e++) v[e] = r->vals[e] + eps * r->VS[(size_t)e * k + (j - 1)];
  }
  for (int j = 0; j < copies; j++)
    for (int c = 0; c < kf; c++) cells[(long)j * kf + c] = r->P[c];
  if (with_E) {
    lift_points(r, r->VS + (size_t)ent * k, (long)r->ne * S7, a, r->vals + (size_t)copies * ent);
    for (int c = 0; c < r->ne; c++) cells[(long)kf * copies + c] = r->E[c];
  }
  int rc = r->full->type->residual_at(r->full, step, cells, (int)ncell, r->vals, r->fv);
  free(cells);
  return rc;
}

/* Nonlinear Galerkin-DEIM step by Newton's method with a finite-difference Jacobian:
 * g(a) = a - a0 - dt (D (theta F_P(a) + (1 - theta) F_P(a0)) + Lt (theta a + (1 - theta) a0)).
 * r->FP holds F_P(a0); Lt is 0 without the split. */
/* g(a) from F_P(a) in fv (the reduced residual of the step). */
static void newton_residual(const kv_rom *r, const double *a, const double *fv, double *g) {
  int k = r->k, kf = kv_pod_nmodes(r->W);
  double rhs[kf + 1], am[k + 1];
  for (int i = 0; i < kf; i++) rhs[i] = r->theta * fv[i] + (1.0 - r->theta) * r->FP[i];
  for (int i = 0; i < k; i++) g[i] = a[i] - r->a0[i];
  cblas_dgemv(CblasColMajor, CblasNoTrans, k, kf, -r->dt, r->D, k, rhs, 1, 1.0, g, 1);
  if (r->Lt) {
    for (int i = 0; i < k; i++) am[i] = r->theta * a[i] + (1.0 - r->theta) * r->a0[i];
    cblas_dgemv(CblasColMajor, CblasNoTrans, k, k, -r->dt, r->Lt, k, am, 1, 1.0, g, 1);
  }
}

static int newton_step(kv_rom *r) {
  int k = r->k, kf = kv_pod_nmodes(r->W);
  double *J = r->Jw, g[k + 1], d[k + 1], at[k + 1];
  int ipiv[k + 1];
  memcpy(r->a, r->a0, (size_t)k * sizeof *r->a);
  if (r->theta == 0.0) {
    cblas_dgemv(CblasColMajor, CblasNoTrans, k, kf, r->dt, r->D, k, r->FP, 1, 1.0, r->a, 1);
    if (r->Lt) cblas_dgemv(CblasColMajor, CblasNoTrans, k, k, r->dt, r->Lt, k, r->a0, 1, 1.0, r->a, 1);
    return KV_OK;
  }
  double prev = INFINITY;
  for (int it = 1; it <= 50; it++) {
    double an = cblas_dnrm2(k, r->a, 1), eps = 1e-7 * (an > 0.0 ? an : 1.0);
    KV_CHECK(eval_points(r, r->step, r->a, 1, eps, 0));
    newton_residual(r, r->a, r->fv, g);
    double gn = cblas_dnrm2(k, g, 1);
    /* J = I - theta dt (D dF_P/da + Lt), the columns of dF_P/da by differences. */
    double *dF = r->fv + kf; /* kf x k column-major after the base values */
    for (int j = 0; j < k; j++)
      for (int i = 0; i < kf; i++) dF[(size_t)j * kf + i] = (dF[(size_t)j * kf + i] - r->fv[i]) / eps;
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, k, kf, -r->theta * r->dt, r->D, k,
                dF, kf, 0.0, J, k);
    if (r->Lt) cblas_daxpy(k * k, -r->theta * r->dt, r->Lt, 1, J, 1);
    for (int i = 0; i < k; i++) J[(size_t)i * k + i] += 1.0;
    for (int i = 0; i < k; i++) d[i] = -g[i];
    if (LAPACKE_dgesv(LAPACK_COL_MAJOR, k, 1, J, k, ipiv, d, k) != 0) {
      return KV_ERROR(KV_ERR_NUMERIC, "rom: singular Newton matrix at step %ld", r->step + 1);
    }
    /* Backtracking on |g| (Armijo): a full Newton step from a0 overshoots in stiff transients. */
    double lam = 1.0;
    for (int bt = 0; bt < 12; bt++, lam *= 0.5) {
      for (int i = 0; i < k; i++) at[i] = r->a[i] + lam * d[i];
      if (lam == 1.0 && cblas_dnrm2(k, d, 1) <= 1e-8 * cblas_dnrm2(k, at, 1)) break;
      KV_CHECK(eval_points(r, r->step, at, 0, 0.0, 0));
      newton_residual(r, at, r->fv, g);
      double gt = cblas_dnrm2(k, g, 1);
      if (isfinite(gt) && gt <= (1.0 - 1e-4 * lam) * gn) break;
    }
    /* The step taken (the last trial when no length satisfied Armijo). */
    for (int i = 0; i < k; i++) d[i] = at[i] - r->a[i];
    memcpy(r->a, at, (size_t)k * sizeof *r->a);
    r->newton_its++;
    double dn = cblas_dnrm2(k, d, 1), an1 = cblas_dnrm2(k, r->a, 1);
    if (!isfinite(dn)) break;
    /* Converged, or stalled at the round-off of the finite-difference Jacobian. */
    if (dn <= 1e-11 * an1 || dn == 0.0 || (dn <= 1e-8 * an1 && dn > 0.5 * prev)) return KV_OK;
    prev = dn;
  }
  return KV_ERROR(KV_ERR_NUMERIC, "rom: the reduced Newton iteration of step %ld did not converge "
                  "(the ROM has left the span of its basis; lower rom.tolerance or refit)", r->step + 1);
}

/* Linear-implicit step a1 = Gr a0 + dt D N_P(a0), and its indicator: the full residual
 * G^-1 u1 - u0 - dt N(u0) at the cells E, relative to the step's change u1 - u0 there. */
static int li_step(kv_rom *r) {
  int k = r->k, kf = kv_pod_nmodes(r->W), ne = r->ne;
  KV_CHECK(eval_points(r, r->step, r->a0, 0, 0.0, 1));
  const double *NE0 = r->fv + kf;
  for (int c = 0; c < ne; c++) r->uE[c] = r->vals[(size_t)kf * S7 + (size_t)c * S7];
  cblas_dgemv(CblasColMajor, CblasNoTrans, k, k, 1.0, r->Gr, k, r->a0, 1, 0.0, r->a, 1);
  cblas_dgemv(CblasColMajor, CblasNoTrans, k, kf, r->dt, r->D, k, r->fv, 1, 1.0, r->a, 1);
  double *v1 = r->vals + (size_t)(kf + ne) * S7; /* after the values of a0 */
  lift_points(r, r->VS + (size_t)kf * S7 * k, (long)ne * S7, r->a, v1);
  KV_CHECK(r->full->type->implicit_at(r->full, r->E, ne, v1, r->FE));
  double rr = 0.0, ss = 0.0;
  for (int c = 0; c < ne; c++) {
    double res = r->FE[c] - r->uE[c] - r->dt * NE0[c], du = v1[(size_t)c * S7] - r->uE[c];
    rr += res * res;
    ss += du * du;
  }
  r->eta = ss > 0.0 ? sqrt(rr / ss) : (rr > 0.0 ? INFINITY : 0.0);
  if (!isfinite(r->eta)) r->eta = INFINITY;
  return KV_OK;
}

/* F at P and E and u at E of the current state a (after a step or a basis change). */
static int refresh_point_values(kv_rom *r) {
  int kf = r->W ? kv_pod_nmodes(r->W) : 0;
  KV_CHECK(eval_points(r, r->step, r->a, 0, 0.0, 1));
  memcpy(r->FP, r->fv, (size_t)kf * sizeof *r->FP);
  memcpy(r->FE, r->fv + kf, (size_t)r->ne * sizeof *r->FE);
  for (int c = 0; c < r->ne; c++) r->uE[c] = r->vals[(size_t)kf * S7 + (size_t)c * S7];
  return KV_OK;
}

/* ------------------------------------------------------------------ basis file */

/* The leading k modes of a (modes, grid...) dataset into this rank's rows U (nloc x k): one read
 * on rank 0, broadcast in blocks of modes, each rank keeping its rows. Collective. */
static int read_modes(kv_rom *r, const char *path, const char *name, int k, double *U) {
  int rank;
  MPI_Comm_rank(r->comm, &rank);
  kv_h5_array a = {0};
  int rc = KV_OK;
  if (rank == 0) {
    rc = kv_h5_read_array(path, name, &a);
    if (rc == KV_OK && a.count < (long)k * r->N) {
      rc = KV_ERROR(KV_ERR_FORMAT, "rom: '%s': /%s holds %ld values, not %d modes of %ld cells",
                    path, name, a.count, k, r->N);
    }
  }
  KV_CHECK(kv_status_agree(r->comm, rc));
  int bs = (int)(16777216L / (r->N > 0 ? r->N : 1)); /* modes per broadcast: 128 MiB at most */
  if (bs < 1) bs = 1;
  double *buf = rank == 0 ? a.data : malloc(((size_t)(bs < k ? bs : k) * r->N + 1) * sizeof *buf);
  rc = buf ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  rc = kv_status_agree(r->comm, rc);
  for (int j0 = 0; rc == KV_OK && j0 < k; j0 += bs) {
    int nb = k - j0 < bs ? k - j0 : bs;
    double *blk = rank == 0 ? a.data + (size_t)j0 * r->N : buf;
    MPI_Bcast(blk, (int)((long)nb * r->N), MPI_DOUBLE, 0, r->comm);
    for (int j = 0; j < nb; j++)
      for (long i = 0; i < r->nloc; i++)
        U[(size_t)(j0 + j) * r->nloc + i] = blk[(size_t)j * r->N + r->gidx[i]];
  }
  if (rank != 0) free(buf);
  kv_h5_array_free(&a);
  return rc;
}

static int load_basis(kv_rom *r, const kv_config *cfg, const char *path, long use_modes) {
  int rank;
  MPI_Comm_rank(r->comm, &rank);
  const long *n = kv_grid_global_n(r->grid);
  int nd = kv_grid_ndims(r->grid);
  long hdr[4] = {0, 0, 0, 0}; /* k, kf, has operators, has u_ref */
  int rc = KV_OK;
  kv_h5_array sig = {0}, sigf = {0}, ops[3] = {{0}, {0}, {0}};
  if (rank == 0) {
    kv_h5_store *s = NULL;
    rc = kv_h5_probe(path, 0);
    if (rc == KV_OK) rc = kv_h5_store_open(path, &s);
    if (rc != KV_OK) {
      char why[512];
      snprintf(why, sizeof why, "%s", kv_error_message());
      rc = kv_config_errorf(cfg, "rom.basis", "cannot read the basis: %s", why);
    }
    char *kind = NULL, *model = NULL;
    kv_h5_array gn = {0};
    if (rc == KV_OK && (kv_h5_store_get_text(s, "/", "kind", &kind) != KV_OK || strcmp(kind, "pod") != 0)) {
      rc = kv_config_errorf(cfg, "rom.basis", "'%s' is not a POD model file (kelvin fit with "
                            "surrogate.kind = pod writes one)", path);
    }
    if (rc == KV_OK && kv_h5_store_get_text(s, "/", "model", &model) == KV_OK &&
        strcmp(model, r->full->type->name) != 0) {
      rc = kv_config_errorf(cfg, "rom.basis", "'%s' was fit on model %s, this run is %s", path,
                            model, r->full->type->name);
    }
    if (rc == KV_OK) rc = kv_h5_store_get(s, "rom/n", &gn);
    if (rc == KV_OK) {
      int same = gn.count == nd;
      for (int d = 0; same && d < nd; d++) same = (long)gn.data[d] == n[d];
      if (!same) {
        char a[96] = "", b[96] = "";
        for (long d = 0; d < gn.count && d < 3; d++)
          snprintf(a + strlen(a), sizeof a - strlen(a), "%s%ld", d ? " x " : "", (long)gn.data[d]);
        for (int d = 0; d < nd; d++)
          snprintf(b + strlen(b), sizeof b - strlen(b), "%s%ld", d ? " x " : "", n[d]);
        rc = kv_config_errorf(cfg, "rom.basis", "'%s' is a basis on a %s grid, this run's grid "
                              "is %s: fit the basis on runs of this grid", path, a, b);
      }
    }
    if (rc == KV_OK) rc = kv_h5_store_get(s, "rom/sigma", &sig);
    if (rc == KV_OK) {
      hdr[0] = sig.count;
      if (kv_h5_store_has(s, "rom/deim_sigma")) {
        rc = kv_h5_store_get(s, "rom/deim_sigma", &sigf);
        hdr[1] = sigf.count;
      }
      if (rc == KV_OK && kv_h5_store_has(s, "rom/A")) {
        rc = kv_h5_store_get(s, "rom/A", &ops[0]);
        if (rc == KV_OK) rc = kv_h5_store_get(s, "rom/b", &ops[1]);
        if (rc == KV_OK) rc = kv_h5_store_get(s, "rom/q", &ops[2]);
        hdr[2] = 1;
      }
      hdr[3] = kv_h5_store_has(s, "rom/u_ref");
    }
    free(kind);
    free(model);
    kv_h5_array_free(&gn);
    if (s) kv_h5_store_close(s, 0);
  }
  KV_CHECK(kv_status_agree(r->comm, rc));
  MPI_Bcast(hdr, 4, MPI_LONG, 0, r->comm);
  int k = (int)hdr[0], kf = (int)hdr[1];
  if (use_modes > 0 && use_modes < k) k = (int)use_modes;
  int is_heat = strcmp(r->full->type->name, "heat") == 0;
  kv_heat *h = is_heat ? (kv_heat *)r->full : NULL;
  int lin = is_heat && kv_heat_is_linear(h);
  r->linear = lin && hdr[2];
  if (!is_heat && kf == 0) {
    rc = kv_config_errorf(cfg, "rom.basis", "'%s' has no DEIM basis of the model's explicit part",
                          path);
  } else if (is_heat && !lin && kf == 0) {
    rc = kv_config_errorf(cfg, "rom.basis", "'%s' was fit on a linear problem and has no DEIM "
                          "basis; this run's conductivity depends on T: fit on such runs", path);
  } else if (lin && !hdr[2] && kf == 0) {
    rc = kv_config_errorf(cfg, "rom.basis", "'%s' has neither reduced operators nor a DEIM basis",
                          path);
  }
  KV_CHECK(kv_status_agree(r->comm, rc));
  double *U = malloc(((size_t)r->nloc * (size_t)(k > kf ? k : kf) + 1) * sizeof *U),
         *s = malloc(((size_t)(k > kf ? k : kf) + 1) * sizeof *s);
  rc = U && s ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  KV_CHECK(kv_status_agree(r->comm, rc));
  if (rc == KV_OK) rc = read_modes(r, path, "rom/modes", k, U);
  if (rank == 0) memcpy(s, sig.data, (size_t)k * sizeof *s);
  MPI_Bcast(s, k, MPI_DOUBLE, 0, r->comm);
  if (rc == KV_OK) rc = kv_pod_wrap(r->comm, r->nloc, k, U, s, &r->V);
  if (rc == KV_OK && !r->linear) {
    rc = read_modes(r, path, "rom/deim_modes", kf, U);
    if (rank == 0) memcpy(s, sigf.data, (size_t)kf * sizeof *s);
    MPI_Bcast(s, kf, MPI_DOUBLE, 0, r->comm);
    if (rc == KV_OK) rc = kv_pod_wrap(r->comm, r->nloc, kf, U, s, &r->W);
    if (rc == KV_OK && hdr[3] && !r->li) {
      r->uref = malloc(((size_t)r->nloc + 1) * sizeof *r->uref);
      rc = kv_status_agree(r->comm, r->uref ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory"));
      if (rc == KV_OK) rc = read_modes(r, path, "rom/u_ref", 1, r->uref);
    }
  }
  if (rc == KV_OK && r->linear) {
    /* The affine decomposition: A(s_k) = s_k A_1, c(s_k, s_q) = s_k b_1 + s_q q_1. */
    int K = (int)hdr[0];
    r->A = malloc(((size_t)k * k + 1) * sizeof *r->A);
    r->c = malloc(((size_t)k + 1) * sizeof *r->c);
    if (rank == 0) {
      for (int j = 0; j < k; j++)
        for (int i = 0; i < k; i++) r->A[(size_t)j * k + i] = ops[0].data[(size_t)j * K + i];
      const kv_heat_params *p = kv_heat_get_params(h);
      for (int i = 0; i < k; i++) {
        for (int j = 0; j < k; j++) r->A[(size_t)j * k + i] *= p->kappa_scale;
        r->c[i] = p->kappa_scale * ops[1].data[i] + p->source_scale * ops[2].data[i];
      }
    }
    MPI_Bcast(r->A, k * k, MPI_DOUBLE, 0, r->comm);
    MPI_Bcast(r->c, k, MPI_DOUBLE, 0, r->comm);
  }
  free(U);
  free(s);
  kv_h5_array_free(&sig);
  kv_h5_array_free(&sigf);
  for (int i = 0; i < 3; i++) kv_h5_array_free(&ops[i]);
  return kv_status_agree(r->comm, rc);
}

/* ------------------------------------------------------------------ the model */

static void rom_free(kv_model *m) {
  kv_rom *r = (kv_rom *)m;
  if (!r) return;
  kv_model_free(r->full);
  kv_pod_free(r->V);
  kv_pod_free(r->W);
  free(r->gidx);
  free(r->A);
  free(r->c);
  free(r->M);
  free(r->Gr);
  free(r->a_sum);
  free(r->sloc);
  free(r->P);
  free(r->D);
  free(r->E);
  free(r->sten);
  free(r->VS);
  free(r->a);
  free(r->a0);
  free(r->FP);
  free(r->FE);
  free(r->uE);
  free(r->vals);
  free(r->fv);
  free(r->Jw);
  free(r->uref);
  free(r->Lt);
  kv_field_free(r->u);
  kv_field_free(r->u2);
  free(r->uloc);
  free(r->floc);
  if (r->comm != MPI_COMM_NULL) MPI_Comm_free(&r->comm);
  free(r);
}

/* Distinct random cells, not DEIM points where the grid allows (splitmix64: the same on every
 * rank). */
static void indicator_cells(kv_rom *r, unsigned long seed) {
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  int kf = r->W ? kv_pod_nmodes(r->W) : 0, got = 0;
  int avoid = r->N - kf >= r->ne; /* a small grid may have too few cells to keep them apart */
  while (got < r->ne) {
    x += 0x9E3779B97F4A7C15ull;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    long c = (long)(z % (uint64_t)r->N);
    int dup = 0;
    for (int i = 0; i < got && !dup; i++) dup = r->E[i] == c;
    for (int i = 0; i < kf && !dup && avoid; i++) dup = r->P[i] == c;
    if (!dup) r->E[got++] = c;
  }
}

/* Everything that depends on the bases, after the DEIM points. Collective. */
static int rom_operators(kv_rom *r) {
  KV_CHECK(setup_reduced(r));
  if (r->linear) KV_CHECK(linear_step_matrix(r));
  if (r->li) KV_CHECK(assemble_li(r));
  if (r->uref && r->W) KV_CHECK(assemble_split(r));
  return KV_OK;
}

/* DEIM points and operators after a basis change. Collective. */
static int rom_refresh(kv_rom *r) {
  if (r->W) {
    free(r->P);
    r->P = malloc(((size_t)kv_pod_nmodes(r->W) + 1) * sizeof *r->P);
    int rc = r->P ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    KV_CHECK(kv_status_agree(r->comm, rc));
    KV_CHECK(deim_points(r, r->W, r->P));
  }
  return rom_operators(r);
}

static int rom_create(MPI_Comm comm, const kv_config *cfg, kv_model **out) {
  const char *basis, *fname;
  double tol;
  long modes, maxm, npts, seed;
  int adaptive;
  int rc = kv_config_get_string(cfg, "rom.basis", &basis);
  if (rc == KV_OK && !kv_config_has(cfg, "rom.basis")) {
    rc = kv_config_errorf(cfg, "rom.basis", "run.model = rom needs the basis file (kelvin fit "
                          "with surrogate.kind = pod)");
  }
  if (rc == KV_OK) rc = kv_config_get_string(cfg, "rom.model", &fname);
  if (rc == KV_OK) rc = kv_config_get_double(cfg, "rom.tolerance", 0.0, INFINITY, &tol);
  if (rc == KV_OK && !(tol > 0.0)) {
    rc = kv_config_errorf(cfg, "rom.tolerance", "expected a positive indicator threshold (got %g)",
                          tol);
  }
  if (rc == KV_OK) rc = kv_config_get_bool(cfg, "rom.adaptive", &adaptive);
  if (rc == KV_OK) rc = kv_config_get_int(cfg, "rom.modes", 0, 100000, &modes);
  if (rc == KV_OK) rc = kv_config_get_int(cfg, "rom.max_modes", 0, 100000, &maxm);
  if (rc == KV_OK) rc = kv_config_get_int(cfg, "rom.indicator_points", 1, 100000, &npts);
  if (rc == KV_OK) rc = kv_config_get_int(cfg, "rom.seed", 0, 4294967295L, &seed);
  long check_every = 0;
  if (rc == KV_OK) rc = kv_config_get_int(cfg, "rom.check_every", 0, 1000000000L, &check_every);
  KV_CHECK(kv_status_agree(comm, rc));
  const kv_model_type *ft = kv_model_type_find(fname);
  kv_rom *r = calloc(1, sizeof *r);
  rc = r ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  KV_CHECK(kv_status_agree(comm, rc));
  r->base.type = &kv_rom_type;
  r->comm = MPI_COMM_NULL;
  r->tol = tol;
  r->adaptive = adaptive;
  r->max_modes = (int)maxm;
  r->check_every = check_every;
  r->chk_err = r->chk_eta = NAN;
  {
    const char *output = kv_config_value(cfg, "run.output");
    kv_run_checkpoint_path(output ? output : "kelvin.h5", r->chk, sizeof r->chk);
  }
  MPI_Comm_dup(comm, &r->comm);
  KV_TRY(kv_model_create(ft, comm, cfg, &r->full));
  KV_TRY(kv_model_info_get(r->full, &r->finfo));
  if (!ft->residual || !ft->residual_at || !ft->stencil || !ft->set_state ||
      (r->finfo.linear_implicit && (!ft->solve || !ft->implicit_at))) {
    rc = KV_ERROR(KV_ERR_UNSUPPORTED, "rom: model %s has no reduced-order hooks", ft->name);
    goto cleanup;
  }
  r->li = r->finfo.linear_implicit;
  r->means = r->finfo.record_means;
  r->grid = r->finfo.grid;
  r->theta = r->finfo.theta;
  r->dt = r->finfo.dt;
  r->step = r->finfo.step0;
  r->t = r->finfo.t0;
  r->t_origin = r->finfo.t0 - (double)r->finfo.step0 * r->dt;
  r->N = kv_grid_global_count(r->grid);
  const long *nl = kv_grid_local_n(r->grid);
  r->nloc = nl[0] * nl[1] * nl[2];
  r->ne = (int)(npts < r->N ? npts : r->N);
  r->gidx = global_rows(r->grid, r->nloc);
  r->uloc = malloc(((size_t)r->nloc + 1) * sizeof *r->uloc);
  r->floc = malloc(((size_t)r->nloc + 1) * sizeof *r->floc);
  r->sloc = malloc(((size_t)r->nloc + 1) * sizeof *r->sloc);
  r->E = malloc(((size_t)r->ne + 1) * sizeof *r->E);
  r->FE = malloc(((size_t)r->ne + 1) * sizeof *r->FE);
  r->uE = malloc(((size_t)r->ne + 1) * sizeof *r->uE);
  rc = r->gidx && r->uloc && r->floc && r->sloc && r->E && r->FE && r->uE
           ? kv_field_create(r->grid, &r->u) : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  if (rc == KV_OK) rc = kv_field_create(r->grid, &r->u2);
  KV_TRY(kv_status_agree(comm, rc));
  KV_TRY(load_basis(r, cfg, basis, modes));
  if (r->W) {
    r->P = malloc(((size_t)kv_pod_nmodes(r->W) + 1) * sizeof *r->P);
    KV_TRY(kv_status_agree(comm, r->P ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory")));
    KV_TRY(deim_points(r, r->W, r->P));
  }
  indicator_cells(r, (unsigned long)seed);
  KV_TRY(rom_operators(r));
  memset(r->a_sum, 0, (size_t)r->k * sizeof *r->a_sum);
  /* The initial state: the projection of the full model's. */
  const kv_field *u0;
  KV_TRY(ft->state(r->full, &u0));
  pack(u0, r->uloc);
  KV_TRY(kv_pod_project(r->V, r->uloc, r->a));
  KV_TRY(refresh_point_values(r));
  kv_info("rom: %s basis of %d modes%s%s, %d indicator cells, tolerance %g%s", basis, r->k,
          r->linear ? " with reduced operators (affine in kappa and source scales)" : "",
          r->W ? ", DEIM" : "", r->ne, tol, adaptive ? " (adaptive)" : " (not adaptive)");
  if (r->W) kv_info("rom: %d DEIM points", kv_pod_nmodes(r->W));
cleanup:
  if (rc != KV_OK) {
    rom_free(&r->base);
    return rc;
  }
  *out = &r->base;
  return KV_OK;
}

/* Lift V a into r->u. Collective only through nothing: local. */
static void lift(kv_rom *r, const double *a) {
  if (r->nloc > 0) {
    cblas_dgemv(CblasColMajor, CblasNoTrans, (int)r->nloc, r->k, 1.0, kv_pod_modes(r->V),
                (int)r->nloc, a, 1, 0.0, r->uloc, 1);
  }
  unpack(r->uloc, r->u);
}

/* One full-solver step from the lifted state a0, then the basis update. Collective. */
static int full_update_inner(kv_rom *r);

static int full_update(kv_rom *r) {
  openblas_set_num_threads(r->blas_threads > 0 ? r->blas_threads : 1);
  int rc = full_update_inner(r);
  openblas_set_num_threads(1);
  return rc;
}

static int full_update_inner(kv_rom *r) {
  const kv_model_type *ft = r->full->type;
  double w0 = MPI_Wtime();
  if (r->means && r->nloc > 0) {
    /* The record's running sum survives the basis change through the full space. */
    cblas_dgemv(CblasColMajor, CblasNoTrans, (int)r->nloc, r->k, 1.0, kv_pod_modes(r->V),
                (int)r->nloc, r->a_sum, 1, 0.0, r->sloc, 1);
  }
  lift(r, r->a0);
  KV_CHECK(ft->set_state(r->full, r->u, r->step));
  double t;
  KV_CHECK(kv_model_step(r->full, &t));
  const kv_field *u1;
  KV_CHECK(ft->state(r->full, &u1));
  pack(u1, r->uloc);
  double w1 = MPI_Wtime();
  int before = r->k;
  if (r->max_modes <= 0 || r->k < r->max_modes) {
    KV_CHECK(kv_pod_add(r->V, r->uloc, 1e-10, r->max_modes));
  }
  if (r->W) {
    KV_CHECK(kv_field_copy(r->u, u1));
    kv_field *f = NULL;
    KV_CHECK(kv_status_agree(r->comm, kv_field_create(r->grid, &f)));
    int rc = ft->residual(r->full, r->step + 1, r->u, f);
    if (rc == KV_OK) pack(f, r->floc);
    if (rc == KV_OK && r->uref) {
      /* The DEIM basis spans the remainder N(u) = F(u) - L u. */
      double *Lu = malloc(((size_t)r->nloc + 1) * sizeof *Lu), *tmp = malloc(((size_t)r->nloc + 1) * sizeof *tmp);
      rc = kv_status_agree(r->comm, Lu && tmp ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory"));
      if (rc == KV_OK) {
        rc = jacobian_apply(r->full, r->step + 1, r->comm, r->nloc, r->uref, r->uloc, r->u, f, tmp, Lu);
      }
      for (long i = 0; rc == KV_OK && i < r->nloc; i++) r->floc[i] -= Lu[i];
      free(Lu);
      free(tmp);
    }
    if (rc == KV_OK) {
      if (r->max_modes <= 0 || kv_pod_nmodes(r->W) < r->max_modes) {
        rc = kv_pod_add(r->W, r->floc, 1e-10, r->max_modes);
      }
    }
    kv_field_free(f);
    KV_CHECK(rc);
  }
  /* kv_pod_add rotates the modes even when it adds none: the operators are always rebuilt. */
  r->k = kv_pod_nmodes(r->V);
  if (r->linear) KV_CHECK(assemble_linear(r));
  KV_CHECK(rom_refresh(r));
  KV_CHECK(kv_pod_project(r->V, r->uloc, r->a));
  if (r->means) KV_CHECK(kv_pod_project(r->V, r->sloc, r->a_sum));
  r->updates++;
  double w2 = MPI_Wtime();
  kv_info("rom: step %ld: indicator %.3g > tolerance %g: full step (%.0f ms), basis %d -> %d modes "
          "(%.0f ms)", r->step + 1, r->eta, r->tol, 1e3 * (w1 - w0), before, r->k, 1e3 * (w2 - w1));
  return KV_OK;
}

static int rom_step_inner(kv_rom *r, double *t);

/* The ROM step a0 -> a against the full solver's step from V a0: |V a - u1| / |u1 - V a0| over
 * the whole grid, the quantity the indicator estimates. Collective; one full step. */
static int check_step(kv_rom *r) {
  const kv_model_type *ft = r->full->type;
  double *v = malloc(((size_t)r->nloc + 1) * sizeof *v), nrm[2] = {0.0, 0.0}, t;
  KV_CHECK(kv_status_agree(r->comm, v ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory")));
  lift(r, r->a0);
  memcpy(v, r->uloc, (size_t)r->nloc * sizeof *v);
  openblas_set_num_threads(r->blas_threads > 0 ? r->blas_threads : 1);
  int rc = ft->set_state(r->full, r->u, r->step);
  if (rc == KV_OK) rc = kv_model_step(r->full, &t);
  openblas_set_num_threads(1);
  const kv_field *u1 = NULL;
  if (rc == KV_OK) rc = ft->state(r->full, &u1);
  if (rc == KV_OK) {
    pack(u1, r->floc);
    lift(r, r->a);
    for (long i = 0; i < r->nloc; i++) {
      nrm[0] += (r->uloc[i] - r->floc[i]) * (r->uloc[i] - r->floc[i]);
      nrm[1] += (r->floc[i] - v[i]) * (r->floc[i] - v[i]);
    }
  }
  free(v);
  KV_CHECK(rc);
  MPI_Allreduce(MPI_IN_PLACE, nrm, 2, MPI_DOUBLE, MPI_SUM, r->comm);
  r->chk_err = nrm[1] > 0.0 ? sqrt(nrm[0] / nrm[1]) : (nrm[0] > 0.0 ? INFINITY : 0.0);
  r->chk_eta = r->eta;
  return KV_OK;
}

/* OpenBLAS parallelises even k x k factorisations; at ROM sizes the threads' hand-offs cost
 * milliseconds per step (measured: 20 ms of sched_yield for k = 21), so the reduced algebra runs on
 * one thread and the full-solver updates with the caller's. */
static int rom_step(kv_model *m, double *t) {
  kv_rom *r = (kv_rom *)m;
  int threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  r->blas_threads = threads;
  int rc = rom_step_inner(r, t);
  openblas_set_num_threads(threads);
  return rc;
}

static int rom_step_inner(kv_rom *r, double *t) {
  int k = r->k, kf = r->W ? kv_pod_nmodes(r->W) : 0;
  memcpy(r->a0, r->a, (size_t)k * sizeof *r->a);
  double FE0[r->ne + 1], uE0[r->ne + 1];
  memcpy(FE0, r->FE, (size_t)r->ne * sizeof *FE0);
  memcpy(uE0, r->uE, (size_t)r->ne * sizeof *uE0);
  if (r->li) {
    KV_CHECK(li_step(r));
    if (r->check_every > 0 && r->step % r->check_every == 0) KV_CHECK(check_step(r));
    if (r->adaptive && r->eta > r->tol) {
      double eta = r->eta;
      KV_CHECK(full_update(r));
      r->eta = eta;
    }
    goto done;
  }
  if (r->linear) {
    cblas_dcopy(k, r->d, 1, r->a, 1);
    cblas_dgemv(CblasColMajor, CblasNoTrans, k, k, 1.0, r->M, k, r->a0, 1, 1.0, r->a, 1);
  } else {
    int rc = newton_step(r);
    if (rc == KV_ERR_NUMERIC && r->adaptive) {
      /* The reduced system has no solution near the basis: the full solver takes this step. */
      kv_warn("%s; taking a full step", kv_error_message());
      r->eta = INFINITY;
      KV_CHECK(full_update(r));
      KV_CHECK(refresh_point_values(r));
      goto done;
    }
    KV_CHECK(rc);
  }
  KV_CHECK(refresh_point_values(r));
  /* The indicator: the full residual of the step at the random cells, relative to the full
   * model's tendency there. */
  double rr = 0.0, ff = 0.0;
  for (int c = 0; c < r->ne; c++) {
    double f = r->theta * r->FE[c] + (1.0 - r->theta) * FE0[c];
    double res = r->uE[c] - uE0[c] - r->dt * f;
    rr += res * res;
    ff += r->dt * r->dt * fmax(FE0[c] * FE0[c], r->FE[c] * r->FE[c]);
  }
  r->eta = ff > 0.0 ? sqrt(rr / ff) : (rr > 0.0 ? 1.0 : 0.0);
  if (!isfinite(r->eta)) r->eta = INFINITY;
  if (r->check_every > 0 && r->step % r->check_every == 0) KV_CHECK(check_step(r));
  if (r->adaptive && r->eta > r->tol) {
    double eta = r->eta;
    KV_CHECK(full_update(r));
    r->eta = eta;
    KV_CHECK(refresh_point_values(r));
  }
done:
  (void)kf;
  r->eta_max = fmax(r->eta_max, r->eta);
  if (r->means) {
    cblas_daxpy(r->k, 1.0, r->a, 1, r->a_sum, 1);
    r->nsum++;
  }
  r->step++;
  r->t = r->t_origin + (double)r->step * r->dt;
  *t = r->t;
  double an = cblas_dnrm2(r->k, r->a, 1);
  if (!isfinite(an)) {
    return KV_ERROR(KV_ERR_NUMERIC, "rom: non-finite reduced state at step %ld", r->step);
  }
  return KV_OK;
}

static int rom_state(const kv_model *m, const kv_field **out) {
  kv_rom *r = (kv_rom *)m;
  lift(r, r->a);
  *out = r->u;
  return KV_OK;
}

static int rom_outputs(kv_model *m, kv_output_list *out) {
  kv_rom *r = (kv_rom *)m;
  if (r->means && r->nsum > 0) {
    /* The mean of the lifted states is the lift of the mean. */
    cblas_dscal(r->k, 1.0 / (double)r->nsum, r->a_sum, 1);
    lift(r, r->a_sum);
    memset(r->a_sum, 0, (size_t)r->k * sizeof *r->a_sum);
    r->nsum = 0;
  } else {
    lift(r, r->a);
  }
  KV_CHECK(r->full->type->set_state(r->full, r->u, r->step));
  KV_CHECK(r->full->type->outputs(r->full, out));
  KV_CHECK(kv_output_add_scalar(out, "rom/indicator", "1",
                                "largest error indicator since the previous record", r->eta_max));
  KV_CHECK(kv_output_add_scalar(out, "rom/updates", "1",
                                "full-solver steps (basis updates) so far", (double)r->updates));
  KV_CHECK(kv_output_add_scalar(out, "rom/modes", "1", "modes of the basis", (double)r->k));
  if (r->check_every > 0) {
    KV_CHECK(kv_output_add_scalar(out, "rom/local_error", "1", "true error of the last checked ROM "
                                  "step, relative to its change (rom.check_every; NaN: none)",
                                  r->chk_err));
    KV_CHECK(kv_output_add_scalar(out, "rom/checked_indicator", "1",
                                  "error indicator of the same step", r->chk_eta));
    r->chk_err = r->chk_eta = NAN;
  }
  KV_CHECK(kv_output_add_scalar(out, "rom/deim_points", "1", "DEIM points",
                                r->W ? (double)kv_pod_nmodes(r->W) : 0.0));
  r->eta_max = 0.0;
  return KV_OK;
}

static int rom_info(const kv_model *m, kv_model_info *out) {
  const kv_rom *r = (const kv_rom *)m;
  *out = r->finfo;
  out->step0 = r->step;
  out->t0 = r->t;
  out->title = "kelvin reduced-order model (POD-Galerkin, DEIM, adaptive)";
  return KV_OK;
}

/* ------------------------------------------------------------------ checkpoint and restart */

/* The bases after `updates` updates, beside the checkpoint chk. */
static void basis_path(const char *chk, long updates, char *buf, size_t n) {
  snprintf(buf, n, "%s.basis-%ld.h5", chk, updates);
}

/* The modes of p in global cell order into a (k, grid...) dataset of s (rank 0). Collective. */
static int put_modes(kv_rom *r, kv_h5_store *s, const char *name, const kv_pod *p) {
  int rank, size;
  MPI_Comm_rank(r->comm, &rank);
  MPI_Comm_size(r->comm, &size);
  int k = kv_pod_nmodes(p), nl = (int)r->nloc;
  int *cnt = rank == 0 ? malloc((size_t)size * sizeof *cnt) : NULL;
  int *dsp = rank == 0 ? malloc((size_t)size * sizeof *dsp) : NULL;
  long *gi = rank == 0 ? malloc(((size_t)r->N + 1) * sizeof *gi) : NULL;
  double *col = rank == 0 ? malloc(((size_t)r->N + 1) * sizeof *col) : NULL;
  double *all = rank == 0 ? malloc(((size_t)r->N * k + 1) * sizeof *all) : NULL;
  int rc = rank != 0 || (cnt && dsp && gi && col && all) ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  rc = kv_status_agree(r->comm, rc);
  if (rc == KV_OK) {
    MPI_Gather(&nl, 1, MPI_INT, cnt, 1, MPI_INT, 0, r->comm);
    if (rank == 0)
      for (int q = 0, o = 0; q < size; q++, o += cnt[q - 1]) dsp[q] = o;
    MPI_Gatherv(r->gidx, nl, MPI_LONG, gi, cnt, dsp, MPI_LONG, 0, r->comm);
    for (int j = 0; j < k; j++) {
      MPI_Gatherv(kv_pod_modes(p) + (size_t)j * r->nloc, nl, MPI_DOUBLE, col, cnt, dsp, MPI_DOUBLE,
                  0, r->comm);
      if (rank == 0)
        for (long i = 0; i < r->N; i++) all[(size_t)j * r->N + gi[i]] = col[i];
    }
    if (rank == 0) {
      const long *n = kv_grid_global_n(r->grid);
      int nd = kv_grid_ndims(r->grid);
      long dims[4] = {k, 0, 0, 0}, kk = k;
      for (int d = 0; d < nd; d++) dims[1 + d] = n[nd - 1 - d];
      char sn[64];
      snprintf(sn, sizeof sn, "%s_sigma", name);
      rc = kv_h5_store_put(s, name, nd + 1, dims, all);
      if (rc == KV_OK) rc = kv_h5_store_put(s, sn, 1, &kk, kv_pod_sigma(p));
    }
  }
  free(cnt);
  free(dsp);
  free(gi);
  free(col);
  free(all);
  return kv_status_agree(r->comm, rc);
}

/* The bases after `updates` updates, beside the checkpoint (atomically). Collective. */
static int save_bases(kv_rom *r) {
  char path[4300];
  basis_path(r->chk, r->updates, path, sizeof path);
  int rank;
  MPI_Comm_rank(r->comm, &rank);
  kv_h5_store *s = NULL;
  int rc = rank == 0 ? kv_h5_store_create(path, &s) : KV_OK;
  rc = kv_status_agree(r->comm, rc);
  if (rc == KV_OK) rc = put_modes(r, s, "rom/modes", r->V);
  if (rc == KV_OK && r->W) rc = put_modes(r, s, "rom/deim_modes", r->W);
  if (rank == 0 && s) {
    if (rc == KV_OK) rc = kv_h5_store_put_number(s, "/", "updates", (double)r->updates);
    int rc2 = kv_h5_store_close(s, rc == KV_OK);
    if (rc == KV_OK) rc = rc2;
  }
  return kv_status_agree(r->comm, rc);
}

/* Everything a restart needs beyond the files' records: the lifted state and record sum, the
 * step and the number of updates; the updated bases go to <checkpoint>.basis-<updates>.h5 (the
 * one the checkpoint before this one names is kept until this one is written). Collective. */
static int rom_checkpoint(kv_model *m, kv_output_list *out) {
  kv_rom *r = (kv_rom *)m;
  if (r->updates > 0 && r->saved[1] != r->updates) {
    KV_CHECK(save_bases(r));
    int rank;
    MPI_Comm_rank(r->comm, &rank);
    if (rank == 0 && r->saved[0] > 0 && r->saved[0] != r->updates && r->saved[0] != r->saved[1]) {
      char old[4300];
      basis_path(r->chk, r->saved[0], old, sizeof old);
      remove(old);
    }
    r->saved[0] = r->saved[1];
    r->saved[1] = r->updates;
  }
  lift(r, r->a_sum);
  KV_CHECK(kv_field_copy(r->u2, r->u));
  lift(r, r->a);
  out->has_time = 1;
  out->time = r->t;
  KV_CHECK(kv_output_add_field(out, "rom_state", "1", "the ROM's state V a (the model's units)", r->u));
  KV_CHECK(kv_output_add_field(out, "rom_sum", "1", "sum of the states of the current record "
                               "period (rom_nsum of them)", r->u2));
  KV_CHECK(kv_output_add_scalar(out, "rom_nsum", "1", "states in rom_sum", (double)r->nsum));
  KV_CHECK(kv_output_add_scalar(out, "rom_step", "1", "step index of the state", (double)r->step));
  return kv_output_add_scalar(out, "rom/updates", "1", "full-solver steps (basis updates) so far",
                              (double)r->updates);
}

/* Replace the bases by those of a file written by save_bases. Collective. */
static int load_saved_bases(kv_rom *r, const char *path) {
  int rank;
  MPI_Comm_rank(r->comm, &rank);
  long hdr[2] = {0, 0};
  kv_h5_array sg[2] = {{0}, {0}};
  int rc = KV_OK;
  if (rank == 0) {
    rc = kv_h5_probe(path, 0);
    if (rc == KV_OK) rc = kv_h5_read_array(path, "rom/modes_sigma", &sg[0]);
    if (rc == KV_OK && r->W) rc = kv_h5_read_array(path, "rom/deim_modes_sigma", &sg[1]);
    hdr[0] = sg[0].count;
    hdr[1] = sg[1].count;
  }
  rc = kv_status_agree(r->comm, rc);
  if (rc != KV_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", kv_error_message());
    return KV_ERROR(KV_ERR_FORMAT, "restart: the ROM's bases saved with the checkpoint cannot be "
                    "read: %s", why);
  }
  MPI_Bcast(hdr, 2, MPI_LONG, 0, r->comm);
  kv_pod *np[2] = {NULL, NULL};
  for (int b = 0; b < (r->W ? 2 : 1) && rc == KV_OK; b++) {
    int k = (int)hdr[b];
    double *U = malloc(((size_t)r->nloc * k + 1) * sizeof *U), *sv = malloc(((size_t)k + 1) * sizeof *sv);
    rc = kv_status_agree(r->comm, U && sv ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory"));
    if (rc == KV_OK) rc = read_modes(r, path, b ? "rom/deim_modes" : "rom/modes", k, U);
    if (rc == KV_OK) {
      if (rank == 0) memcpy(sv, sg[b].data, (size_t)k * sizeof *sv);
      MPI_Bcast(sv, k, MPI_DOUBLE, 0, r->comm);
      rc = kv_pod_wrap(r->comm, r->nloc, k, U, sv, &np[b]);
    }
    free(U);
    free(sv);
  }
  kv_h5_array_free(&sg[0]);
  kv_h5_array_free(&sg[1]);
  if (rc != KV_OK) {
    kv_pod_free(np[0]);
    kv_pod_free(np[1]);
    return rc;
  }
  kv_pod_free(r->V);
  r->V = np[0];
  if (r->W) {
    kv_pod_free(r->W);
    r->W = np[1];
  }
  r->k = kv_pod_nmodes(r->V);
  if (r->linear) KV_CHECK(assemble_linear(r));
  return rom_refresh(r);
}

/* Continue from a ROM checkpoint (state, record sum, updated bases: the run goes on as if never
 * stopped), or from an output file of the full model's layout (heat: its last state, projected
 * on the basis). Collective. */
static int rom_restart(kv_model *m, const char *path) {
  kv_rom *r = (kv_rom *)m;
  int rank;
  MPI_Comm_rank(r->comm, &rank);
  double v[3] = {0.0, 0.0, 0.0}; /* is a ROM checkpoint, step, updates; nsum below */
  double nsum = 0.0;
  int rc = KV_OK;
  if (rank == 0) {
    rc = kv_h5_probe(path, 0);
    if (rc == KV_OK) {
      kv_h5_store *s = NULL;
      rc = kv_h5_store_open(path, &s);
      if (rc == KV_OK) v[0] = kv_h5_store_has(s, "rom_state");
      if (s) kv_h5_store_close(s, 0);
    }
    if (rc == KV_OK && v[0]) {
      static const char *const names[] = {"rom_step", "rom/updates", "rom_nsum"};
      double *dst[] = {&v[1], &v[2], &nsum};
      for (int q = 0; q < 3 && rc == KV_OK; q++) {
        kv_h5_array a = {0};
        rc = kv_h5_read_array(path, names[q], &a);
        if (rc == KV_OK && a.count < 1) rc = KV_ERROR(KV_ERR_FORMAT, "restart: '%s': /%s is empty", path, names[q]);
        if (rc == KV_OK) *dst[q] = a.data[a.count - 1];
        kv_h5_array_free(&a);
      }
    }
  }
  KV_CHECK(kv_status_agree(r->comm, rc));
  double b[4] = {v[0], v[1], v[2], nsum};
  MPI_Bcast(b, 4, MPI_DOUBLE, 0, r->comm);
  if (!b[0]) {
    if (r->means) {
      return KV_ERROR(KV_ERR_UNSUPPORTED, "restart: '%s' is not a ROM checkpoint; a ROM of the %s "
                      "model restarts from the <output>.checkpoint.h5 that run.checkpoint_every or "
                      "an interrupt writes (its records are means)", path, r->full->type->name);
    }
    /* A file of the full model's layout: its last state, projected on the basis. */
    KV_CHECK(kv_model_restart(r->full, path));
    kv_model_info fi;
    KV_CHECK(kv_model_info_get(r->full, &fi));
    const kv_field *u;
    KV_CHECK(r->full->type->state(r->full, &u));
    pack(u, r->uloc);
    KV_CHECK(kv_pod_project(r->V, r->uloc, r->a));
    r->step = fi.step0;
    r->t = fi.t0;
    return refresh_point_values(r);
  }
  long step = lround(b[1]), updates = lround(b[2]);
  if (step < 0 || step >= r->finfo.nsteps) {
    return KV_ERROR(KV_ERR_CONFIG, "restart: '%s' is at step %ld, this run ends at step %ld",
                    path, step, r->finfo.nsteps);
  }
  if (updates > 0) {
    char bp[4300];
    basis_path(path, updates, bp, sizeof bp);
    KV_CHECK(load_saved_bases(r, bp));
  }
  r->updates = updates;
  r->saved[0] = r->saved[1] = updates;
  double *buf = malloc(((size_t)r->nloc + 1) * sizeof *buf);
  KV_CHECK(kv_status_agree(r->comm, buf ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory")));
  rc = read_modes(r, path, "rom_state", 1, buf);
  if (rc == KV_OK) rc = kv_pod_project(r->V, buf, r->a);
  if (rc == KV_OK) rc = read_modes(r, path, "rom_sum", 1, buf);
  if (rc == KV_OK) rc = kv_pod_project(r->V, buf, r->a_sum);
  free(buf);
  KV_CHECK(rc);
  r->nsum = lround(b[3]);
  r->step = step;
  r->t = r->t_origin + (double)step * r->dt;
  return refresh_point_values(r);
}

const kv_model_type kv_rom_type = {
    .name = "rom",
    .keys = kv_rom_keys,
    .wraps_key = "rom.model",
    .create = rom_create,
    .step = rom_step,
    .state = rom_state,
    .outputs = rom_outputs,
    .info = rom_info,
    .restart = rom_restart,
    .checkpoint = rom_checkpoint,
    .free = rom_free,
};

/* ------------------------------------------------------------------ kelvin fit (kind = pod) */

/* Append the nrec x N array v to the column-major snapshot matrix *S of *m columns. */
static int append_snapshots(double **S, long *m, long N, const double *v, long nrec) {
  double *t = realloc(*S, ((size_t)(*m + nrec) * (size_t)N + 1) * sizeof *t);
  if (!t) return KV_ERROR(KV_ERR_NOMEM, "rom: out of memory for %ld snapshots of %ld cells",
                          *m + nrec, N);
  memcpy(t + (size_t)*m * N, v, (size_t)nrec * (size_t)N * sizeof *v);
  *S = t;
  *m += nrec;
  return KV_OK;
}

/* The configuration stored in a run file, validated, and its model's name (borrowed from it). */
static int case_config(const char *file, kv_config **out, const char **model) {
  KV_CHECK(kv_h5_probe(file, 0));
  kv_h5_store *s = NULL;
  char *text = NULL;
  kv_config *c = NULL;
  int rc = kv_h5_store_open(file, &s);
  if (rc == KV_OK) rc = kv_h5_store_get_text(s, "/", "config", &text);
  if (s) kv_h5_store_close(s, 0);
  if (rc == KV_OK) rc = kv_config_parse_string(text, file, &c);
  if (rc == KV_OK) rc = kv_run_validate(c);
  free(text);
  if (rc == KV_OK) {
    const char *name = kv_config_value(c, "run.model");
    *model = name ? name : "heat";
    const kv_model_type *t = kv_model_type_find(*model);
    if (!t || !t->residual || t->wraps_key) {
      rc = KV_ERROR(KV_ERR_UNSUPPORTED, "'%s': a POD ROM is built for a model with reduced-order "
                    "hooks (heat, ebm), this file is of model %s", file, *model);
    }
  }
  if (rc != KV_OK) {
    kv_config_free(c);
    return rc;
  }
  *out = c;
  return KV_OK;
}

/* Snapshots of a model without stored instantaneous states (the ebm records annual means): run
 * the case again on this process and keep the state and F of every `every`-th step, the initial
 * state first. */
static int resimulate(const kv_config *c, const char *file, long every, long *N, int *nd, long *n,
                      double **S, long *m, double **SF, long *mf) {
  const kv_model_type *t = kv_model_type_find(kv_config_value(c, "run.model"));
  kv_model *md = NULL;
  kv_field *f = NULL;
  kv_model_info in;
  double *buf = NULL;
  int rc = kv_model_create(t, MPI_COMM_SELF, c, &md);
  if (rc == KV_OK) rc = kv_model_info_get(md, &in);
  if (rc == KV_OK) rc = kv_field_create(in.grid, &f);
  if (rc != KV_OK) goto done;
  *nd = kv_grid_ndims(in.grid);
  for (int d = 0; d < 3; d++) n[d] = kv_grid_global_n(in.grid)[d];
  long cells = kv_grid_global_count(in.grid);
  if (*N > 0 && cells != *N) {
    rc = KV_ERROR(KV_ERR_INVALID, "'%s' is on another grid than the first run: one basis needs "
                  "one grid", file);
    goto done;
  }
  *N = cells;
  buf = malloc((size_t)cells * sizeof *buf);
  if (!buf) {
    rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    goto done;
  }
  long total = in.nsteps - in.step0, tick = total / 10 > 0 ? total / 10 : 1;
  for (long k = in.step0; rc == KV_OK && k <= in.nsteps; k++) {
    if ((k - in.step0) % every == 0) {
      const kv_field *u;
      rc = t->state(md, &u);
      if (rc == KV_OK) {
        pack(u, buf);
        rc = append_snapshots(S, m, cells, buf, 1);
      }
      if (rc == KV_OK) rc = t->residual(md, k, u, f);
      if (rc == KV_OK) {
        pack(f, buf);
        rc = append_snapshots(SF, mf, cells, buf, 1);
      }
    }
    double tt;
    if (rc == KV_OK && k < in.nsteps) rc = kv_model_step(md, &tt);
    if (rc == KV_OK && (k - in.step0 + 1) % tick == 0 && k < in.nsteps) {
      kv_info("fit: %s: step %ld of %ld re-simulated", file, k - in.step0 + 1, total);
    }
  }
done:
  free(buf);
  kv_field_free(f);
  kv_model_free(md);
  return rc;
}

/* A solver for the hooks only: explicit scheme, no linear solver to set up. */
static int hook_solver(kv_heat_params p, int unit_scales, kv_heat **h) {
  p.scheme = KV_HEAT_EXPLICIT;
  p.dt = 0.0;
  if (unit_scales) {
    p.kappa /= p.kappa_scale;
    p.kappa_scale = 1.0;
    p.source_scale = 1.0;
  }
  return kv_heat_create(MPI_COMM_SELF, &p, h);
}

int kv_rom_fit(const kv_config *cfg, char *const *files, long nfiles, const char *path,
               kv_rom_fit_info *info) {
  memset(info, 0, sizeof *info);
  if (nfiles < 1) return KV_ERROR(KV_ERR_INVALID, "rom: no training runs");
  double energy;
  long maxm, maxf;
  KV_CHECK(kv_config_get_double(cfg, "surrogate.energy", 1e-6, 1.0, &energy));
  if (!kv_config_given(cfg, "surrogate.energy")) energy = 1.0 - 1e-10;
  KV_CHECK(kv_config_get_int(cfg, "surrogate.modes", 0, 100000, &maxm));
  KV_CHECK(kv_config_get_int(cfg, "surrogate.deim_modes", 0, 100000, &maxf));
  long every;
  KV_CHECK(kv_config_get_int(cfg, "surrogate.snapshot_every", 1, 1000000000L, &every));
  kv_heat_params p0, p;
  double *S = NULL, *SF = NULL;
  long m = 0, mf = 0, N = 0, n[3] = {1, 1, 1};
  int linear = 1, rc = KV_OK, nd = 0;
  char model0[32] = "";
  kv_config *c = NULL;
  kv_heat *h = NULL;
  kv_field *u = NULL, *f = NULL;
  kv_pod *V = NULL, *W = NULL;
  kv_h5_store *st = NULL;
  char *text = NULL;
  double *w = NULL, *Ops = NULL, *uref = NULL;
  /* Per kappa(T) case: its parameters and where its columns start in S and SF. */
  kv_heat_params *cp = malloc(((size_t)nfiles + 1) * sizeof *cp);
  long *cs = malloc(((size_t)nfiles * 3 + 1) * sizeof *cs), ncase = 0;
  if (!cp || !cs) {
    rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    goto cleanup;
  }
  for (long i = 0; i < nfiles; i++) {
    const char *model;
    kv_config_free(c);
    c = NULL;
    KV_TRY(case_config(files[i], &c, &model));
    if (i == 0) {
      snprintf(model0, sizeof model0, "%s", model);
    } else if (strcmp(model, model0) != 0) {
      rc = KV_ERROR(KV_ERR_INVALID, "'%s' is a run of model %s, '%s' of %s: one basis, one model",
                    files[i], model, files[0], model0);
      goto cleanup;
    }
    if (strcmp(model, "heat") != 0) {
      linear = 0;
      KV_TRY(resimulate(c, files[i], every, &N, &nd, n, &S, &m, &SF, &mf));
      continue;
    }
    KV_TRY(kv_heat_params_from_config(c, i == 0 ? &p0 : &p));
    if (i == 0) {
      p = p0;
      N = 1;
      nd = p0.dims;
      for (int d = 0; d < p0.dims; d++) N *= (n[d] = p0.n[d]);
    }
    int same = p.dims == p0.dims;
    for (int d = 0; same && d < p.dims; d++) same = p.n[d] == p0.n[d];
    if (!same) {
      rc = KV_ERROR(KV_ERR_INVALID, "'%s' is on another grid than '%s': one basis needs one grid",
                    files[i], files[0]);
      goto cleanup;
    }
    kv_h5_array a;
    KV_TRY(kv_h5_read_array(files[i], "T", &a));
    if (a.count % N != 0 || a.count == 0) {
      kv_h5_array_free(&a);
      rc = KV_ERROR(KV_ERR_FORMAT, "'%s': T has %ld values, not whole fields of %ld cells",
                    files[i], a.count, N);
      goto cleanup;
    }
    long nrec = a.count / N;
    int nl = strcmp(p.kappa_field.name, "linear") == 0 || strcmp(p.kappa_field.name, "power") == 0;
    if (nl) {
      cp[ncase] = p;
      cs[3 * ncase] = m;
      cs[3 * ncase + 1] = mf;
      cs[3 * ncase + 2] = nrec;
      ncase++;
    }
    rc = append_snapshots(&S, &m, N, a.data, nrec);
    linear &= !nl;
    if (rc == KV_OK && nl) {
      /* F at every record, by this case's own parameters. */
      rc = hook_solver(p, 0, &h);
      if (rc == KV_OK) rc = kv_field_create(kv_field_grid(kv_heat_state(h)), &u);
      if (rc == KV_OK) rc = kv_field_create(kv_field_grid(kv_heat_state(h)), &f);
      double *fr = rc == KV_OK ? malloc((size_t)N * sizeof *fr) : NULL;
      if (rc == KV_OK && !fr) rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
      for (long j = 0; rc == KV_OK && j < nrec; j++) {
        unpack(a.data + (size_t)j * N, u);
        rc = kv_heat_type.residual((kv_model *)h, 0, u, f);
        if (rc == KV_OK) {
          pack(f, fr);
          rc = append_snapshots(&SF, &mf, N, fr, 1);
        }
      }
      free(fr);
      kv_field_free(u);
      kv_field_free(f);
      u = f = NULL;
      kv_heat_free(h);
      h = NULL;
    }
    kv_h5_array_free(&a);
    KV_TRY(rc);
  }
  KV_TRY(kv_pod_compute(MPI_COMM_SELF, N, (int)m, S, energy, (int)maxm, &V));
  int k = kv_pod_nmodes(V);
  const double *sg = kv_pod_sigma(V);
  /* Energy kept: from the snapshot matrix's Frobenius norm. */
  double tot = 0.0, kept = 0.0;
  for (long i = 0; i < m * N; i++) tot += S[i] * S[i];
  for (int j = 0; j < k; j++) kept += sg[j] * sg[j];
  info->energy = tot > 0.0 ? kept / tot : 1.0;
  info->modes = k;
  info->snapshots = m;
  info->linear = linear;
  info->split = ncase > 0;
  if (ncase > 0) {
    /* The split F = L u + N(u), L the Jacobian of F at the mean snapshot: the DEIM basis is of N,
     * the ROM projects L exactly. */
    uref = calloc((size_t)N + 1, sizeof *uref);
    double *tmp = malloc(((size_t)N + 1) * sizeof *tmp), *Lu = malloc(((size_t)N + 1) * sizeof *Lu);
    if (!uref || !tmp || !Lu) rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    for (long j = 0; rc == KV_OK && j < m; j++) cblas_daxpy((int)N, 1.0 / (double)m, S + (size_t)j * N, 1, uref, 1);
    for (long q = 0; rc == KV_OK && q < ncase; q++) {
      rc = hook_solver(cp[q], 0, &h);
      if (rc == KV_OK) rc = kv_field_create(kv_field_grid(kv_heat_state(h)), &u);
      if (rc == KV_OK) rc = kv_field_create(kv_field_grid(kv_heat_state(h)), &f);
      for (long j = 0; rc == KV_OK && j < cs[3 * q + 2]; j++) {
        rc = jacobian_apply((kv_model *)h, 0, MPI_COMM_SELF, N, uref, S + (size_t)(cs[3 * q] + j) * N,
                            u, f, tmp, Lu);
        if (rc == KV_OK) cblas_daxpy((int)N, -1.0, Lu, 1, SF + (size_t)(cs[3 * q + 1] + j) * N, 1);
      }
      kv_field_free(u);
      kv_field_free(f);
      u = f = NULL;
      kv_heat_free(h);
      h = NULL;
    }
    free(tmp);
    free(Lu);
    KV_TRY(rc);
  }
  if (!linear) {
    KV_TRY(kv_pod_compute(MPI_COMM_SELF, N, (int)mf, SF, energy, (int)maxf, &W));
    info->deim_modes = kv_pod_nmodes(W);
  }
  KV_TRY(kv_h5_store_create(path, &st));
  KV_TRY(kv_config_to_text(cfg, &text));
  KV_TRY(kv_h5_store_put_text(st, "/", "kind", "pod"));
  KV_TRY(kv_h5_store_put_text(st, "/", "model", model0));
  KV_TRY(kv_h5_store_put_text(st, "/", "config", text));
  KV_TRY(kv_h5_store_put_number(st, "/", "snapshots", (double)m));
  KV_TRY(kv_h5_store_put_number(st, "/", "training_runs", (double)nfiles));
  {
    long dims[4] = {k, 0, 0, 0}, ndl = nd;
    double gn[3];
    for (int d = 0; d < nd; d++) {
      dims[1 + d] = n[nd - 1 - d];
      gn[d] = (double)n[d];
    }
    KV_TRY(kv_h5_store_put(st, "rom/n", 1, &ndl, gn));
    KV_TRY(kv_h5_store_put(st, "rom/modes", nd + 1, dims, kv_pod_modes(V)));
    long kk = k;
    KV_TRY(kv_h5_store_put(st, "rom/sigma", 1, &kk, sg));
    KV_TRY(kv_h5_store_put_text(st, "rom/modes", "long_name", "POD modes of the state (orthonormal)"));
    if (W) {
      dims[0] = kv_pod_nmodes(W);
      kk = dims[0];
      KV_TRY(kv_h5_store_put(st, "rom/deim_modes", nd + 1, dims, kv_pod_modes(W)));
      KV_TRY(kv_h5_store_put(st, "rom/deim_sigma", 1, &kk, kv_pod_sigma(W)));
      KV_TRY(kv_h5_store_put_text(st, "rom/deim_modes", "long_name", uref
                                  ? "POD modes of N(u) = F(u) - L u (L: the Jacobian of F = du/dt at "
                                    "rom/u_ref) for the DEIM hyper-reduction"
                                  : "POD modes of F(u) = du/dt for the DEIM hyper-reduction"));
      if (uref) {
        long d1[4] = {1, dims[1], dims[2], dims[3]};
        KV_TRY(kv_h5_store_put(st, "rom/u_ref", nd + 1, d1, uref));
        KV_TRY(kv_h5_store_put_text(st, "rom/u_ref", "long_name", "the mean snapshot, where the "
                                    "ROM linearises F to project its linear part exactly"));
      }
      /* The DEIM points, for inspection (a run selects them again, the same way). */
      kv_rom tmp = {0};
      tmp.comm = MPI_COMM_SELF;
      tmp.nloc = N;
      tmp.gidx = malloc(((size_t)N + 1) * sizeof *tmp.gidx);
      long *P = malloc(((size_t)kk + 1) * sizeof *P);
      double *Pd = malloc(((size_t)kk + 1) * sizeof *Pd);
      rc = tmp.gidx && P && Pd ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
      for (long i = 0; rc == KV_OK && i < N; i++) tmp.gidx[i] = i;
      if (rc == KV_OK) rc = deim_points(&tmp, W, P);
      for (long i = 0; rc == KV_OK && i < kk; i++) Pd[i] = (double)P[i];
      if (rc == KV_OK) rc = kv_h5_store_put(st, "rom/deim_points", 1, &kk, Pd);
      free(tmp.gidx);
      free(P);
      free(Pd);
      KV_TRY(rc);
    }
  }
  if (linear) {
    /* Reduced operators at unit kappa and source scales: A_1 = V^T A V (A the homogeneous part of
     * L_h), b_1 = V^T L_h(0), q_1 = V^T q. */
    KV_TRY(hook_solver(p0, 1, &h));
    const kv_grid *g = kv_field_grid(kv_heat_state(h));
    KV_TRY(kv_field_create(g, &u));
    KV_TRY(kv_field_create(g, &f));
    w = malloc((size_t)N * sizeof *w);
    Ops = calloc((size_t)k * (k + 2) + 1, sizeof *Ops);
    if (!w || !Ops) {
      rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
      goto cleanup;
    }
    const double *U = kv_pod_modes(V);
    for (int j = 0; j <= k + 1; j++) {
      if (j < k) {
        unpack(U + (size_t)j * N, u);
        KV_TRY(kv_heat_operator(h, u, 1, f));
      } else if (j == k) {
        kv_field_fill(u, 0.0);
        KV_TRY(kv_heat_operator(h, u, 0, f));
      } else {
        KV_TRY(kv_heat_source(h, f));
      }
      pack(f, w);
      cblas_dgemv(CblasColMajor, CblasTrans, (int)N, k, 1.0, U, (int)N, w, 1, 0.0,
                  Ops + (size_t)j * k, 1);
    }
    long d2[2] = {k, k}, d1 = k;
    KV_TRY(kv_h5_store_put(st, "rom/A", 2, d2, Ops));
    KV_TRY(kv_h5_store_put(st, "rom/b", 1, &d1, Ops + (size_t)k * k));
    KV_TRY(kv_h5_store_put(st, "rom/q", 1, &d1, Ops + (size_t)k * (k + 1)));
    KV_TRY(kv_h5_store_put_text(st, "rom/A", "long_name", "V^T A V at heat.kappa_scale = 1 "
                                "(column j: V^T A v_j)"));
  }
  rc = kv_h5_store_close(st, 1);
  st = NULL;
cleanup:
  if (st) kv_h5_store_close(st, 0);
  kv_config_free(c);
  kv_field_free(u);
  kv_field_free(f);
  kv_heat_free(h);
  kv_pod_free(V);
  kv_pod_free(W);
  free(S);
  free(SF);
  free(w);
  free(Ops);
  free(uref);
  free(cp);
  free(cs);
  free(text);
  return rc;
}

#include "solvers/heat/pcg.h"
#include "core/comm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

#define KV_PCG_MAXLEV 30

typedef struct {
  kv_grid *grid;       /* owned on levels > 0                                     */
  const kv_grid *g;    /* the grid of this level                                  */
  kv_field *kappa;     /* with ghosts: halo, and copies on physical faces          */
  kv_field *dinv;      /* 1 / diagonal of A                                       */
  kv_field *x, *f, *r; /* multigrid work: correction, right-hand side, residual   */
  double coef;
} level;

struct kv_pcg {
  kv_pcg_params p;
  int nlev;
  level lev[KV_PCG_MAXLEV];
  kv_field *r, *z, *pp, *q; /* CG vectors on the finest grid */
  MPI_Comm comm;
};

void kv_pcg_params_default(kv_pcg_params *p) {
  memset(p, 0, sizeof *p);
  p->kappa0 = 1.0;
  p->pc = KV_PC_MG;
  p->rtol = 1e-8;
  p->maxit = 500;
  p->smooth = 2;
  p->coarse_sweeps = 40;
  p->omega = 0.8;
  p->alpha = 1.5;
  p->max_levels = KV_PCG_MAXLEV;
}

/* ---------------------------------------------------------------- field helpers */

/* Loop over the interior cells of field f on grid g with linear index p (and i_, j_, k_). The
 * single-pass outer loops scope the helpers so the macro can be used twice in one block. */
#define FOR_INTERIOR(g, f, p)                                                                      \
  for (const long *nl_ = kv_grid_local_n(g), *st_ = kv_field_stride(f); nl_; nl_ = NULL)           \
    for (const int *gh_ = kv_field_ghost(f); gh_; gh_ = NULL)                                      \
      for (long k_ = 0; k_ < nl_[2]; k_++)                                                         \
        for (long j_ = 0; j_ < nl_[1]; j_++)                                                       \
          for (long i_ = 0, p = kv_field_index(st_, gh_, 0, j_, k_); i_ < nl_[0]; i_++, p++)

static double dot(MPI_Comm comm, const kv_grid *g, const kv_field *a, const kv_field *b) {
  const double *x = kv_field_data_const(a), *y = kv_field_data_const(b);
  double s = 0.0, t;
  FOR_INTERIOR(g, a, p) {
    s += x[p] * y[p];
  }
  kv_comm_allreduce(&s, &t, 1, MPI_DOUBLE, MPI_SUM, comm);
  return t;
}

static inline double hmean(double a, double b) {
  return 2.0 * a * b / (a + b);
}

/* out = x - coef L0(x) on level lv (x's ghosts are refreshed). */
static int apply(const kv_pcg *s, const level *lv, kv_field *x, kv_field *out) {
  KV_CHECK(kv_field_halo_exchange(x));
  kv_field_fill_boundary(x, (const int(*)[2])s->p.bc, NULL);
  const kv_grid *g = lv->g;
  int nd = kv_grid_ndims(g);
  const double *h = kv_grid_spacing(g), *u = kv_field_data_const(x),
               *K = kv_field_data_const(lv->kappa);
  double *o = kv_field_data(out);
  const long *stride = kv_field_stride(x);
  double r[3] = {0, 0, 0};
  for (int d = 0; d < nd; d++) {
    r[d] = lv->coef / (h[d] * h[d]);
  }
  FOR_INTERIOR(g, x, p) {
    double c = u[p], kc = K[p], acc = 0.0;
    for (int d = 0; d < nd; d++) {
      long sd = stride[d];
      acc +=
          r[d] * (hmean(kc, K[p + sd]) * (u[p + sd] - c) - hmean(kc, K[p - sd]) * (c - u[p - sd]));
    }
    o[p] = c - acc;
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- levels */

static int level_init(kv_pcg *s, level *lv, const kv_grid *g, double coef) {
  lv->g = g;
  lv->coef = coef;
  int rc = kv_field_create(g, &lv->kappa);
  if (rc == KV_OK) {
    rc = kv_field_create(g, &lv->dinv);
  }
  if (rc == KV_OK) {
    rc = kv_field_create(g, &lv->x);
  }
  if (rc == KV_OK) {
    rc = kv_field_create(g, &lv->f);
  }
  if (rc == KV_OK) {
    rc = kv_field_create(g, &lv->r);
  }
  (void)s;
  return rc;
}

/* Halo and boundary copies of kappa, then the inverse diagonal of A. */
static int level_finish(kv_pcg *s, level *lv) {
  KV_CHECK(kv_field_halo_exchange(lv->kappa));
  int copy[3][2];
  for (int d = 0; d < 3; d++) {
    for (int q = 0; q < 2; q++) {
      copy[d][q] = s->p.bc[d][q] == KV_GHOST_PERIODIC ? KV_GHOST_PERIODIC : KV_GHOST_COPY;
    }
  }
  kv_field_fill_boundary(lv->kappa, (const int(*)[2])copy, NULL);
  const kv_grid *g = lv->g;
  int nd = kv_grid_ndims(g);
  const double *h = kv_grid_spacing(g), *K = kv_field_data_const(lv->kappa);
  const long *nl = kv_grid_local_n(g);
  double *dv = kv_field_data(lv->dinv);
  const long *stride = kv_field_stride(lv->kappa);
  FOR_INTERIOR(g, lv->kappa, p) {
    long ijk[3] = {i_, j_, k_};
    double kc = K[p], diag = 1.0;
    for (int d = 0; d < nd; d++) {
      for (int side = 0; side < 2; side++) {
        int wall = kv_grid_at_boundary(g, d, side) && ijk[d] == (side == 0 ? 0 : nl[d] - 1);
        double w;
        if (!wall || s->p.bc[d][side] == KV_GHOST_PERIODIC) {
          w = hmean(kc, K[side == 0 ? p - stride[d] : p + stride[d]]);
        } else {
          w = s->p.bc[d][side] == KV_GHOST_DIRICHLET ? 2.0 * kc : 0.0;
        }
        diag += lv->coef * w / (h[d] * h[d]);
      }
    }
    dv[p] = 1.0 / diag;
  }
  return KV_OK;
}

/* Coarse value = mean of the 2^d children. */
static void restrict_avg(const level *fine, const kv_field *src, const level *coarse,
                         kv_field *dst) {
  int nd = kv_grid_ndims(fine->g);
  const double *u = kv_field_data_const(src);
  double *o = kv_field_data(dst);
  const long *fs = kv_field_stride(src);
  const int *fg = kv_field_ghost(src);
  double w = 1.0 / (double)(1 << nd);
  FOR_INTERIOR(coarse->g, dst, p) {
    double acc = 0.0;
    for (int c = 0; c < (1 << nd); c++) {
      long i = 2 * i_ + (c & 1), j = 2 * j_ + ((c >> 1) & 1), k = 2 * k_ + ((c >> 2) & 1);
      acc += u[kv_field_index(fs, fg, i, nd > 1 ? j : 0, nd > 2 ? k : 0)];
    }
    o[p] = w * acc;
  }
}

/* dst (fine) += alpha x coarse value on each of its 2^d children. */
static void prolong_add(const level *coarse, const kv_field *src, const level *fine, kv_field *dst,
                        double alpha) {
  int nd = kv_grid_ndims(fine->g);
  const double *u = kv_field_data_const(src);
  double *o = kv_field_data(dst);
  const long *fs = kv_field_stride(dst);
  const int *fg = kv_field_ghost(dst);
  FOR_INTERIOR(coarse->g, src, p) {
    for (int c = 0; c < (1 << nd); c++) {
      long i = 2 * i_ + (c & 1), j = 2 * j_ + ((c >> 1) & 1), k = 2 * k_ + ((c >> 2) & 1);
      o[kv_field_index(fs, fg, i, nd > 1 ? j : 0, nd > 2 ? k : 0)] += alpha * u[p];
    }
  }
}

/* n damped Jacobi sweeps on A x = f; from_zero: x starts at 0 (the first sweep needs no A x). */
static int jacobi(const kv_pcg *s, const level *lv, int n, int from_zero) {
  const double *dv = kv_field_data_const(lv->dinv), *f = kv_field_data_const(lv->f);
  double *x = kv_field_data(lv->x), *r = kv_field_data(lv->r);
  double w = s->p.omega;
  for (int it = 0; it < n; it++) {
    if (it == 0 && from_zero) {
      FOR_INTERIOR(lv->g, lv->x, p) {
        x[p] = w * dv[p] * f[p];
      }
      continue;
    }
    KV_CHECK(apply(s, lv, lv->x, lv->r));
    FOR_INTERIOR(lv->g, lv->x, p) {
      x[p] += w * dv[p] * (f[p] - r[p]);
    }
  }
  return KV_OK;
}

static int vcycle(const kv_pcg *s, int l) {
  const level *lv = &s->lev[l];
  if (l == s->nlev - 1) {
    return jacobi(s, lv, s->p.coarse_sweeps, 1);
  }
  KV_CHECK(jacobi(s, lv, s->p.smooth, 1));
  KV_CHECK(apply(s, lv, lv->x, lv->r));
  double *r = kv_field_data(lv->r);
  const double *f = kv_field_data_const(lv->f);
  FOR_INTERIOR(lv->g, lv->r, p) {
    r[p] = f[p] - r[p];
  }
  const level *cl = &s->lev[l + 1];
  restrict_avg(lv, lv->r, cl, cl->f);
  KV_CHECK(vcycle(s, l + 1));
  prolong_add(cl, cl->x, lv, lv->x, s->p.alpha);
  return jacobi(s, lv, s->p.smooth, 0);
}

/* z = M r */
static int precondition(kv_pcg *s, const kv_field *r, kv_field *z) {
  const level *l0 = &s->lev[0];
  const double *rv = kv_field_data_const(r);
  double *zv = kv_field_data(z);
  if (s->p.pc == KV_PC_NONE) {
    FOR_INTERIOR(l0->g, z, p) {
      zv[p] = rv[p];
    }
    return KV_OK;
  }
  if (s->p.pc == KV_PC_JACOBI) {
    const double *dv = kv_field_data_const(l0->dinv);
    FOR_INTERIOR(l0->g, z, p) {
      zv[p] = dv[p] * rv[p];
    }
    return KV_OK;
  }
  double *f = kv_field_data(l0->f);
  FOR_INTERIOR(l0->g, z, p) {
    f[p] = rv[p];
  }
  KV_CHECK(vcycle(s, 0));
  const double *x = kv_field_data_const(l0->x);
  FOR_INTERIOR(l0->g, z, p) {
    zv[p] = x[p];
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- life cycle */

static int build(kv_pcg *s, const kv_grid *g) {
  KV_CHECK(level_init(s, &s->lev[0], g, s->p.coef));
  s->nlev = 1;
  double *k0 = kv_field_data(s->lev[0].kappa);
  if (s->p.kappa) {
    const double *ks = kv_field_data_const(s->p.kappa);
    FOR_INTERIOR(g, s->lev[0].kappa, p) {
      k0[p] = ks[p];
    }
  } else {
    kv_field_fill(s->lev[0].kappa, s->p.kappa0);
  }
  KV_CHECK(level_finish(s, &s->lev[0]));
  int rc = kv_field_create(g, &s->r);
  if (rc == KV_OK) {
    rc = kv_field_create(g, &s->z);
  }
  if (rc == KV_OK) {
    rc = kv_field_create(g, &s->pp);
  }
  if (rc == KV_OK) {
    rc = kv_field_create(g, &s->q);
  }
  KV_CHECK(rc);
  if (s->p.pc != KV_PC_MG) {
    return KV_OK;
  }
  while (s->nlev < s->p.max_levels && s->nlev < KV_PCG_MAXLEV) {
    level *fine = &s->lev[s->nlev - 1], *cl = &s->lev[s->nlev];
    kv_grid *cg = NULL;
    if (kv_grid_coarsen(fine->g, &cg) != KV_OK) {
      break; /* agreed on every rank: this is the coarsest level */
    }
    cl->grid = cg;
    /* Galerkin scaling for piecewise-constant transfer: I - 2 c L0 on the doubled grid. */
    KV_CHECK(level_init(s, cl, cg, 2.0 * fine->coef));
    s->nlev++;
    restrict_avg(fine, fine->kappa, cl, cl->kappa);
    KV_CHECK(level_finish(s, cl));
  }
  return KV_OK;
}

int kv_pcg_create(const kv_grid *g, const kv_pcg_params *p, kv_pcg **out) {
  *out = NULL;
  MPI_Comm comm = kv_grid_comm(g);
  kv_pcg *s = calloc(1, sizeof *s);
  KV_CHECK(kv_status_agree(comm, s ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "pcg: out of memory")));
  s->p = *p;
  s->comm = comm;
  int rc = kv_status_agree(comm, build(s, g));
  if (rc != KV_OK) {
    kv_pcg_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

int kv_pcg_levels(const kv_pcg *s) {
  return s->nlev;
}

int kv_pcg_set_kappa(kv_pcg *s, const kv_field *kappa) {
  const kv_grid *g = s->lev[0].g;
  double *k0 = kv_field_data(s->lev[0].kappa);
  const double *ks = kv_field_data_const(kappa);
  FOR_INTERIOR(g, kappa, p) {
    k0[p] = ks[p];
  }
  KV_CHECK(level_finish(s, &s->lev[0]));
  for (int l = 1; l < s->nlev; l++) {
    restrict_avg(&s->lev[l - 1], s->lev[l - 1].kappa, &s->lev[l], s->lev[l].kappa);
    KV_CHECK(level_finish(s, &s->lev[l]));
  }
  return KV_OK;
}

int kv_pcg_solve(kv_pcg *s, const kv_field *b, kv_field *x, long *iters, double *relres) {
  const level *l0 = &s->lev[0];
  const kv_grid *g = l0->g;
  *iters = 0;
  *relres = 0.0;
  double bnorm = sqrt(dot(s->comm, g, b, b));
  double *xv = kv_field_data(x), *r = kv_field_data(s->r), *z = kv_field_data(s->z),
         *pv = kv_field_data(s->pp), *q = kv_field_data(s->q);
  const double *bv = kv_field_data_const(b);
  if (bnorm == 0.0) {
    FOR_INTERIOR(g, x, p) {
      xv[p] = 0.0;
    }
    return KV_OK;
  }
  KV_CHECK(apply(s, l0, x, s->r));
  FOR_INTERIOR(g, x, p) {
    r[p] = bv[p] - r[p];
  }
  double rnorm = sqrt(dot(s->comm, g, s->r, s->r));
  if (rnorm <= s->p.rtol * bnorm) {
    *relres = rnorm / bnorm;
    return KV_OK;
  }
  KV_CHECK(precondition(s, s->r, s->z));
  {
    FOR_INTERIOR(g, x, p) {
      pv[p] = z[p];
    }
  }
  double rz = dot(s->comm, g, s->r, s->z);
  for (long it = 1; it <= s->p.maxit; it++) {
    KV_CHECK(apply(s, l0, s->pp, s->q));
    double pq = dot(s->comm, g, s->pp, s->q);
    if (!(pq > 0.0)) {
      return KV_ERROR(KV_ERR_NUMERIC, "pcg: breakdown (p.Ap = %g) at iteration %ld", pq, it);
    }
    double alpha = rz / pq;
    {
      FOR_INTERIOR(g, x, p) {
        xv[p] += alpha * pv[p];
        r[p] -= alpha * q[p];
      }
    }
    rnorm = sqrt(dot(s->comm, g, s->r, s->r));
    *iters = it;
    *relres = rnorm / bnorm;
    if (rnorm <= s->p.rtol * bnorm) {
      return KV_OK;
    }
    KV_CHECK(precondition(s, s->r, s->z));
    double rz1 = dot(s->comm, g, s->r, s->z);
    double beta = rz1 / rz;
    rz = rz1;
    FOR_INTERIOR(g, x, p) {
      pv[p] = z[p] + beta * pv[p];
    }
  }
  return KV_ERROR(KV_ERR_NOT_CONVERGED,
                  "pcg: not converged in %ld iterations (relative residual %.3g, "
                  "tolerance %.3g)",
                  s->p.maxit, *relres, s->p.rtol);
}

void kv_pcg_free(kv_pcg *s) {
  if (!s) {
    return;
  }
  for (int l = 0; l < KV_PCG_MAXLEV; l++) {
    level *lv = &s->lev[l];
    kv_field_free(lv->kappa);
    kv_field_free(lv->dinv);
    kv_field_free(lv->x);
    kv_field_free(lv->f);
    kv_field_free(lv->r);
    kv_grid_free(lv->grid);
  }
  kv_field_free(s->r);
  kv_field_free(s->z);
  kv_field_free(s->pp);
  kv_field_free(s->q);
  free(s);
}

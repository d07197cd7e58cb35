/* The ROM's reduced algebra: DEIM and Galerkin operators, the reduced time step, the error
 * indicator and the adaptive full-step updates. */
#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "numerics/deim.h"
#include "solvers/rom/rom_impl.h"

/* Values of V a on every stencil entry of the cells (stencil rows VS), -1 entries 0. */
static void lift_points(const kv_rom *r, const double *VS, long nent, const double *a,
                        double *out) {
  cblas_dgemv(CblasRowMajor, CblasNoTrans, (int)nent, r->k, 1.0, VS, r->k, a, 1, 0.0, out, 1);
}

/* ------------------------------------------------------------------ reduced system */

/* out = L v, L the Jacobian of the model's F at uref (rows of this rank), by central differences:
 * exact for F quadratic in u (kappa linear in T), O(e^2) otherwise. w, fw: work fields of the
 * model's grid; tmp: nloc values. Collective. */
int kv_rom_jacobian_apply(kv_model *m, long step, MPI_Comm comm, long nloc, const double *uref,
                          const double *v, double eps, kv_field *w, kv_field *fw, double *tmp,
                          double *out) {
  double mx[2] = {0.0, 0.0};
  for (long i = 0; i < nloc; i++) {
    mx[0] = fmax(mx[0], fabs(uref[i]));
    mx[1] = fmax(mx[1], fabs(v[i]));
  }
  kv_comm_allreduce(MPI_IN_PLACE, mx, 2, MPI_DOUBLE, MPI_MAX, comm);
  if (mx[1] == 0.0) {
    memset(out, 0, (size_t)nloc * sizeof *out);
    return KV_OK;
  }
  double e = eps * (mx[0] > 0.0 ? mx[0] : 1.0) / mx[1];
  for (int sgn = 1; sgn >= -1; sgn -= 2) {
    for (long i = 0; i < nloc; i++) {
      tmp[i] = uref[i] + sgn * e * v[i];
    }
    kv_field_unpack(tmp, w);
    KV_CHECK(m->type->residual(m, step, w, fw));
    kv_field_pack(fw, sgn > 0 ? out : tmp);
  }
  for (long i = 0; i < nloc; i++) {
    out[i] = (out[i] - tmp[i]) / (2.0 * e);
  }
  return KV_OK;
}

/* out = G U for the ncol columns of U (nloc x ncol, column-major) by the model's solve. Collective.
 */
static int apply_G(kv_rom *r, const double *U, int ncol, double *out) {
  kv_field *f = NULL;
  int rc = kv_status_agree(r->comm, kv_field_create(r->grid, &f));
  for (int j = 0; rc == KV_OK && j < ncol; j++) {
    kv_field_unpack(U + (size_t)j * r->nloc, f);
    rc = r->full->type->solve(r->full, f, r->u);
    if (rc == KV_OK) {
      kv_field_pack(r->u, out + (size_t)j * r->nloc);
    }
  }
  kv_field_free(f);
  return rc;
}

/* Gr = V^T G V (linear-implicit models). Collective; k solves. */
static int assemble_li(kv_rom *r) {
  int k = r->k;
  double *GV = malloc(((size_t)r->nloc * k + 1) * sizeof *GV),
         *G = calloc((size_t)k * k + 1, sizeof *G);
  int rc = GV && G ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  rc = kv_status_agree(r->comm, rc);
  if (rc == KV_OK) {
    rc = apply_G(r, kv_pod_modes(r->V), k, GV);
  }
  if (rc == KV_OK && r->nloc > 0) {
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, k, (int)r->nloc, 1.0,
                kv_pod_modes(r->V), (int)r->nloc, GV, (int)r->nloc, 0.0, G, k);
  }
  if (rc == KV_OK) {
    kv_comm_allreduce(MPI_IN_PLACE, G, k * k, MPI_DOUBLE, MPI_SUM, r->comm);
  }
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
  if (tmp) {
    r->a = tmp;
  }
  tmp = realloc(r->a0, ((size_t)k + 1) * sizeof *r->a0);
  if (tmp) {
    r->a0 = tmp;
  }
  tmp = realloc(r->a_sum, ((size_t)k + 1) * sizeof *r->a_sum);
  if (tmp) {
    r->a_sum = tmp;
  }
  tmp = realloc(r->a_out, ((size_t)k + 1) * sizeof *r->a_out);
  if (tmp) {
    r->a_out = tmp;
  }
  tmp = realloc(r->FP, ((size_t)kf + 1) * sizeof *r->FP);
  if (tmp) {
    r->FP = tmp;
  }
  tmp = realloc(r->vals, ((size_t)(nc + r->ne) * S7 * (size_t)(k + 1) + 1) * sizeof *r->vals);
  if (tmp) {
    r->vals = tmp;
  }
  tmp = realloc(r->fv, ((size_t)nc * (size_t)(k + 1) + 1) * sizeof *r->fv);
  if (tmp) {
    r->fv = tmp;
  }
  tmp = realloc(r->Jw, ((size_t)(k + kf) * (k + kf) + 1) * sizeof *r->Jw);
  if (tmp) {
    r->Jw = tmp;
  }
  if (!r->sten || !r->VS || !r->D || !r->a || !r->a0 || !r->a_sum || !r->a_out || !r->FP ||
      !r->vals || !r->fv || !r->Jw) {
    return KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  }
  for (long c = 0; c < nc; c++) {
    long *s = r->sten + c * S7;
    for (int e = 0; e < S7; e++) {
      s[e] = -1;
    }
    ft->stencil(r->full, c < kf ? r->P[c] : r->E[c - kf], s);
  }
  KV_CHECK(kv_deim_gather_rows(r->comm, r->nloc, r->gidx, kv_pod_modes(r->V), k, r->sten, nc * S7,
                               r->VS));
  if (r->W) {
    /* D = V^T W (P^T W)^-1 */
    double *VW = calloc((size_t)k * kf + 1, sizeof *VW),
           *PW = malloc(((size_t)kf * kf + 1) * sizeof *PW);
    int *ipiv = malloc(((size_t)kf + 1) * sizeof *ipiv);
    int rc = VW && PW && ipiv ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    /* Linear-implicit: D = V^T G W (P^T W)^-1, the solve folded into the DEIM matrix. */
    double *GW = r->li ? malloc(((size_t)r->nloc * kf + 1) * sizeof *GW) : NULL;
    if (r->li && !GW) {
      rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    }
    rc = kv_status_agree(r->comm, rc);
    if (rc == KV_OK && r->li) {
      rc = apply_G(r, kv_pod_modes(r->W), kf, GW);
    }
    if (rc == KV_OK && r->nloc > 0) {
      cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, kf, (int)r->nloc, 1.0,
                  kv_pod_modes(r->V), (int)r->nloc, r->li ? GW : kv_pod_modes(r->W), (int)r->nloc,
                  0.0, VW, k);
    }
    free(GW);
    if (rc == KV_OK) {
      kv_comm_allreduce(MPI_IN_PLACE, VW, k * kf, MPI_DOUBLE, MPI_SUM, r->comm);
    }
    if (rc == KV_OK) {
      rc = kv_deim_gather_rows(r->comm, r->nloc, r->gidx, kv_pod_modes(r->W), kf, r->P, kf,
                               PW); /* row-major */
    }
    /* D (P^T W) = VW  <=>  (P^T W)^T D^T = VW^T; with column-major PW^T = row-major PW. */
    if (rc == KV_OK) {
      for (int i = 0; i < k; i++) {
        for (int j = 0; j < kf; j++) {
          r->D[(size_t)j * k + i] = VW[(size_t)j * k + i];
        }
      }
      /* Solve X PW = VW for X (k x kf): PW^T X^T = VW^T. */
      double *Xt = malloc(((size_t)kf * k + 1) * sizeof *Xt),
             *PWt = malloc(((size_t)kf * kf + 1) * sizeof *PWt);
      if (!Xt || !PWt) {
        rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
      }
      if (rc == KV_OK) {
        for (int i = 0; i < kf; i++) {
          for (int j = 0; j < kf; j++) {
            PWt[(size_t)j * kf + i] = PW[(size_t)j * kf + i]; /* col-major PW^T */
          }
        }
        for (int i = 0; i < k; i++) {
          for (int j = 0; j < kf; j++) {
            Xt[(size_t)i * kf + j] = VW[(size_t)j * k + i];
          }
        }
        if (LAPACKE_dgesv(LAPACK_COL_MAJOR, kf, k, PWt, kf, ipiv, Xt, kf) != 0) {
          rc = KV_ERROR(KV_ERR_NUMERIC, "rom: the DEIM interpolation matrix is singular");
        }
      }
      if (rc == KV_OK) {
        for (int i = 0; i < k; i++) {
          for (int j = 0; j < kf; j++) {
            r->D[(size_t)j * k + i] = Xt[(size_t)i * kf + j];
          }
        }
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

/* A linear model, F(u) = A u + F(0): A_r = V^T A V from the model's linear_part on each mode and
 * c = V^T F(0) from its residual at u = 0, both at this run's parameters, so that whatever
 * parameters the run changes (conductivity, source, boundary values) are reduced exactly.
 * Collective; k + 1 operator applications, O(k N). */
int kv_rom_assemble_linear(kv_rom *r) {
  const kv_model_type *ft = r->full->type;
  int k = r->k;
  kv_field *v = NULL, *Av = NULL;
  int rc = kv_field_create(r->grid, &v);
  if (rc == KV_OK) {
    rc = kv_field_create(r->grid, &Av);
  }
  double *Al = calloc((size_t)k * k + 1, sizeof *Al);
  double *w = malloc(((size_t)r->nloc + 1) * sizeof *w), *cv = calloc((size_t)k + 1, sizeof *cv);
  if (rc == KV_OK && (!Al || !w || !cv)) {
    rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  }
  rc = kv_status_agree(r->comm, rc);
  const double *U = kv_pod_modes(r->V);
  for (int j = 0; rc == KV_OK && j < k; j++) {
    kv_field_unpack(U + (size_t)j * r->nloc, v);
    rc = ft->linear_part(r->full, v, Av);
    if (rc == KV_OK && r->nloc > 0) {
      kv_field_pack(Av, w);
      cblas_dgemv(CblasColMajor, CblasTrans, (int)r->nloc, k, 1.0, U, (int)r->nloc, w, 1, 0.0,
                  Al + (size_t)j * k, 1);
    }
  }
  if (rc == KV_OK) {
    kv_field_fill(v, 0.0);
    rc = ft->residual(r->full, r->step, v, Av);
    if (rc == KV_OK && r->nloc > 0) {
      kv_field_pack(Av, w);
      cblas_dgemv(CblasColMajor, CblasTrans, (int)r->nloc, k, 1.0, U, (int)r->nloc, w, 1, 0.0, cv,
                  1);
    }
  }
  rc = kv_status_agree(r->comm, rc);
  if (rc == KV_OK) {
    kv_comm_allreduce(MPI_IN_PLACE, Al, k * k, MPI_DOUBLE, MPI_SUM, r->comm);
    kv_comm_allreduce(MPI_IN_PLACE, cv, k, MPI_DOUBLE, MPI_SUM, r->comm);
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
  return rc;
}

/* The split F = L u + N(u): Lt = V^T L V - D P^T L V, so that the reduced F is
 * V^T L V a + D N_P(a) = D F_P(a) + Lt a. The stiff linear part is then projected exactly and
 * only the remainder is interpolated; DEIM of a stiff F alone gives reduced systems whose Newton
 * iteration diverges (seen at cfl 55). Collective; 2k evaluations of F on the whole grid. */
static int assemble_split(kv_rom *r) {
  int k = r->k, kf = kv_pod_nmodes(r->W);
  double *LV = malloc(((size_t)r->nloc * k + 1) * sizeof *LV),
         *tmp = malloc(((size_t)r->nloc + 1) * sizeof *tmp);
  double *Lr = calloc((size_t)k * k + 1, sizeof *Lr),
         *LP = malloc(((size_t)kf * k + 1) * sizeof *LP);
  double *LPc = malloc(((size_t)kf * k + 1) * sizeof *LPc);
  kv_field *w = NULL, *fw = NULL;
  int rc = LV && tmp && Lr && LP && LPc ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  if (rc == KV_OK) {
    rc = kv_field_create(r->grid, &w);
  }
  if (rc == KV_OK) {
    rc = kv_field_create(r->grid, &fw);
  }
  rc = kv_status_agree(r->comm, rc);
  const double *V = kv_pod_modes(r->V);
  for (int j = 0; rc == KV_OK && j < k; j++) {
    rc = kv_rom_jacobian_apply(r->full, r->step, r->comm, r->nloc, r->uref, V + (size_t)j * r->nloc,
                               r->prm.jacobian_eps, w, fw, tmp, LV + (size_t)j * r->nloc);
  }
  if (rc == KV_OK && r->nloc > 0) {
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, k, (int)r->nloc, 1.0, V, (int)r->nloc,
                LV, (int)r->nloc, 0.0, Lr, k);
  }
  if (rc == KV_OK) {
    kv_comm_allreduce(MPI_IN_PLACE, Lr, k * k, MPI_DOUBLE, MPI_SUM, r->comm);
  }
  if (rc == KV_OK) {
    rc = kv_deim_gather_rows(r->comm, r->nloc, r->gidx, LV, k, r->P, kf,
                             LP); /* LP[c k + j] = (L v_j)(P_c) */
  }
  if (rc == KV_OK) {
    for (int c = 0; c < kf; c++) {
      for (int j = 0; j < k; j++) {
        LPc[(size_t)j * kf + c] = LP[(size_t)c * k + j];
      }
    }
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

/* a1 = M a0 + d with M = (I - theta dt A)^-1 (I + (1 - theta) dt A), d = (I - theta dt A)^-1 dt c.
 */
static int linear_step_matrix(kv_rom *r) {
  int k = r->k;
  double *L = malloc(((size_t)k * k + 1) * sizeof *L),
         *R = malloc(((size_t)k * (k + 1) + 1) * sizeof *R);
  int *ipiv = malloc(((size_t)k + 1) * sizeof *ipiv);
  if (!L || !R || !ipiv) {
    free(L);
    free(R);
    free(ipiv);
    return KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  }
  for (int j = 0; j < k; j++) {
    for (int i = 0; i < k; i++) {
      double a = r->A[(size_t)j * k + i];
      L[(size_t)j * k + i] = (i == j) - r->theta * r->dt * a;
      R[(size_t)j * k + i] = (i == j) + (1.0 - r->theta) * r->dt * a;
    }
  }
  for (int i = 0; i < k; i++) {
    R[(size_t)k * k + i] = r->dt * r->c[i];
  }
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
  if (!cells) {
    return KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  }
  /* Stencil values of the base state at P, then its perturbations along each mode. */
  lift_points(r, r->VS, ent, a, r->vals);
  for (int j = 1; j < copies; j++) {
    double *v = r->vals + (size_t)j * ent;
    for (long e = 0; e < ent; e++) {
      v[e] = r->vals[e] + eps * r->VS[(size_t)e * k + (j - 1)];
    }
  }
  for (int j = 0; j < copies; j++) {
    for (int c = 0; c < kf; c++) {
      cells[(long)j * kf + c] = r->P[c];
    }
  }
  if (with_E) {
    lift_points(r, r->VS + (size_t)ent * k, (long)r->ne * S7, a, r->vals + (size_t)copies * ent);
    for (int c = 0; c < r->ne; c++) {
      cells[(long)kf * copies + c] = r->E[c];
    }
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
  for (int i = 0; i < kf; i++) {
    rhs[i] = r->theta * fv[i] + (1.0 - r->theta) * r->FP[i];
  }
  for (int i = 0; i < k; i++) {
    g[i] = a[i] - r->a0[i];
  }
  cblas_dgemv(CblasColMajor, CblasNoTrans, k, kf, -r->dt, r->D, k, rhs, 1, 1.0, g, 1);
  if (r->Lt) {
    for (int i = 0; i < k; i++) {
      am[i] = r->theta * a[i] + (1.0 - r->theta) * r->a0[i];
    }
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
    if (r->Lt) {
      cblas_dgemv(CblasColMajor, CblasNoTrans, k, k, r->dt, r->Lt, k, r->a0, 1, 1.0, r->a, 1);
    }
    return KV_OK;
  }
  double prev = INFINITY;
  for (int it = 1; it <= r->prm.newton_maxit; it++) {
    double an = cblas_dnrm2(k, r->a, 1), eps = r->prm.fd_eps * (an > 0.0 ? an : 1.0);
    KV_CHECK(eval_points(r, r->step, r->a, 1, eps, 0));
    newton_residual(r, r->a, r->fv, g);
    double gn = cblas_dnrm2(k, g, 1);
    /* J = I - theta dt (D dF_P/da + Lt), the columns of dF_P/da by differences. */
    double *dF = r->fv + kf; /* kf x k column-major after the base values */
    for (int j = 0; j < k; j++) {
      for (int i = 0; i < kf; i++) {
        dF[(size_t)j * kf + i] = (dF[(size_t)j * kf + i] - r->fv[i]) / eps;
      }
    }
    cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, k, k, kf, -r->theta * r->dt, r->D, k, dF,
                kf, 0.0, J, k);
    if (r->Lt) {
      cblas_daxpy(k * k, -r->theta * r->dt, r->Lt, 1, J, 1);
    }
    for (int i = 0; i < k; i++) {
      J[(size_t)i * k + i] += 1.0;
    }
    for (int i = 0; i < k; i++) {
      d[i] = -g[i];
    }
    if (LAPACKE_dgesv(LAPACK_COL_MAJOR, k, 1, J, k, ipiv, d, k) != 0) {
      return KV_ERROR(KV_ERR_NUMERIC, "rom: singular Newton matrix at step %ld", r->step + 1);
    }
    /* Backtracking on |g| (Armijo): a full Newton step from a0 overshoots in stiff transients. */
    double lam = 1.0;
    for (int bt = 0; bt < r->prm.backtracks; bt++, lam *= 0.5) {
      for (int i = 0; i < k; i++) {
        at[i] = r->a[i] + lam * d[i];
      }
      if (lam == 1.0 && cblas_dnrm2(k, d, 1) <= r->prm.newton_stall * cblas_dnrm2(k, at, 1)) {
        break;
      }
      KV_CHECK(eval_points(r, r->step, at, 0, 0.0, 0));
      newton_residual(r, at, r->fv, g);
      double gt = cblas_dnrm2(k, g, 1);
      if (isfinite(gt) && gt <= (1.0 - r->prm.armijo * lam) * gn) {
        break;
      }
    }
    /* The step taken (the last trial when no length satisfied Armijo). */
    for (int i = 0; i < k; i++) {
      d[i] = at[i] - r->a[i];
    }
    memcpy(r->a, at, (size_t)k * sizeof *r->a);
    r->newton_its++;
    double dn = cblas_dnrm2(k, d, 1), an1 = cblas_dnrm2(k, r->a, 1);
    if (!isfinite(dn)) {
      break;
    }
    /* Converged, or stalled at the round-off of the finite-difference Jacobian. */
    if (dn <= r->prm.newton_rtol * an1 || dn == 0.0 ||
        (dn <= r->prm.newton_stall * an1 && dn > 0.5 * prev)) {
      return KV_OK;
    }
    prev = dn;
  }
  return KV_ERROR(KV_ERR_NOT_CONVERGED,
                  "rom: the reduced Newton iteration of step %ld did not converge "
                  "(the ROM has left the span of its basis; lower rom.tolerance or refit)",
                  r->step + 1);
}

/* Linear-implicit step a1 = Gr a0 + dt D N_P(a0), and its indicator: the full residual
 * G^-1 u1 - u0 - dt N(u0) at the cells E, relative to the step's change u1 - u0 there. */
static int li_step(kv_rom *r) {
  int k = r->k, kf = kv_pod_nmodes(r->W), ne = r->ne;
  KV_CHECK(eval_points(r, r->step, r->a0, 0, 0.0, 1));
  const double *NE0 = r->fv + kf;
  for (int c = 0; c < ne; c++) {
    r->uE[c] = r->vals[(size_t)kf * S7 + (size_t)c * S7];
  }
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
  if (!isfinite(r->eta)) {
    r->eta = INFINITY;
  }
  return KV_OK;
}

/* F at P and E and u at E of the current state a (after a step or a basis change). */
int kv_rom_refresh_point_values(kv_rom *r) {
  int kf = r->W ? kv_pod_nmodes(r->W) : 0;
  KV_CHECK(eval_points(r, r->step, r->a, 0, 0.0, 1));
  memcpy(r->FP, r->fv, (size_t)kf * sizeof *r->FP);
  memcpy(r->FE, r->fv + kf, (size_t)r->ne * sizeof *r->FE);
  for (int c = 0; c < r->ne; c++) {
    r->uE[c] = r->vals[(size_t)kf * S7 + (size_t)c * S7];
  }
  return KV_OK;
}

/* Distinct random cells, not DEIM points where the grid allows (splitmix64: the same on every
 * rank). */
void kv_rom_indicator_cells(kv_rom *r, unsigned long seed) {
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
    for (int i = 0; i < got && !dup; i++) {
      dup = r->E[i] == c;
    }
    for (int i = 0; i < kf && !dup && avoid; i++) {
      dup = r->P[i] == c;
    }
    if (!dup) {
      r->E[got++] = c;
    }
  }
}

/* Everything that depends on the bases, after the DEIM points. Collective. */
int kv_rom_operators(kv_rom *r) {
  KV_CHECK(setup_reduced(r));
  if (r->linear) {
    KV_CHECK(linear_step_matrix(r));
  }
  if (r->li) {
    KV_CHECK(assemble_li(r));
  }
  if (r->uref && r->W) {
    KV_CHECK(assemble_split(r));
  }
  return KV_OK;
}

/* DEIM points and operators after a basis change. Collective. */
int kv_rom_refresh(kv_rom *r) {
  if (r->W) {
    free(r->P);
    r->P = malloc(((size_t)kv_pod_nmodes(r->W) + 1) * sizeof *r->P);
    int rc = r->P ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    KV_CHECK(kv_status_agree(r->comm, rc));
    KV_CHECK(
        kv_deim_points(r->comm, r->nloc, r->gidx, kv_pod_modes(r->W), kv_pod_nmodes(r->W), r->P));
  }
  return kv_rom_operators(r);
}

/* Lift V a into r->u. Collective only through nothing: local. */
void kv_rom_lift(kv_rom *r, const double *a) {
  if (r->nloc > 0) {
    cblas_dgemv(CblasColMajor, CblasNoTrans, (int)r->nloc, r->k, 1.0, kv_pod_modes(r->V),
                (int)r->nloc, a, 1, 0.0, r->uloc, 1);
  }
  kv_field_unpack(r->uloc, r->u);
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
  kv_pod_options po;
  kv_pod_options_default(&po);
  po.add_tol = r->prm.add_tol;
  po.max_modes = r->max_modes;
  double w0 = kv_comm_wtime();
  if (r->means && r->nloc > 0) {
    /* The record's running sum survives the basis change through the full space. */
    cblas_dgemv(CblasColMajor, CblasNoTrans, (int)r->nloc, r->k, 1.0, kv_pod_modes(r->V),
                (int)r->nloc, r->a_sum, 1, 0.0, r->sloc, 1);
  }
  kv_rom_lift(r, r->a0);
  KV_CHECK(ft->set_state(r->full, r->u, r->step));
  double t;
  KV_CHECK(kv_model_step(r->full, &t));
  const kv_field *u1;
  KV_CHECK(ft->state(r->full, &u1));
  kv_field_pack(u1, r->uloc);
  double w1 = kv_comm_wtime();
  int before = r->k;
  if (r->max_modes <= 0 || r->k < r->max_modes) {
    KV_CHECK(kv_pod_add(r->V, r->uloc, &po));
  }
  if (r->W) {
    KV_CHECK(kv_field_copy(r->u, u1));
    kv_field *f = NULL;
    KV_CHECK(kv_status_agree(r->comm, kv_field_create(r->grid, &f)));
    int rc = ft->residual(r->full, r->step + 1, r->u, f);
    if (rc == KV_OK) {
      kv_field_pack(f, r->floc);
    }
    if (rc == KV_OK && r->uref) {
      /* The DEIM basis spans the remainder N(u) = F(u) - L u. */
      double *Lu = malloc(((size_t)r->nloc + 1) * sizeof *Lu),
             *tmp = malloc(((size_t)r->nloc + 1) * sizeof *tmp);
      rc = kv_status_agree(r->comm,
                           Lu && tmp ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory"));
      if (rc == KV_OK) {
        rc = kv_rom_jacobian_apply(r->full, r->step + 1, r->comm, r->nloc, r->uref, r->uloc,
                                   r->prm.jacobian_eps, r->u, f, tmp, Lu);
      }
      for (long i = 0; rc == KV_OK && i < r->nloc; i++) {
        r->floc[i] -= Lu[i];
      }
      free(Lu);
      free(tmp);
    }
    if (rc == KV_OK) {
      if (r->max_modes <= 0 || kv_pod_nmodes(r->W) < r->max_modes) {
        rc = kv_pod_add(r->W, r->floc, &po);
      }
    }
    kv_field_free(f);
    KV_CHECK(rc);
  }
  /* kv_pod_add rotates the modes even when it adds none: the operators are always rebuilt. */
  r->k = kv_pod_nmodes(r->V);
  if (r->linear) {
    KV_CHECK(kv_rom_assemble_linear(r));
  }
  KV_CHECK(kv_rom_refresh(r));
  KV_CHECK(kv_pod_project(r->V, r->uloc, r->a));
  if (r->means) {
    KV_CHECK(kv_pod_project(r->V, r->sloc, r->a_sum));
  }
  r->updates++;
  double w2 = kv_comm_wtime();
  kv_info("rom: step %ld: indicator %.3g > tolerance %g: full step (%.0f ms), basis %d -> %d modes "
          "(%.0f ms)",
          r->step + 1, r->eta, r->tol, 1e3 * (w1 - w0), before, r->k, 1e3 * (w2 - w1));
  return KV_OK;
}

static int rom_step_inner(kv_rom *r, double *t);

/* The ROM step a0 -> a against the full solver's step from V a0: |V a - u1| / |u1 - V a0| over
 * the whole grid, the quantity the indicator estimates. Collective; one full step. */
static int check_step(kv_rom *r) {
  const kv_model_type *ft = r->full->type;
  double *v = malloc(((size_t)r->nloc + 1) * sizeof *v), nrm[2] = {0.0, 0.0}, t;
  KV_CHECK(kv_status_agree(r->comm, v ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory")));
  kv_rom_lift(r, r->a0);
  memcpy(v, r->uloc, (size_t)r->nloc * sizeof *v);
  openblas_set_num_threads(r->blas_threads > 0 ? r->blas_threads : 1);
  int rc = ft->set_state(r->full, r->u, r->step);
  if (rc == KV_OK) {
    rc = kv_model_step(r->full, &t);
  }
  openblas_set_num_threads(1);
  const kv_field *u1 = NULL;
  if (rc == KV_OK) {
    rc = ft->state(r->full, &u1);
  }
  if (rc == KV_OK) {
    kv_field_pack(u1, r->floc);
    kv_rom_lift(r, r->a);
    for (long i = 0; i < r->nloc; i++) {
      nrm[0] += (r->uloc[i] - r->floc[i]) * (r->uloc[i] - r->floc[i]);
      nrm[1] += (r->floc[i] - v[i]) * (r->floc[i] - v[i]);
    }
  }
  free(v);
  KV_CHECK(rc);
  kv_comm_allreduce(MPI_IN_PLACE, nrm, 2, MPI_DOUBLE, MPI_SUM, r->comm);
  r->chk_err = nrm[1] > 0.0 ? sqrt(nrm[0] / nrm[1]) : (nrm[0] > 0.0 ? INFINITY : 0.0);
  r->chk_eta = r->eta;
  return KV_OK;
}

/* OpenBLAS parallelises even k x k factorisations; at ROM sizes the threads' hand-offs cost
 * milliseconds per step (measured: 20 ms of sched_yield for k = 21), so the reduced algebra runs on
 * one thread and the full-solver updates with the caller's. */
int kv_rom_step_reduced(kv_rom *r, double *t) {
  int threads = openblas_get_num_threads();
  openblas_set_num_threads(1);
  r->blas_threads = threads;
  int rc = rom_step_inner(r, t);
  openblas_set_num_threads(threads);
  return rc;
}

/* After a reduced step: the true error on checked steps (rom.check_every), then, above the
 * tolerance, the full step and basis update (the indicator of the step is kept). refresh: the
 * point values of the new state are needed again (theta schemes). */
static int check_and_adapt(kv_rom *r, int refresh) {
  if (r->check_every > 0 && r->step % r->check_every == 0) {
    KV_CHECK(check_step(r));
  }
  if (r->adaptive && r->eta > r->tol) {
    double eta = r->eta;
    KV_CHECK(full_update(r));
    r->eta = eta;
    if (refresh) {
      KV_CHECK(kv_rom_refresh_point_values(r));
    }
  }
  return KV_OK;
}

static int rom_step_inner(kv_rom *r, double *t) {
  int k = r->k, kf = r->W ? kv_pod_nmodes(r->W) : 0;
  memcpy(r->a0, r->a, (size_t)k * sizeof *r->a);
  double FE0[r->ne + 1], uE0[r->ne + 1];
  memcpy(FE0, r->FE, (size_t)r->ne * sizeof *FE0);
  memcpy(uE0, r->uE, (size_t)r->ne * sizeof *uE0);
  if (r->li) {
    KV_CHECK(li_step(r));
    KV_CHECK(check_and_adapt(r, 0));
    goto done;
  }
  if (r->linear) {
    cblas_dcopy(k, r->d, 1, r->a, 1);
    cblas_dgemv(CblasColMajor, CblasNoTrans, k, k, 1.0, r->M, k, r->a0, 1, 1.0, r->a, 1);
  } else {
    int rc = newton_step(r);
    if ((rc == KV_ERR_NOT_CONVERGED || rc == KV_ERR_NUMERIC) && r->adaptive) {
      /* The reduced system has no solution near the basis: the full solver takes this step. */
      kv_warn("%s; taking a full step", kv_error_message());
      r->eta = INFINITY;
      KV_CHECK(full_update(r));
      KV_CHECK(kv_rom_refresh_point_values(r));
      goto done;
    }
    KV_CHECK(rc);
  }
  KV_CHECK(kv_rom_refresh_point_values(r));
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
  if (!isfinite(r->eta)) {
    r->eta = INFINITY;
  }
  KV_CHECK(check_and_adapt(r, 1));
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
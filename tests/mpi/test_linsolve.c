/* MPI tests of solvers/heat/fftsolve and solvers/heat/pcg at 1, 2 and 4 ranks: (I - c L0) u = r
 * with r made from an exact discrete eigenvector of L0 for each pairing of face conditions
 * (Dirichlet sine, Neumann cosine, quarter-wave and periodic modes; cell-centred ghosts make them
 * exact), in 2D on a grid whose sizes do not divide the rank count and in 3D. The FFT solve must
 * give u to round-off; PCG with each preconditioner to its tolerance, reporting its iterations;
 * PCG stopped at one iteration must say "not converged" on every rank. */
#include <fftw3.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/field.h"
#include "core/grid.h"
#include "core/status.h"
#include "solvers/heat/fftsolve.h"
#include "solvers/heat/pcg.h"
#include "tests/unit/check.h"

#define PI 3.14159265358979323846

typedef struct {
  int bc[3][2]; /* 0 Dirichlet, 1 Neumann, 2 periodic */
  int k[3];     /* mode per axis */
  long n[3];
  int nd;
} mode;

/* The 1D eigenvector of the cell-centred Laplacian for a pair of faces, and its eigenvalue times
 * h^2 (negative). */
static double vec1(int lo, int hi, int k, long n, long i, double *lam) {
  double x = (i + 0.5) / (double)n, s;
  if (lo == 2) {
    s = sin(PI * k / (double)n);
    *lam = -4.0 * s * s;
    return cos(2.0 * PI * k * x);
  }
  if (lo == 0 && hi == 0) {
    s = sin(PI * (k + 1) / (2.0 * n));
    *lam = -4.0 * s * s;
    return sin(PI * (k + 1) * x);
  }
  if (lo == 1 && hi == 1) {
    s = sin(PI * k / (2.0 * n));
    *lam = -4.0 * s * s;
    return cos(PI * k * x);
  }
  s = sin(PI * (k + 0.5) / (2.0 * n));
  *lam = -4.0 * s * s;
  return lo == 0 ? sin(PI * (k + 0.5) * x) : cos(PI * (k + 0.5) * x);
}

/* u = the sum of two product eigenvectors; r = (I - c L0) u. */
static void fill(const mode *m, double c, kv_field *u, kv_field *r) {
  const kv_grid *g = kv_field_grid(u);
  const long *nl = kv_grid_local_n(g), *off = kv_grid_offset(g), *st = kv_field_stride(u);
  const int *gh = kv_field_ghost(u);
  const double *h = kv_grid_spacing(g);
  double *du = kv_field_data(u), *dr = kv_field_data(r);
  for (long kk = 0; kk < nl[2]; kk++) {
    for (long j = 0; j < nl[1]; j++) {
      for (long i = 0; i < nl[0]; i++) {
        long idx[3] = {i + off[0], j + off[1], kk + off[2]}, p = kv_field_index(st, gh, i, j, kk);
        du[p] = dr[p] = 0.0;
        /* Two modes with different eigenvalues, so CG has more than one direction to find. */
        for (int q = 0; q < 2; q++) {
          double v = q ? 0.5 : 1.0, lam = 0.0;
          for (int d = 0; d < m->nd; d++) {
            double l;
            v *= vec1(m->bc[d][0], m->bc[d][1], m->k[d] + 2 * q, m->n[d], idx[d], &l);
            lam += l / (h[d] * h[d]);
          }
          du[p] += v;
          dr[p] += (1.0 - c * lam) * v;
        }
      }
    }
  }
}

static double max_diff(const kv_field *a, const kv_field *b, MPI_Comm comm) {
  const kv_grid *g = kv_field_grid(a);
  const long *nl = kv_grid_local_n(g), *st = kv_field_stride(a);
  const int *gh = kv_field_ghost(a);
  const double *x = kv_field_data_const(a), *y = kv_field_data_const(b);
  double e = 0.0;
  for (long kk = 0; kk < nl[2]; kk++) {
    for (long j = 0; j < nl[1]; j++) {
      for (long i = 0; i < nl[0]; i++) {
        long p = kv_field_index(st, gh, i, j, kk);
        e = fmax(e, fabs(x[p] - y[p]));
      }
    }
  }
  MPI_Allreduce(MPI_IN_PLACE, &e, 1, MPI_DOUBLE, MPI_MAX, comm);
  return e;
}

static const char *bcname(int b) {
  return b == 0 ? "D" : b == 1 ? "N" : "P";
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm comm = MPI_COMM_WORLD;
  int rank, size;
  MPI_Comm_rank(comm, &rank);
  MPI_Comm_size(comm, &size);
  kv_test_rank = rank;
  const mode modes[] = {
      {{{0, 0}, {1, 1}, {0, 0}}, {2, 3, 0}, {30, 22, 1}, 2},
      {{{0, 1}, {1, 0}, {0, 0}}, {1, 2, 0}, {27, 20, 1}, 2},
      {{{2, 2}, {0, 0}, {0, 0}}, {3, 1, 0}, {24, 18, 1}, 2},
      {{{0, 0}, {2, 2}, {1, 1}}, {1, 2, 1}, {12, 10, 8}, 3},
  };
  const double c = 0.01;
  for (size_t t = 0; t < sizeof modes / sizeof modes[0]; t++) {
    const mode *m = &modes[t];
    char what[96];
    snprintf(what, sizeof what, "%dD %ldx%ldx%ld x:%s%s y:%s%s%s%s", m->nd, m->n[0], m->n[1],
             m->n[2], bcname(m->bc[0][0]), bcname(m->bc[0][1]), bcname(m->bc[1][0]),
             bcname(m->bc[1][1]), m->nd > 2 ? " z:" : "",
             m->nd > 2 ? (m->bc[2][0] == 1   ? "NN"
                          : m->bc[2][0] == 2 ? "PP"
                                             : "DD")
                       : "");
    kv_grid_params gp;
    kv_grid_params_default(&gp);
    gp.ndims = m->nd;
    for (int d = 0; d < m->nd; d++) {
      gp.n[d] = m->n[d];
      gp.length[d] = 1.0 + 0.25 * d;
      gp.periodic[d] = m->bc[d][0] == 2;
    }
    kv_grid *g = NULL;
    kv_field *u = NULL, *r = NULL, *x = NULL;
    int rc = kv_grid_create(comm, &gp, &g);
    if (rc == KV_OK) {
      rc = kv_field_create(g, &u);
    }
    if (rc == KV_OK) {
      rc = kv_field_create(g, &r);
    }
    if (rc == KV_OK) {
      rc = kv_field_create(g, &x);
    }
    CHECK(rc == KV_OK, "%s: grid and fields on %d rank%s", what, size, size > 1 ? "s" : "");
    if (rc != KV_OK) {
      continue;
    }
    fill(m, c, u, r);
    /* FFT: exact to round-off. */
    kv_fftsolve_params fp = {{{0}}, c, FFTW_ESTIMATE, NULL};
    for (int d = 0; d < 3; d++) {
      fp.bc[d][0] = m->bc[d][0];
      fp.bc[d][1] = m->bc[d][1];
    }
    kv_fftsolve *fs = NULL;
    rc = kv_fftsolve_create(g, &fp, &fs);
    if (rc == KV_OK) {
      rc = kv_fftsolve_solve(fs, r, x);
    }
    double e = rc == KV_OK ? max_diff(x, u, comm) : INFINITY;
    CHECK(rc == KV_OK && e < 1e-12, "%s: FFT solve returns the exact solution (max error %.1e)",
          what, e);
    kv_fftsolve_free(fs);
    /* PCG with each preconditioner. */
    static const char *const pcs[] = {"mg", "jacobi", "none"};
    for (int pc = 0; pc < 3; pc++) {
      kv_pcg_params pp;
      kv_pcg_params_default(&pp);
      for (int d = 0; d < 3; d++) {
        pp.bc[d][0] = m->bc[d][0];
        pp.bc[d][1] = m->bc[d][1];
      }
      pp.coef = c;
      pp.kappa0 = 1.0;
      pp.pc = (kv_pc_type)pc;
      pp.rtol = 1e-11;
      kv_pcg *ps = NULL;
      long its = 0;
      double rel = 0.0;
      kv_field_fill(x, 0.0);
      rc = kv_pcg_create(g, &pp, &ps);
      if (rc == KV_OK) {
        rc = kv_pcg_solve(ps, r, x, &its, &rel);
      }
      e = rc == KV_OK ? max_diff(x, u, comm) : INFINITY;
      CHECK(rc == KV_OK && e < 1e-9 && its > 0 && rel <= 1e-11,
            "%s: PCG (%s) converges to the exact solution in %ld iterations (max error %.1e, "
            "relative residual %.1e)",
            what, pcs[pc], its, e, rel);
      if (pc == 1) {
        /* One iteration is not enough: a distinct status, the same on every rank. */
        kv_pcg_free(ps);
        ps = NULL;
        pp.maxit = 1;
        kv_field_fill(x, 0.0);
        rc = kv_pcg_create(g, &pp, &ps);
        int rs = rc == KV_OK ? kv_pcg_solve(ps, r, x, &its, &rel) : rc, lo, hi;
        MPI_Allreduce(&rs, &lo, 1, MPI_INT, MPI_MIN, comm);
        MPI_Allreduce(&rs, &hi, 1, MPI_INT, MPI_MAX, comm);
        CHECK(lo == KV_ERR_NOT_CONVERGED && hi == KV_ERR_NOT_CONVERGED,
              "%s: PCG with maxit = 1 reports 'not converged' on every rank (%d..%d: %s)", what, lo,
              hi, kv_strerror(rs));
      }
      kv_pcg_free(ps);
    }
    kv_field_free(u);
    kv_field_free(r);
    kv_field_free(x);
    kv_grid_free(g);
  }
  MPI_Finalize();
  return kv_test_failed;
}

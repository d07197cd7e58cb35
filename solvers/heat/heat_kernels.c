/* The heat model's stencil kernels (AVX streaming stores), boundary ghosts and kappa(T). */
#include <fftw3.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "solvers/heat/heat_impl.h"

#if defined(__AVX__)
#include <immintrin.h>
#endif

/* ---------------------------------------------------------------- boundary ghosts */

/* Fill the ghost cells of f on physical faces from the boundary conditions (kappa_mode: copy
 * the adjacent value, used for the conductivity so that boundary face means equal the boundary
 * cell's kappa). kv_bc_type values coincide with kv_ghost_rule's. */
void kv_heat_fill_boundary(const kv_heat *h, kv_field *f, int kappa_mode) {
  int rule[3][2];
  for (int d = 0; d < 3; d++) {
    for (int s = 0; s < 2; s++) {
      rule[d][s] =
          kappa_mode && h->p.bc[d][s] != KV_BC_PERIODIC ? KV_GHOST_COPY : (int)h->p.bc[d][s];
    }
  }
  kv_field_fill_boundary(f, (const int(*)[2])rule, (const double(*)[2])h->p.bc_value);
}

/* ---------------------------------------------------------------- kernels */

#if defined(__AVX__)
/* One row of the constant-kappa stencil with streaming stores:
 *   o = c0 c + ax (c[-1] + c[+1]) + ay (s + n) [+ az (b + f)]
 * fresh is the neighbour row that arrives from memory (n in 2D, f in 3D); the row after it is
 * prefetched into L2 so the next row finds it there. Returns 1 if a result is not finite. */
static inline __attribute__((always_inline)) int
row_stream(double *restrict o, const double *restrict c, const double *restrict s,
           const double *restrict n, const double *restrict b, const double *restrict f,
           const double *restrict ahead, long len, double c0, double ax, double ay, double az) {
  long i = 0;
  int bad = 0;
  /* Scalar prologue up to the 32-byte boundary that _mm256_stream_pd needs. */
  for (; i < len && ((uintptr_t)(o + i) & 31) != 0; i++) {
    double v = c0 * c[i] + ax * (c[i - 1] + c[i + 1]) + ay * (s[i] + n[i]);
    if (b) {
      v += az * (b[i] + f[i]);
    }
    o[i] = v;
    bad |= (v - v) != 0.0;
  }
  const __m256d vc0 = _mm256_set1_pd(c0), vax = _mm256_set1_pd(ax), vay = _mm256_set1_pd(ay),
                vaz = _mm256_set1_pd(az);
  __m256d acc = _mm256_setzero_pd();
  /* Eight cells (one 64-byte line of o) per iteration, one prefetch per line. */
  for (; i + 8 <= len; i += 8) {
    _mm_prefetch((const char *)(ahead + i), _MM_HINT_T1);
    for (long q = i; q < i + 8; q += 4) {
      __m256d lr = _mm256_add_pd(_mm256_loadu_pd(c + q - 1), _mm256_loadu_pd(c + q + 1));
      __m256d sn = _mm256_add_pd(_mm256_loadu_pd(s + q), _mm256_loadu_pd(n + q));
      /* Same order of operations as the plain loop, so both give identical bits. */
      __m256d v = _mm256_add_pd(
          _mm256_add_pd(_mm256_mul_pd(vc0, _mm256_loadu_pd(c + q)), _mm256_mul_pd(vax, lr)),
          _mm256_mul_pd(vay, sn));
      if (b) {
        __m256d bf = _mm256_add_pd(_mm256_loadu_pd(b + q), _mm256_loadu_pd(f + q));
        v = _mm256_add_pd(v, _mm256_mul_pd(vaz, bf));
      }
      _mm256_stream_pd(o + q, v);
      /* v - v is +0.0 (all bits clear) for finite v and NaN otherwise; OR keeps any set bit with
       * a one-cycle dependency chain, where an add chain would limit the loop. */
      acc = _mm256_or_pd(acc, _mm256_sub_pd(v, v));
    }
  }
  bad |= !_mm256_testz_si256(_mm256_castpd_si256(acc), _mm256_castpd_si256(acc));
  for (; i < len; i++) {
    double v = c0 * c[i] + ax * (c[i - 1] + c[i + 1]) + ay * (s[i] + n[i]);
    if (b) {
      v += az * (b[i] + f[i]);
    }
    o[i] = v;
    bad |= (v - v) != 0.0;
  }
  return bad;
}

/* The 2D and 3D instances, each compiled without the other's branch. */
static int row_stream2d(double *restrict o, const double *restrict c, const double *restrict s,
                        const double *restrict n, const double *restrict ahead, long len, double c0,
                        double ax, double ay) {
  return row_stream(o, c, s, n, NULL, NULL, ahead, len, c0, ax, ay, 0.0);
}

static int row_stream3d(double *restrict o, const double *restrict c, const double *restrict s,
                        const double *restrict n, const double *restrict b,
                        const double *restrict f, const double *restrict ahead, long len, double c0,
                        double ax, double ay, double az) {
  return row_stream(o, c, s, n, b, f, ahead, len, c0, ax, ay, az);
}
#endif

/* Constant kappa: with a_d = dtk kappa / h_d^2, Tn = c0 T + sum_d a_d (T[-d] + T[+d]) (+ dq);
 * returns 1 if a result is not finite. (x - x) != 0 flags NaN and Inf without a floating-point
 * reduction, so the loop still vectorises. */
int kv_heat_kernel_const(const kv_heat *h, double dtk, const double *restrict T,
                         double *restrict Tn, const double *restrict dq) {
  const long *nl = kv_grid_local_n(h->grid), *st = kv_field_stride(h->T);
  const int *gh = kv_field_ghost(h->T);
  const double *hs = kv_grid_spacing(h->grid);
  double a[3] = {0, 0, 0}, c0 = 1.0;
  for (int d = 0; d < h->p.dims; d++) {
    a[d] = dtk * h->p.kappa / (hs[d] * hs[d]);
    c0 -= 2.0 * a[d];
  }
  const long sy = st[1], sz = st[2];
  const double ax = a[0], ay = a[1], az = a[2];
  int bad = 0;
#if defined(__AVX__)
  const long *m = kv_field_extent(h->T);
  int big = 2L * (long)sizeof(double) * m[0] * m[1] * m[2] > KV_HEAT_STREAM_BYTES;
  if (h->p.dims >= 2 && !dq &&
      (h->p.stream_stores == KV_HEAT_STREAM_ON ||
       (h->p.stream_stores == KV_HEAT_STREAM_AUTO && big))) {
    for (long k = 0; k < nl[2]; k++) {
      for (long j = 0; j < nl[1]; j++) {
        long p0 = kv_field_index(st, gh, 0, j, k);
        const double *c = T + p0;
        if (h->p.dims == 2) {
          bad |= row_stream2d(Tn + p0, c, c - sy, c + sy, c + 2 * sy, nl[0], c0, ax, ay);
        } else {
          bad |= row_stream3d(Tn + p0, c, c - sy, c + sy, c - sz, c + sz, c + sz + sy, nl[0], c0,
                              ax, ay, az);
        }
      }
    }
    _mm_sfence(); /* streaming stores are weakly ordered: complete them before MPI reads Tn */
    return bad;
  }
#endif
  for (long k = 0; k < nl[2]; k++) {
    for (long j = 0; j < nl[1]; j++) {
      long p0 = kv_field_index(st, gh, 0, j, k);
      const double *restrict c = T + p0;
      double *restrict o = Tn + p0;
      const double *restrict q = dq ? dq + p0 : NULL;
      const long n = nl[0];
      if (h->p.dims == 1) {
        for (long i = 0; i < n; i++) {
          double v = c0 * c[i] + ax * (c[i - 1] + c[i + 1]);
          o[i] = v;
        }
      } else if (h->p.dims == 2) {
        const double *restrict s = c - sy, *restrict nn = c + sy;
        for (long i = 0; i < n; i++) {
          o[i] = c0 * c[i] + ax * (c[i - 1] + c[i + 1]) + ay * (s[i] + nn[i]);
        }
      } else {
        const double *restrict s = c - sy, *restrict nn = c + sy, *restrict b = c - sz,
                               *restrict f = c + sz;
        for (long i = 0; i < n; i++) {
          o[i] = c0 * c[i] + ax * (c[i - 1] + c[i + 1]) + ay * (s[i] + nn[i]) + az * (b[i] + f[i]);
        }
      }
      if (q) {
        for (long i = 0; i < n; i++) {
          o[i] += q[i];
        }
      }
      int rb = 0;
      for (long i = 0; i < n; i++) {
        rb |= (o[i] - o[i]) != 0.0;
      }
      bad |= rb;
    }
  }
  return bad;
}

/* Variable kappa: flux form with harmonic face means. */
int kv_heat_kernel_var(const kv_heat *h, double dtk, const double *restrict T, double *restrict Tn,
                       const double *restrict K, const double *restrict dq) {
  const long *nl = kv_grid_local_n(h->grid), *st = kv_field_stride(h->T);
  const int *gh = kv_field_ghost(h->T);
  const double *hs = kv_grid_spacing(h->grid);
  double r[3];
  for (int d = 0; d < 3; d++) {
    r[d] = d < h->p.dims ? dtk / (hs[d] * hs[d]) : 0.0;
  }
  int bad = 0;
  for (long k = 0; k < nl[2]; k++) {
    for (long j = 0; j < nl[1]; j++) {
      long p0 = kv_field_index(st, gh, 0, j, k);
      for (long i = 0; i < nl[0]; i++) {
        long p = p0 + i;
        double c = T[p], kc = K[p], acc = 0.0;
        for (int d = 0; d < h->p.dims; d++) {
          long s = st[d];
          acc +=
              r[d] * (hmean(kc, K[p + s]) * (T[p + s] - c) - hmean(kc, K[p - s]) * (c - T[p - s]));
        }
        double v = c + acc + (dq ? dq[p] : 0.0);
        Tn[p] = v;
        bad |= (v - v) != 0.0;
      }
    }
  }
  return bad;
}

/* ---------------------------------------------------------------- kappa(T) */
/* kappa = kappa(T) on every cell, with halo and boundary copies; h->kappa_max updated. Fails
 * (agreed) when the law gives a non-positive or non-finite conductivity. Collective. */
int kv_heat_kappa_update(kv_heat *h, const kv_field *T) {
  const long *nl = kv_grid_local_n(h->grid), *st = kv_field_stride(T);
  const int *gh = kv_field_ghost(T);
  const double *u = kv_field_data_const(T);
  double *k = kv_field_data(h->kappa);
  double kmax = 0.0, worst_T = 0.0;
  int bad = 0;
  for (long kk = 0; kk < nl[2]; kk++) {
    for (long j = 0; j < nl[1]; j++) {
      for (long i = 0, p = kv_field_index(st, gh, 0, j, kk); i < nl[0]; i++, p++) {
        double v = kappa_of(&h->p, u[p]);
        k[p] = v;
        if (!(v > 0.0) || !isfinite(v)) {
          bad = 1;
          worst_T = u[p];
        }
        kmax = v > kmax ? v : kmax;
      }
    }
  }
  double in[2] = {(double)bad, kmax}, out[2];
  kv_comm_allreduce(in, out, 2, MPI_DOUBLE, MPI_MAX, kv_grid_comm(h->grid));
  if (out[0] > 0.0) {
    return kv_status_agree(kv_grid_comm(h->grid),
                           bad ? KV_ERROR(KV_ERR_NUMERIC,
                                          "heat: kappa(T) is not positive at "
                                          "T = %g (step %ld); heat.kappa = %s(...) is outside "
                                          "its range",
                                          worst_T, h->step + 1, h->p.kappa_field.name)
                               : KV_ERR_NUMERIC);
  }
  h->kappa_max = out[1];
  KV_CHECK(kv_field_halo_exchange(h->kappa));
  kv_heat_fill_boundary(h, h->kappa, 1);
  return KV_OK;
}

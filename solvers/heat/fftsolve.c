#include "solvers/heat/fftsolve.h"
#include "core/comm.h"

#include <fftw3-mpi.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/safefile.h"

#define KV_PI 3.14159265358979323846

struct kv_fftsolve {
  const kv_grid *g;
  MPI_Comm comm;
  int rank, size, nd;
  int sd;                 /* padded C-order dimension cut into slabs                     */
  long N[3];              /* global sizes, padded C order (z, y, x)                       */
  long *bbox;             /* every rank's field block: start[3], count[3]                */
  long *sbox;             /* every rank's slab: start[3], count[3]                       */
  int *cnt_b2s, *dsp_b2s; /* what this rank sends when moving blocks to slabs             */
  int *cnt_s2b, *dsp_s2b; /* ... and receives; the reverse move swaps the two             */
  double *sendbuf, *recvbuf;
  double *slab;  /* FFTW's in-place buffer                                       */
  double *scale; /* 1 / (normalisation x (1 - c sum lambda)) per transformed entry */
  int aligned;   /* every rank's block is its slab: no all-to-all needed          */
  long nscale;
  fftw_plan fwd, bwd;
};

/* ---------------------------------------------------------------- spectra */

typedef enum { DD, NN, DN, ND, PP } axis_kind;

static axis_kind kind_of(const int *bc) {
  if (bc[0] == 2) {
    return PP;
  }
  if (bc[0] == 0) {
    return bc[1] == 0 ? DD : DN;
  }
  return bc[1] == 0 ? ND : NN;
}

static void kinds(axis_kind k, fftw_r2r_kind *fwd, fftw_r2r_kind *bwd) {
  switch (k) {
  case DD:
    *fwd = FFTW_RODFT10;
    *bwd = FFTW_RODFT01;
    break;
  case NN:
    *fwd = FFTW_REDFT10;
    *bwd = FFTW_REDFT01;
    break;
  case DN:
    *fwd = *bwd = FFTW_RODFT11;
    break;
  case ND:
    *fwd = *bwd = FFTW_REDFT11;
    break;
  case PP:
    *fwd = FFTW_R2HC;
    *bwd = FFTW_HC2R;
    break;
  }
}

/* Eigenvalue of the 1D operator for transformed index r (FFTW's output order). */
static double lambda(axis_kind k, long n, double h, long r) {
  double a;
  switch (k) {
  case DD:
    a = KV_PI * (double)(r + 1) / (2.0 * n);
    break;
  case NN:
    a = KV_PI * (double)r / (2.0 * n);
    break;
  case DN:
  case ND:
    a = KV_PI * ((double)r + 0.5) / (2.0 * n);
    break;
  default: { /* halfcomplex: r <= n/2 holds frequency r, the rest frequency n - r */
    long f = r <= n / 2 ? r : n - r;
    a = KV_PI * (double)f / (double)n;
  }
  }
  double s = sin(a);
  return -4.0 * s * s / (h * h);
}

static double norm_of(axis_kind k, long n) {
  return k == PP ? (double)n : 2.0 * (double)n;
}

/* ---------------------------------------------------------------- redistribution */

/* Intersection of two boxes (start[3], count[3]); returns the number of cells. */
static long intersect(const long *a, const long *b, long *lo, long *hi) {
  long cells = 1;
  for (int c = 0; c < 3; c++) {
    lo[c] = a[c] > b[c] ? a[c] : b[c];
    long ea = a[c] + a[3 + c], eb = b[c] + b[3 + c];
    hi[c] = ea < eb ? ea : eb;
    cells *= hi[c] > lo[c] ? hi[c] - lo[c] : 0;
  }
  return cells;
}

/* Index in the field array of global padded-C cell (cz, cy, cx). */
static long field_at(const kv_field *f, const long *box, long cz, long cy, long cx) {
  return kv_field_index(kv_field_stride(f), kv_field_ghost(f), cx - box[2], cy - box[1],
                        cz - box[0]);
}

/* Index in the slab buffer (FFTW's non-transposed input layout). */
static long slab_at(const long *box, long cz, long cy, long cx) {
  return ((cz - box[0]) * box[4] + (cy - box[1])) * box[5] + (cx - box[2]);
}

/* Copy the rows (x runs, contiguous in both layouts) of box [lo, hi) between the field and a
 * packed buffer (or the slab). */
static long copy_rows(kv_fftsolve *s, kv_field *u, const long *lo, const long *hi, double *packed,
                      int to_packed, int packed_is_slab) {
  const long *mine_b = s->bbox + 6 * s->rank, *mine_s = s->sbox + 6 * s->rank;
  double *field = kv_field_data(u); /* only read when to_packed */
  size_t len = (size_t)(hi[2] - lo[2]);
  long p = 0;
  for (long cz = lo[0]; cz < hi[0]; cz++) {
    for (long cy = lo[1]; cy < hi[1]; cy++) {
      double *f = field + field_at(u, mine_b, cz, cy, lo[2]);
      double *q = packed_is_slab ? packed + slab_at(mine_s, cz, cy, lo[2]) : packed + p;
      if (to_packed) {
        memcpy(q, f, len * sizeof(double));
      } else {
        memcpy(f, q, len * sizeof(double));
      }
      p += (long)len;
    }
  }
  return p;
}

/* Copy rows of box [lo, hi) between the slab and a packed buffer. */
static long copy_slab_rows(kv_fftsolve *s, const long *lo, const long *hi, double *packed,
                           int to_packed) {
  const long *mine_s = s->sbox + 6 * s->rank;
  size_t len = (size_t)(hi[2] - lo[2]);
  long p = 0;
  for (long cz = lo[0]; cz < hi[0]; cz++) {
    for (long cy = lo[1]; cy < hi[1]; cy++) {
      double *q = s->slab + slab_at(mine_s, cz, cy, lo[2]);
      if (to_packed) {
        memcpy(packed + p, q, len * sizeof(double));
      } else {
        memcpy(q, packed + p, len * sizeof(double));
      }
      p += (long)len;
    }
  }
  return p;
}

static int move(kv_fftsolve *s, kv_field *u, int to_slab) {
  const long *mine_b = s->bbox + 6 * s->rank, *mine_s = s->sbox + 6 * s->rank;
  long lo[3], hi[3];
  if (s->aligned) {
    /* Every block is its rank's slab (always so on one rank): copy the rows directly. */
    intersect(mine_b, mine_s, lo, hi);
    copy_rows(s, u, lo, hi, s->slab, to_slab, 1);
    return KV_OK;
  }
  long p = 0;
  /* Pack: blocks->slabs packs our block's part of every slab; slabs->blocks the reverse. */
  for (int r = 0; r < s->size; r++) {
    const long *other = to_slab ? s->sbox + 6 * r : s->bbox + 6 * r;
    const long *mine = to_slab ? mine_b : mine_s;
    if (intersect(mine, other, lo, hi) == 0) {
      continue;
    }
    p += to_slab ? copy_rows(s, u, lo, hi, s->sendbuf + p, 1, 0)
                 : copy_slab_rows(s, lo, hi, s->sendbuf + p, 1);
  }
  const int *sc = to_slab ? s->cnt_b2s : s->cnt_s2b, *sdp = to_slab ? s->dsp_b2s : s->dsp_s2b;
  const int *rc = to_slab ? s->cnt_s2b : s->cnt_b2s, *rdp = to_slab ? s->dsp_s2b : s->dsp_b2s;
  if (MPI_Alltoallv(s->sendbuf, sc, sdp, MPI_DOUBLE, s->recvbuf, rc, rdp, MPI_DOUBLE, s->comm) !=
      MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "fft solver: redistribution failed");
  }
  p = 0;
  for (int q = 0; q < s->size; q++) {
    const long *other = to_slab ? s->bbox + 6 * q : s->sbox + 6 * q;
    const long *mine = to_slab ? mine_s : mine_b;
    if (intersect(mine, other, lo, hi) == 0) {
      continue;
    }
    p += to_slab ? copy_slab_rows(s, lo, hi, s->recvbuf + p, 0)
                 : copy_rows(s, u, lo, hi, s->recvbuf + p, 0, 0);
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- life cycle */

static int setup(kv_fftsolve *s, const kv_fftsolve_params *p) {
  const kv_grid *g = s->g;
  const long *n = kv_grid_global_n(g), *nl = kv_grid_local_n(g), *off = kv_grid_offset(g);
  const double *h = kv_grid_spacing(g);
  axis_kind ak[3];
  for (int a = 0; a < 3; a++) {
    ak[a] = a < s->nd ? kind_of(p->bc[a]) : DD;
    if (a < s->nd && (p->bc[a][0] == 2) != (p->bc[a][1] == 2)) {
      return KV_ERROR(KV_ERR_INVALID, "fft solver: axis %c is periodic on one face only", "xyz"[a]);
    }
  }
  for (int c = 0; c < 3; c++) {
    s->N[c] = n[2 - c];
  }
  s->sd = s->nd >= 2 ? 3 - s->nd : 2;
  /* Plan (or, in 1D, prepare rank 0's serial plan) and learn this rank's slab. */
  long s0 = 0, sn = 0, t0 = 0, tn = 0, alloc = 0;
  fftw_r2r_kind kf[3], kb[3];
  for (int i = 0; i < s->nd; i++) {
    kinds(ak[2 - (s->sd + i)], &kf[i], &kb[i]);
  }
  int keep_file = 0; /* a file that is not wisdom is not ours to replace */
  if (p->wisdom) {
    /* An absent file is the first run: plan afresh and write it below. */
    FILE *probe = s->rank == 0 ? fopen(p->wisdom, "r") : NULL;
    if (probe) {
      fclose(probe);
      if (!fftw_import_wisdom_from_filename(p->wisdom)) {
        kv_warn("heat.fft_wisdom: '%s' is not FFTW wisdom; planning afresh and leaving the file "
                "as it is",
                p->wisdom);
        keep_file = 1;
      }
    }
    fftw_mpi_broadcast_wisdom(s->comm);
  }
  if (s->nd >= 2) {
    ptrdiff_t dims[3], ln0, l0s, ln1, l1s;
    for (int i = 0; i < s->nd; i++) {
      dims[i] = (ptrdiff_t)s->N[s->sd + i];
    }
    alloc = (long)fftw_mpi_local_size_many_transposed(s->nd, dims, 1, FFTW_MPI_DEFAULT_BLOCK,
                                                      FFTW_MPI_DEFAULT_BLOCK, s->comm, &ln0, &l0s,
                                                      &ln1, &l1s);
    s0 = l0s;
    sn = ln0;
    t0 = l1s;
    tn = ln1;
    s->slab = fftw_alloc_real((size_t)(alloc > 0 ? alloc : 1));
    if (!s->slab) {
      return KV_ERROR(KV_ERR_NOMEM, "fft solver: out of memory");
    }
    s->fwd =
        fftw_mpi_plan_many_r2r(s->nd, dims, 1, FFTW_MPI_DEFAULT_BLOCK, FFTW_MPI_DEFAULT_BLOCK,
                               s->slab, s->slab, s->comm, kf, p->planner | FFTW_MPI_TRANSPOSED_OUT);
    s->bwd =
        fftw_mpi_plan_many_r2r(s->nd, dims, 1, FFTW_MPI_DEFAULT_BLOCK, FFTW_MPI_DEFAULT_BLOCK,
                               s->slab, s->slab, s->comm, kb, p->planner | FFTW_MPI_TRANSPOSED_IN);
    if (!s->fwd || !s->bwd) {
      return KV_ERROR(KV_ERR_UNSUPPORTED, "fft solver: FFTW could not plan");
    }
  } else {
    sn = s->rank == 0 ? s->N[2] : 0;
    if (s->N[2] > INT_MAX) {
      return KV_ERROR(KV_ERR_UNSUPPORTED,
                      "heat.n = %ld: a 1-D FFT line longer than 2^31 cells (FFTW's int sizes)",
                      (long)s->N[2]);
    }
    s->slab = fftw_alloc_real((size_t)(sn > 0 ? sn : 1));
    if (!s->slab) {
      return KV_ERROR(KV_ERR_NOMEM, "fft solver: out of memory");
    }
    if (s->rank == 0) {
      s->fwd = fftw_plan_r2r_1d((int)sn, s->slab, s->slab, kf[0], p->planner);
      s->bwd = fftw_plan_r2r_1d((int)sn, s->slab, s->slab, kb[0], p->planner);
      if (!s->fwd || !s->bwd) {
        return KV_ERROR(KV_ERR_UNSUPPORTED, "fft solver: FFTW could not plan");
      }
    }
  }
  if (p->wisdom) {
    fftw_mpi_gather_wisdom(s->comm);
    if (s->rank == 0 && !keep_file) {
      char tmp[4096];
      snprintf(tmp, sizeof tmp, "%s.part", p->wisdom);
      /* Only over wisdom (a file that was FFTW's), through a temporary created afresh. */
      FILE *f = kv_safefile_replaceable(p->wisdom, "(fftw-3", "heat.fft_wisdom") == KV_OK
                    ? kv_safefile_create(tmp, "w")
                    : NULL;
      int ok = f != NULL;
      if (f) {
        fftw_export_wisdom_to_file(f);
        ok = !ferror(f);
        ok &= fclose(f) == 0;
      }
      if (!ok || rename(tmp, p->wisdom) != 0) {
        if (f) {
          remove(tmp);
        }
        kv_warn("heat.fft_wisdom: %s; the plans were not saved",
                f ? "cannot write the file" : kv_error_message());
      }
    }
  }
  /* Every rank's block and slab, padded C order. */
  long mine[12];
  for (int c = 0; c < 3; c++) {
    mine[c] = off[2 - c];
    mine[3 + c] = nl[2 - c];
    mine[6 + c] = c == s->sd ? s0 : 0;
    mine[9 + c] = c == s->sd ? sn : s->N[c];
  }
  long *all = malloc((size_t)s->size * 12 * sizeof *all);
  s->bbox = malloc((size_t)s->size * 6 * sizeof *s->bbox);
  s->sbox = malloc((size_t)s->size * 6 * sizeof *s->sbox);
  s->cnt_b2s = malloc((size_t)s->size * 4 * sizeof(int));
  if (!all || !s->bbox || !s->sbox || !s->cnt_b2s) {
    free(all);
    return KV_ERROR(KV_ERR_NOMEM, "fft solver: out of memory");
  }
  s->dsp_b2s = s->cnt_b2s + s->size;
  s->cnt_s2b = s->cnt_b2s + 2 * s->size;
  s->dsp_s2b = s->cnt_b2s + 3 * s->size;
  MPI_Allgather(mine, 12, MPI_LONG, all, 12, MPI_LONG, s->comm);
  for (int r = 0; r < s->size; r++) {
    memcpy(s->bbox + 6 * r, all + 12 * r, 6 * sizeof(long));
    memcpy(s->sbox + 6 * r, all + 12 * r + 6, 6 * sizeof(long));
  }
  free(all);
  long lo[3], hi[3], nsend = 0, nrecv = 0;
  for (int r = 0; r < s->size; r++) {
    long a = intersect(s->bbox + 6 * s->rank, s->sbox + 6 * r, lo, hi);
    long b = intersect(s->sbox + 6 * s->rank, s->bbox + 6 * r, lo, hi);
    if (a > INT_MAX || b > INT_MAX || nsend + a > INT_MAX || nrecv + b > INT_MAX) {
      return KV_ERROR(KV_ERR_UNSUPPORTED,
                      "heat.n: more than 2^31 cells would move to or from one rank in the FFT "
                      "solver's all-to-all (MPI counts are int): use more ranks");
    }
    s->cnt_b2s[r] = (int)a;
    s->dsp_b2s[r] = (int)nsend;
    s->cnt_s2b[r] = (int)b;
    s->dsp_s2b[r] = (int)nrecv;
    nsend += a;
    nrecv += b;
  }
  int same = memcmp(s->bbox + 6 * s->rank, s->sbox + 6 * s->rank, 6 * sizeof(long)) == 0;
  kv_comm_allreduce(&same, &s->aligned, 1, MPI_INT, MPI_MIN, s->comm);
  long nbuf = nsend > nrecv ? nsend : nrecv;
  s->sendbuf = malloc((size_t)(nbuf > 0 ? nbuf : 1) * sizeof(double));
  s->recvbuf = malloc((size_t)(nbuf > 0 ? nbuf : 1) * sizeof(double));
  /* Scale factors in the transformed layout: (local_n1, n0[, n2]) in 2D/3D, (n) in 1D. */
  long dimsT[3] = {1, 1, 1}, startT[3] = {0, 0, 0};
  int axisT[3] = {0, 0, 0};
  if (s->nd >= 2) {
    dimsT[0] = tn;
    startT[0] = t0;
    axisT[0] = 2 - (s->sd + 1);
    dimsT[1] = s->N[s->sd];
    axisT[1] = 2 - s->sd;
    if (s->nd == 3) {
      dimsT[2] = s->N[2];
      axisT[2] = 0;
    }
  } else {
    dimsT[0] = sn;
    axisT[0] = 0;
  }
  s->nscale = dimsT[0] * dimsT[1] * dimsT[2];
  s->scale = malloc((size_t)(s->nscale > 0 ? s->nscale : 1) * sizeof(double));
  if (!s->sendbuf || !s->recvbuf || !s->scale) {
    return KV_ERROR(KV_ERR_NOMEM, "fft solver: out of memory");
  }
  double norm = 1.0;
  for (int a = 0; a < s->nd; a++) {
    norm *= norm_of(ak[a], n[a]);
  }
  int used = s->nd >= 2 ? s->nd : 1;
  long q = 0;
  for (long i0 = 0; i0 < dimsT[0]; i0++) {
    for (long i1 = 0; i1 < dimsT[1]; i1++) {
      for (long i2 = 0; i2 < dimsT[2]; i2++) {
        long idx[3] = {startT[0] + i0, startT[1] + i1, startT[2] + i2};
        double lam = 0.0;
        for (int d = 0; d < used; d++) {
          int a = axisT[d];
          lam += lambda(ak[a], n[a], h[a], idx[d]);
        }
        s->scale[q++] = 1.0 / (norm * (1.0 - p->coef * lam));
      }
    }
  }
  return KV_OK;
}

int kv_fftsolve_create(const kv_grid *g, const kv_fftsolve_params *p, kv_fftsolve **out) {
  *out = NULL;
  KV_CHECK(kv_comm_start()); /* FFTW-MPI needs MPI, even on one process */
  MPI_Comm comm = kv_grid_comm(g);
  kv_fftsolve *s = calloc(1, sizeof *s);
  int rc = s ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "fft solver: out of memory");
  KV_CHECK(kv_status_agree(comm, rc));
  fftw_mpi_init();
  s->g = g;
  s->comm = comm;
  s->nd = kv_grid_ndims(g);
  s->rank = kv_comm_rank(comm);
  s->size = kv_comm_size(comm);
  rc = kv_status_agree(comm, setup(s, p));
  if (rc != KV_OK) {
    kv_fftsolve_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

int kv_fftsolve_solve(kv_fftsolve *s, const kv_field *rhs, kv_field *u) {
  /* move() only reads the field when packing towards the slab */
  KV_CHECK(move(s, (kv_field *)rhs, 1));
  if (s->fwd) {
    fftw_execute(s->fwd);
  }
  for (long i = 0; i < s->nscale; i++) {
    s->slab[i] *= s->scale[i];
  }
  if (s->bwd) {
    fftw_execute(s->bwd);
  }
  return move(s, u, 0);
}

void kv_fftsolve_free(kv_fftsolve *s) {
  if (!s) {
    return;
  }
  if (s->fwd) {
    fftw_destroy_plan(s->fwd);
  }
  if (s->bwd) {
    fftw_destroy_plan(s->bwd);
  }
  fftw_free(s->slab);
  free(s->bbox);
  free(s->sbox);
  free(s->cnt_b2s);
  free(s->sendbuf);
  free(s->recvbuf);
  free(s->scale);
  free(s);
}

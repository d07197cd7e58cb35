#include "core/field.h"
#include "core/comm.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/status.h"

struct kv_field {
  const kv_grid *grid;
  long m[KV_MAXDIM]; /* local extent with ghosts          */
  long stride[KV_MAXDIM];
  int ghost[KV_MAXDIM];
  long count; /* m[0] m[1] m[2]                    */
  double *data;
  /* halo: per axis and side, a send type (first/last interior layer) and a receive type (ghost) */
  MPI_Datatype send_t[KV_MAXDIM][2], recv_t[KV_MAXDIM][2];
  MPI_Request req[4 * KV_MAXDIM];
  int nreq;
};

static int make_face_type(const kv_field *f, int axis, long start, MPI_Datatype *t) {
  const long *nloc = kv_grid_local_n(f->grid);
  /* MPI subarray in C order: slowest (z) first. */
  int sizes[3], sub[3], starts[3];
  for (int d = 0; d < 3; d++) {
    int c = 2 - d;
    sizes[c] = (int)f->m[d];
    sub[c] = d == axis ? 1 : (int)nloc[d];
    starts[c] = d == axis ? (int)start : f->ghost[d];
  }
  if (MPI_Type_create_subarray(3, sizes, sub, starts, MPI_ORDER_C, MPI_DOUBLE, t) != MPI_SUCCESS ||
      MPI_Type_commit(t) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "field: cannot build halo datatype");
  }
  return KV_OK;
}

int kv_field_create(const kv_grid *g, kv_field **out) {
  *out = NULL;
  kv_field *f = calloc(1, sizeof *f);
  if (!f) {
    return KV_ERROR(KV_ERR_NOMEM, "field: out of memory");
  }
  f->grid = g;
  const long *nloc = kv_grid_local_n(g);
  int nd = kv_grid_ndims(g);
  f->count = 1;
  int overflow = 0;
  for (int d = 0; d < KV_MAXDIM; d++) {
    f->ghost[d] = d < nd ? 1 : 0;
    f->m[d] = nloc[d] + 2 * f->ghost[d];
    overflow |= __builtin_mul_overflow(f->count, f->m[d], &f->count);
  }
  if (overflow || f->count > (long)(SIZE_MAX / sizeof(double) / 2)) {
    free(f);
    return KV_ERROR(KV_ERR_NOMEM, "field: %ld x %ld x %ld cells per rank cannot be allocated",
                    nloc[0], nloc[1], nloc[2]);
  }
  f->stride[0] = 1;
  f->stride[1] = f->m[0];
  f->stride[2] = f->m[0] * f->m[1];
  /* 64-byte alignment keeps rows friendly to vector loads and streaming stores; large fields
   * come on huge pages (2 MiB aligned), cheap to touch first and to the TLB. */
  size_t bytes = ((size_t)f->count * sizeof(double) + 63) / 64 * 64;
  f->data = kv_alloc_large(bytes);
  if (!f->data) {
    long count = f->count;
    free(f);
    return KV_ERROR(KV_ERR_NOMEM, "cannot allocate a field of %ld doubles (%.3g GB)", count,
                    (double)count * 8e-9);
  }
  memset(f->data, 0, bytes);
  for (int d = 0; d < KV_MAXDIM; d++) {
    for (int s = 0; s < 2; s++) {
      f->send_t[d][s] = f->recv_t[d][s] = MPI_DATATYPE_NULL;
    }
  }
  for (int d = 0; d < nd && !kv_grid_is_serial(g); d++) {
    int rc = KV_OK;
    if (rc == KV_OK) {
      rc = make_face_type(f, d, f->ghost[d], &f->send_t[d][0]);
    }
    if (rc == KV_OK) {
      rc = make_face_type(f, d, f->ghost[d] + nloc[d] - 1, &f->send_t[d][1]);
    }
    if (rc == KV_OK) {
      rc = make_face_type(f, d, 0, &f->recv_t[d][0]);
    }
    if (rc == KV_OK) {
      rc = make_face_type(f, d, f->ghost[d] + nloc[d], &f->recv_t[d][1]);
    }
    if (rc != KV_OK) {
      kv_field_free(f);
      return rc;
    }
  }
  *out = f;
  return KV_OK;
}

void kv_field_free(kv_field *f) {
  if (!f) {
    return;
  }
  for (int d = 0; d < KV_MAXDIM; d++) {
    for (int s = 0; s < 2; s++) {
      if (f->send_t[d][s] != MPI_DATATYPE_NULL) {
        MPI_Type_free(&f->send_t[d][s]);
      }
      if (f->recv_t[d][s] != MPI_DATATYPE_NULL) {
        MPI_Type_free(&f->recv_t[d][s]);
      }
    }
  }
  free(f->data);
  free(f);
}

const kv_grid *kv_field_grid(const kv_field *f) {
  return f->grid;
}
double *kv_field_data(kv_field *f) {
  return f->data;
}
const double *kv_field_data_const(const kv_field *f) {
  return f->data;
}
const long *kv_field_extent(const kv_field *f) {
  return f->m;
}
const long *kv_field_stride(const kv_field *f) {
  return f->stride;
}
const int *kv_field_ghost(const kv_field *f) {
  return f->ghost;
}

/* A grid without MPI: a periodic axis wraps onto itself (the first interior layer to the high
 * ghost, the last to the low one); other ghosts are the boundary conditions' business, as the
 * exchange with MPI_PROC_NULL leaves them. */
static void serial_halo(kv_field *f) {
  const int *per = kv_grid_periodic(f->grid);
  const long *nl = kv_grid_local_n(f->grid);
  int nd = kv_grid_ndims(f->grid);
  for (int d = 0; d < nd; d++) {
    if (!per[d]) {
      continue;
    }
    /* The two other axes' interior ranges. */
    int a = (d + 1) % 3, b = (d + 2) % 3;
    long g = f->ghost[d], st = f->stride[d];
    for (long j = 0; j < nl[b]; j++) {
      for (long i = 0; i < nl[a]; i++) {
        long base = (i + f->ghost[a]) * f->stride[a] + (j + f->ghost[b]) * f->stride[b];
        f->data[base + (g + nl[d]) * st] = f->data[base + g * st];
        f->data[base + (g - 1) * st] = f->data[base + (g + nl[d] - 1) * st];
      }
    }
  }
}

int kv_field_halo_begin(kv_field *f) {
  if (kv_grid_is_serial(f->grid)) {
    serial_halo(f);
    f->nreq = 0;
    return KV_OK;
  }
  MPI_Comm comm = kv_grid_comm(f->grid);
  int nd = kv_grid_ndims(f->grid);
  f->nreq = 0;
  for (int d = 0; d < nd; d++) {
    int lo = kv_grid_neighbor(f->grid, d, 0), hi = kv_grid_neighbor(f->grid, d, 1);
    /* Tag 2d+0 travels downwards (our low face -> low neighbour's high ghost), 2d+1 upwards. */
    int e = MPI_SUCCESS;
    e |= MPI_Irecv(f->data, 1, f->recv_t[d][0], lo, 2 * d + 1, comm, &f->req[f->nreq++]);
    e |= MPI_Irecv(f->data, 1, f->recv_t[d][1], hi, 2 * d + 0, comm, &f->req[f->nreq++]);
    e |= MPI_Isend(f->data, 1, f->send_t[d][0], lo, 2 * d + 0, comm, &f->req[f->nreq++]);
    e |= MPI_Isend(f->data, 1, f->send_t[d][1], hi, 2 * d + 1, comm, &f->req[f->nreq++]);
    if (e != MPI_SUCCESS) {
      return KV_ERROR(KV_ERR_MPI, "field: halo exchange could not be started");
    }
  }
  return KV_OK;
}

int kv_field_halo_end(kv_field *f) {
  if (f->nreq > 0 && MPI_Waitall(f->nreq, f->req, MPI_STATUSES_IGNORE) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "field: halo exchange failed");
  }
  f->nreq = 0;
  return KV_OK;
}

int kv_field_halo_exchange(kv_field *f) {
  KV_CHECK(kv_field_halo_begin(f));
  return kv_field_halo_end(f);
}

#define KV_FOR_INTERIOR(f, idx)                                                                    \
  const long *nl_ = kv_grid_local_n((f)->grid);                                                    \
  for (long k_ = 0; k_ < nl_[2]; k_++)                                                             \
    for (long j_ = 0; j_ < nl_[1]; j_++)                                                           \
      for (long i_ = 0, idx = kv_field_index((f)->stride, (f)->ghost, 0, j_, k_); i_ < nl_[0];     \
           i_++, idx++)

void kv_field_fill_boundary(kv_field *f, const int rule[3][2], const double g[3][2]) {
  const kv_grid *grid = f->grid;
  const long *nl = kv_grid_local_n(grid);
  const double *hs = kv_grid_spacing(grid);
  for (int d = 0; d < kv_grid_ndims(grid); d++) {
    int a = (d + 1) % 3, b = (d + 2) % 3; /* the two other axes */
    for (int s = 0; s < 2; s++) {
      if (!kv_grid_at_boundary(grid, d, s) || rule[d][s] == KV_GHOST_PERIODIC) {
        continue;
      }
      long in_i = s == 0 ? 0 : nl[d] - 1, gh_i = s == 0 ? -1 : nl[d];
      int r = rule[d][s];
      double gv = g ? g[d][s] : 0.0;
      for (long ib = 0; ib < nl[b]; ib++) {
        for (long ia = 0; ia < nl[a]; ia++) {
          long in[3], gh[3];
          in[d] = in_i;
          gh[d] = gh_i;
          in[a] = gh[a] = ia;
          in[b] = gh[b] = ib;
          long pin = kv_field_index(f->stride, f->ghost, in[0], in[1], in[2]);
          long pgh = kv_field_index(f->stride, f->ghost, gh[0], gh[1], gh[2]);
          double u = f->data[pin];
          f->data[pgh] = r == KV_GHOST_DIRICHLET ? 2.0 * gv - u
                         : r == KV_GHOST_NEUMANN ? u + hs[d] * gv
                                                 : u;
        }
      }
    }
  }
}

void kv_field_fill(kv_field *f, double v) {
  KV_FOR_INTERIOR(f, p) {
    f->data[p] = v;
  }
}

int kv_field_copy(kv_field *dst, const kv_field *src) {
  if (dst->count != src->count) {
    return KV_ERROR(KV_ERR_INVALID, "field: copy between fields of different shapes");
  }
  memcpy(dst->data, src->data, (size_t)src->count * sizeof(double));
  return KV_OK;
}

void kv_field_set_fn(kv_field *f, double (*fn)(const double *x, void *ctx), void *ctx) {
  const long *off = kv_grid_offset(f->grid);
  int nd = kv_grid_ndims(f->grid);
  KV_FOR_INTERIOR(f, p) {
    double x[KV_MAXDIM] = {0.0, 0.0, 0.0};
    long ijk[3] = {i_, j_, k_};
    for (int d = 0; d < nd; d++) {
      x[d] = kv_grid_coord(f->grid, d, off[d] + ijk[d]);
    }
    f->data[p] = fn(x, ctx);
  }
}

/* s + e = a + b exactly (Knuth's TwoSum). */
static void two_sum(double a, double b, double *s, double *e) {
  double x = a + b, bb = x - a;
  *e = (a - (x - bb)) + (b - bb);
  *s = x;
}

/* Sums carry their rounding error along (cascaded summation, Ogita-Rump-Oishi Sum2), locally and
 * across ranks in rank order: the result is the correctly rounded sum unless the data are
 * ill-conditioned, so it does not depend on how the grid is split over ranks. A sweep's case
 * files are then bit-identical whatever ranks_per_case is. */
static int deterministic_sum(const kv_field *f, int squares, double *out) {
  double acc[2] = {0.0, 0.0};
  KV_FOR_INTERIOR(f, p) {
    double v = squares ? f->data[p] * f->data[p] : f->data[p], e;
    two_sum(acc[0], v, &acc[0], &e);
    acc[1] += e;
  }
  MPI_Comm comm = kv_grid_comm(f->grid);
  int size;
  size = kv_comm_size(comm);
  double *all = malloc(2 * (size_t)size * sizeof *all);
  if (!all) {
    return KV_ERROR(KV_ERR_NOMEM, "field: out of memory for a reduction");
  }
  if (kv_comm_allgather(acc, 2, MPI_DOUBLE, all, comm) != KV_OK) {
    free(all);
    return KV_ERROR(KV_ERR_MPI, "field: reduction failed");
  }
  double hi = 0.0, lo = 0.0, e;
  for (int r = 0; r < size; r++) {
    two_sum(hi, all[2 * r], &hi, &e);
    lo += e + all[2 * r + 1];
  }
  free(all);
  *out = hi + lo;
  return KV_OK;
}

int kv_field_reduce(const kv_field *f, kv_reduce_op op, double *out) {
  double acc;
  MPI_Op mop;
  switch (op) {
  case KV_REDUCE_SUM:
  case KV_REDUCE_SUMSQ:
    return deterministic_sum(f, op == KV_REDUCE_SUMSQ, out);
  case KV_REDUCE_MIN:
    acc = INFINITY;
    mop = MPI_MIN;
    break;
  case KV_REDUCE_MAX:
    acc = -INFINITY;
    mop = MPI_MAX;
    break;
  case KV_REDUCE_MAXABS:
    acc = 0.0;
    mop = MPI_MAX;
    break;
  default:
    return KV_ERROR(KV_ERR_INVALID, "field: unknown reduction %d", (int)op);
  }
  KV_FOR_INTERIOR(f, p) {
    double v = f->data[p];
    switch (op) {
    case KV_REDUCE_SUM:
      acc += v;
      break;
    case KV_REDUCE_SUMSQ:
      acc += v * v;
      break;
    case KV_REDUCE_MIN:
      acc = v < acc ? v : acc;
      break;
    case KV_REDUCE_MAX:
      acc = v > acc ? v : acc;
      break;
    case KV_REDUCE_MAXABS:
      acc = fabs(v) > acc ? fabs(v) : acc;
      break;
    }
  }
  if (kv_comm_allreduce(&acc, out, 1, MPI_DOUBLE, mop, kv_grid_comm(f->grid)) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "field: reduction failed");
  }
  return KV_OK;
}

int kv_field_norm2(const kv_field *f, double *out) {
  double s = 0.0;
  KV_CHECK(kv_field_reduce(f, KV_REDUCE_SUMSQ, &s));
  *out = sqrt(s);
  return KV_OK;
}

int kv_field_mean(const kv_field *f, double *out) {
  double s = 0.0;
  KV_CHECK(kv_field_reduce(f, KV_REDUCE_SUM, &s));
  *out = s / (double)kv_grid_global_count(f->grid);
  return KV_OK;
}

void kv_field_pack(const kv_field *f, double *out) {
  long r = 0;
  KV_FOR_INTERIOR(f, p) {
    out[r++] = f->data[p];
  }
}

void kv_field_unpack(const double *in, kv_field *f) {
  long r = 0;
  KV_FOR_INTERIOR(f, p) {
    f->data[p] = in[r++];
  }
}

int kv_field_has_nonfinite(const kv_field *f, int *out) {
  int bad = 0;
  KV_FOR_INTERIOR(f, p) {
    bad |= !isfinite(f->data[p]);
  }
  if (kv_comm_allreduce(&bad, out, 1, MPI_INT, MPI_MAX, kv_grid_comm(f->grid)) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "field: reduction failed");
  }
  return KV_OK;
}

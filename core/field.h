/* kelvin — distributed fields on a kv_grid, with one ghost layer on every active axis.
 *
 * The local block is stored contiguously, x fastest, including ghosts. Halo exchange fills the
 * ghost faces from neighbouring ranks (and across periodic wraps) with non-blocking point-to-point
 * messages on pre-built MPI subarray types; corners are not exchanged (5/7-point stencils do not
 * need them). Ghosts on physical boundaries are left for the solver to fill from its boundary
 * conditions.
 */
#ifndef KV_FIELD_H
#define KV_FIELD_H

#include <mpi.h>

#include "core/grid.h"

typedef struct kv_field kv_field;

typedef enum {
  KV_REDUCE_SUM,
  KV_REDUCE_SUMSQ,
  KV_REDUCE_MIN,
  KV_REDUCE_MAX,
  KV_REDUCE_MAXABS
} kv_reduce_op;

/* Create a zero field on grid g. The grid is borrowed and must outlive the field. Not collective
 * (purely local allocation), but every rank of the grid must create its part. */
int kv_field_create(const kv_grid *g, kv_field **out);

/* Free; NULL is a no-op. */
void kv_field_free(kv_field *f);

/* The grid the field lives on (borrowed). */
const kv_grid *kv_field_grid(const kv_field *f);

/* Pointer to the whole local array, ghosts included (owned by the field). */
double *kv_field_data(kv_field *f);
const double *kv_field_data_const(const kv_field *f);

/* Extents of the local array with ghosts (m) per axis, strides per axis (1, mx, mx*my) and the
 * ghost width per axis (1 on active axes, 0 otherwise). Arrays of KV_MAXDIM. */
const long *kv_field_extent(const kv_field *f);
const long *kv_field_stride(const kv_field *f);
const int *kv_field_ghost(const kv_field *f);

/* Linear index in the local array of local interior cell (i, j, k). */
static inline long kv_field_index(const long *stride, const int *ghost, long i, long j, long k) {
  return (k + ghost[2]) * stride[2] + (j + ghost[1]) * stride[1] + (i + ghost[0]);
}

/* Start / finish the halo exchange. Between the two, only interior cells away from the block's
 * faces may be read and no cell may be written. Collective over the grid communicator. */
int kv_field_halo_begin(kv_field *f);
int kv_field_halo_end(kv_field *f);

/* begin + end. Collective. */
int kv_field_halo_exchange(kv_field *f);

/* Boundary ghost rules per face (physical, non-periodic faces only). */
typedef enum {
  KV_GHOST_DIRICHLET = 0, /* u_g = 2 g - u_in: the face value is g                       */
  KV_GHOST_NEUMANN = 1,   /* u_g = u_in + h g: the outward normal gradient is g          */
  KV_GHOST_PERIODIC = 2,  /* filled by the halo exchange; left alone here                */
  KV_GHOST_COPY = 3       /* u_g = u_in (e.g. a coefficient field)                        */
} kv_ghost_rule;

/* Fill the ghost faces that lie on the physical boundary with rule[axis][side] and value
 * g[axis][side] (g may be NULL: all zero, i.e. the homogeneous conditions). Local. */
void kv_field_fill_boundary(kv_field *f, const int rule[3][2], const double g[3][2]);

/* Copy the interior cells into out (contiguous, x fastest: kv_grid_local_count values) and
 * back. Local. */
void kv_field_pack(const kv_field *f, double *out);
void kv_field_unpack(const double *in, kv_field *f);

/* Set every interior cell to v. Local. */
void kv_field_fill(kv_field *f, double v);

/* Copy the whole local array (ghosts included) of src into dst; both on the same grid. Local. */
int kv_field_copy(kv_field *dst, const kv_field *src);

/* Set interior cells from fn(x, y, z, ctx), with cell-centre coordinates. Local. */
void kv_field_set_fn(kv_field *f, double (*fn)(const double *x, void *ctx), void *ctx);

/* Global reduction over interior cells. Collective. */
int kv_field_reduce(const kv_field *f, kv_reduce_op op, double *out);

/* Euclidean norm sqrt(sum u^2) over interior cells of every rank. Collective. */
int kv_field_norm2(const kv_field *f, double *out);

/* Global mean over interior cells (every cell has the same volume). Collective. */
int kv_field_mean(const kv_field *f, double *out);

/* 1 on every rank if any interior cell on any rank is NaN or Inf. Collective. */
int kv_field_has_nonfinite(const kv_field *f, int *out);

#endif

/* kelvin — Cartesian domain decomposition of a uniform 1-3D box.
 *
 * Axis 0 is x, 1 is y, 2 is z; x varies fastest in memory and in files, so a 3D field is stored
 * (z, y, x) as in netCDF/CF. The box is split into blocks over a Cartesian communicator
 * (MPI_Dims_create + MPI_Cart_create, periodic where asked); sizes need not divide the rank
 * counts: the first n % p blocks along an axis get one extra cell. Values are cell-centred:
 * cell i on an axis of length L and n cells sits at (i + 1/2) L / n.
 */
#ifndef KV_GRID_H
#define KV_GRID_H

#include <mpi.h>

#define KV_MAXDIM 3

typedef struct kv_grid kv_grid;

/* What a grid is made from. Plain, caller-owned. */
typedef struct {
  int ndims;                /* 1, 2 or 3                                             */
  long n[KV_MAXDIM];        /* global cells per axis (unused axes: 1)                 */
  double length[KV_MAXDIM]; /* box length per axis (unused axes: 1)                   */
  int periodic[KV_MAXDIM];  /* 1 where the axis wraps around                          */
  int procs[KV_MAXDIM];     /* ranks per axis; 0 lets MPI_Dims_create choose          */
  int serial;               /* the caller's code runs on one process without MPI: when MPI
                               is not running and no launcher started us, the grid is one
                               block without a communicator (halos by local copies) and MPI
                               is not started for it                                    */
} kv_grid_params;

/* Defaults: 1D, 1 cell of length 1, not periodic, automatic process grid. */
void kv_grid_params_default(kv_grid_params *p);

/* Build the decomposition over comm (duplicated into a Cartesian communicator). Fails with
 * KV_ERR_CONFIG when an axis has fewer cells than ranks along it. Collective. The caller owns
 * *out and frees it with kv_grid_free. */
int kv_grid_create(MPI_Comm comm, const kv_grid_params *p, kv_grid **out);

/* The grid with every cell merged with its neighbours in blocks of 2 per axis, on the same
 * process grid, each rank owning the coarse cells of its fine block. Possible when every rank's
 * block has even sizes and offsets on every axis (and at least 2 cells); otherwise
 * KV_ERR_UNSUPPORTED, agreed on every rank. Collective. The caller frees *out. */
int kv_grid_coarsen(const kv_grid *fine, kv_grid **out);

/* Free a grid; NULL is a no-op. Collective (frees a communicator). */
void kv_grid_free(kv_grid *g);

/* Accessors. Not collective. Arrays returned are borrowed and have KV_MAXDIM entries. */
int kv_grid_ndims(const kv_grid *g);
const long *kv_grid_global_n(const kv_grid *g);  /* global cells per axis                   */
const long *kv_grid_local_n(const kv_grid *g);   /* this rank's cells per axis              */
const long *kv_grid_offset(const kv_grid *g);    /* global index of this rank's first cell  */
const double *kv_grid_spacing(const kv_grid *g); /* cell size per axis                       */
const double *kv_grid_length(const kv_grid *g);
const int *kv_grid_periodic(const kv_grid *g);
const int *kv_grid_procs(const kv_grid *g); /* ranks per axis                           */
MPI_Comm kv_grid_comm(const kv_grid *g);
/* 1 for a grid made without MPI (params.serial): its communicator is MPI_COMM_SELF, its halos
 * local copies. */
int kv_grid_is_serial(const kv_grid *g); /* the Cartesian communicator (borrowed)    */

/* Neighbour rank along axis on side 0 (low) or 1 (high); MPI_PROC_NULL at a physical boundary. */
int kv_grid_neighbor(const kv_grid *g, int axis, int side);

/* 1 when this rank's block touches the physical (non-periodic) boundary at (axis, side). */
int kv_grid_at_boundary(const kv_grid *g, int axis, int side);

/* Coordinate of global cell index i along axis: (i + 1/2) h. */
double kv_grid_coord(const kv_grid *g, int axis, long i);

/* Total number of cells in the box. */
long kv_grid_global_count(const kv_grid *g);

/* The number of this rank's cells. Not collective. */
long kv_grid_local_count(const kv_grid *g);

/* The global row-major index (x fastest) of each of this rank's cells, in the local order
 * (x fastest), into out (kv_grid_local_count values; ascending). Not collective. */
void kv_grid_global_rows(const kv_grid *g, long *out);

#endif

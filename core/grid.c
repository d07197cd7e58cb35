#include "core/grid.h"
#include "core/comm.h"

#include <stdlib.h>
#include <string.h>

#include "core/status.h"

struct kv_grid {
  int ndims;
  long n[KV_MAXDIM];
  long nloc[KV_MAXDIM];
  long off[KV_MAXDIM];
  double len[KV_MAXDIM];
  double h[KV_MAXDIM];
  int periodic[KV_MAXDIM];
  int procs[KV_MAXDIM];
  int coords[KV_MAXDIM];
  int nbr[KV_MAXDIM][2];
  MPI_Comm comm;
  int serial; /* one block, no MPI (kv_grid_params.serial)               */
};

void kv_grid_params_default(kv_grid_params *p) {
  memset(p, 0, sizeof *p); /* every field, including any added later (serial was missed once) */
  p->ndims = 1;
  for (int d = 0; d < KV_MAXDIM; d++) {
    p->n[d] = 1;
    p->length[d] = 1.0;
    p->periodic[d] = 0;
    p->procs[d] = 0;
  }
}

/* Give the larger rank counts to the axes with more cells, so blocks stay close to cubes. */
static void assign_procs(int ndims, const long *n, int *dims_sorted, int *procs) {
  int order[KV_MAXDIM] = {0, 1, 2};
  for (int a = 0; a < ndims; a++) {
    for (int b = a + 1; b < ndims; b++) {
      if (n[order[b]] > n[order[a]]) {
        int t = order[a];
        order[a] = order[b];
        order[b] = t;
      }
    }
  }
  for (int k = 0; k < ndims; k++) {
    procs[order[k]] = dims_sorted[k];
  }
}

int kv_grid_create(MPI_Comm comm, const kv_grid_params *p, kv_grid **out) {
  *out = NULL;
  if (p->ndims < 1 || p->ndims > KV_MAXDIM) {
    return KV_ERROR(KV_ERR_INVALID, "grid: ndims must be 1..3, got %d", p->ndims);
  }
  /* A decomposed grid needs MPI (Cartesian communicator, halos): a serial command that reaches
   * here starts it, unless the caller runs on one process without it. */
  int serial = p->serial && !kv_comm_active() && !kv_comm_launched();
  if (!serial) {
    KV_CHECK(kv_comm_start());
  }
  int size = kv_comm_size(comm);
  kv_grid *g = calloc(1, sizeof *g);
  if (!g) {
    return KV_ERROR(KV_ERR_NOMEM, "grid: out of memory");
  }
  g->ndims = p->ndims;
  for (int d = 0; d < KV_MAXDIM; d++) {
    int active = d < p->ndims;
    g->n[d] = active ? p->n[d] : 1;
    g->len[d] = active ? p->length[d] : 1.0;
    g->periodic[d] = active ? p->periodic[d] : 0;
    g->procs[d] = 1;
    if (active && (g->n[d] < 1 || !(g->len[d] > 0.0))) {
      free(g);
      return KV_ERROR(KV_ERR_INVALID, "grid: axis %d needs n >= 1 and length > 0", d);
    }
    g->h[d] = g->len[d] / (double)g->n[d];
  }
  if (serial) { /* one block; a periodic axis is its own neighbour */
    g->serial = 1;
    g->comm = MPI_COMM_SELF;
    for (int d = 0; d < KV_MAXDIM; d++) {
      g->nloc[d] = g->n[d];
      g->off[d] = 0;
      g->coords[d] = 0;
      g->nbr[d][0] = g->nbr[d][1] = d < p->ndims && g->periodic[d] ? 0 : MPI_PROC_NULL;
    }
    *out = g;
    return KV_OK;
  }
  int dims[KV_MAXDIM] = {0, 0, 0};
  int user = 0;
  for (int d = 0; d < p->ndims; d++) {
    dims[d] = p->procs[d];
    user |= p->procs[d] != 0;
  }
  if (MPI_Dims_create(size, p->ndims, dims) != MPI_SUCCESS) {
    free(g);
    return KV_ERROR(KV_ERR_CONFIG, "grid: cannot split %d ranks over the requested process grid",
                    size);
  }
  if (user) {
    for (int d = 0; d < p->ndims; d++) {
      g->procs[d] = dims[d];
    }
  } else {
    assign_procs(p->ndims, g->n, dims, g->procs);
  }
  for (int d = 0; d < p->ndims; d++) {
    if (g->n[d] < g->procs[d]) {
      int np = g->procs[d];
      long nd = g->n[d];
      free(g);
      return KV_ERROR(KV_ERR_CONFIG,
                      "grid: axis %c has %ld cells but %d ranks along it; use fewer ranks or "
                      "more cells",
                      "xyz"[d], nd, np);
    }
  }
  /* MPI orders Cartesian dimensions with the last varying fastest; we keep axis d = cart dim d. */
  if (MPI_Cart_create(comm, p->ndims, g->procs, g->periodic, 0, &g->comm) != MPI_SUCCESS) {
    free(g);
    return KV_ERROR(KV_ERR_MPI, "grid: MPI_Cart_create failed");
  }
  int rank;
  rank = kv_comm_rank(g->comm);
  int coords[KV_MAXDIM] = {0, 0, 0};
  MPI_Cart_coords(g->comm, rank, p->ndims, coords);
  for (int d = 0; d < KV_MAXDIM; d++) {
    g->coords[d] = coords[d];
    long base = g->n[d] / g->procs[d], rem = g->n[d] % g->procs[d];
    long c = coords[d];
    g->nloc[d] = base + (c < rem ? 1 : 0);
    g->off[d] = c * base + (c < rem ? c : rem);
    g->nbr[d][0] = g->nbr[d][1] = MPI_PROC_NULL;
    if (d < p->ndims) {
      MPI_Cart_shift(g->comm, d, 1, &g->nbr[d][0], &g->nbr[d][1]);
    }
  }
  *out = g;
  return KV_OK;
}

int kv_grid_coarsen(const kv_grid *fine, kv_grid **out) {
  *out = NULL;
  int ok = 1;
  for (int d = 0; d < fine->ndims; d++) {
    ok &= fine->nloc[d] >= 2 && fine->nloc[d] % 2 == 0 && fine->off[d] % 2 == 0 &&
          fine->n[d] % 2 == 0;
  }
  int all;
  kv_comm_allreduce(&ok, &all, 1, MPI_INT, MPI_MIN, fine->comm);
  if (!all) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "grid: cannot coarsen (odd block sizes or offsets)");
  }
  kv_grid *g = malloc(sizeof *g);
  if (!g) {
    return KV_ERROR(KV_ERR_NOMEM, "grid: cannot coarsen (out of memory)");
  }
  *g = *fine;
  /* Same Cartesian topology, its own communicator (the coarse grid is freed separately). */
  if (fine->serial) {
    g->comm = MPI_COMM_SELF;
  } else if (MPI_Comm_dup(fine->comm, &g->comm) != MPI_SUCCESS) {
    free(g);
    return KV_ERROR(KV_ERR_MPI, "grid: cannot coarsen (MPI_Comm_dup failed)");
  }
  for (int d = 0; d < fine->ndims; d++) {
    g->n[d] = fine->n[d] / 2;
    g->nloc[d] = fine->nloc[d] / 2;
    g->off[d] = fine->off[d] / 2;
    g->h[d] = 2.0 * fine->h[d];
  }
  *out = g;
  return KV_OK;
}

void kv_grid_free(kv_grid *g) {
  if (!g) {
    return;
  }
  if (!g->serial && g->comm != MPI_COMM_NULL) {
    MPI_Comm_free(&g->comm);
  }
  free(g);
}

int kv_grid_is_serial(const kv_grid *g) {
  return g->serial;
}

int kv_grid_ndims(const kv_grid *g) {
  return g->ndims;
}
const long *kv_grid_global_n(const kv_grid *g) {
  return g->n;
}
const long *kv_grid_local_n(const kv_grid *g) {
  return g->nloc;
}
const long *kv_grid_offset(const kv_grid *g) {
  return g->off;
}
const double *kv_grid_spacing(const kv_grid *g) {
  return g->h;
}
const double *kv_grid_length(const kv_grid *g) {
  return g->len;
}
const int *kv_grid_periodic(const kv_grid *g) {
  return g->periodic;
}
const int *kv_grid_procs(const kv_grid *g) {
  return g->procs;
}
MPI_Comm kv_grid_comm(const kv_grid *g) {
  return g->comm;
}

int kv_grid_neighbor(const kv_grid *g, int axis, int side) {
  return g->nbr[axis][side];
}

int kv_grid_at_boundary(const kv_grid *g, int axis, int side) {
  if (axis >= g->ndims || g->periodic[axis]) {
    return 0;
  }
  return side == 0 ? g->coords[axis] == 0 : g->coords[axis] == g->procs[axis] - 1;
}

double kv_grid_coord(const kv_grid *g, int axis, long i) {
  return ((double)i + 0.5) * g->h[axis];
}

long kv_grid_global_count(const kv_grid *g) {
  return g->n[0] * g->n[1] * g->n[2];
}

long kv_grid_local_count(const kv_grid *g) {
  return g->nloc[0] * g->nloc[1] * g->nloc[2];
}

void kv_grid_global_rows(const kv_grid *g, long *out) {
  long r = 0;
  for (long k = 0; k < g->nloc[2]; k++) {
    for (long j = 0; j < g->nloc[1]; j++) {
      for (long i = 0; i < g->nloc[0]; i++) {
        long idx[3] = {i + g->off[0], j + g->off[1], k + g->off[2]}, c = 0;
        for (int d = g->ndims - 1; d >= 0; d--) {
          c = c * g->n[d] + idx[d];
        }
        out[r++] = c;
      }
    }
  }
}

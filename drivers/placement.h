/* kelvin — placement search (`kelvin optimize` with optimize.placement = k): choose k of a
 * lattice of sites on a 2-D field for elements (heat sinks or sources: Gaussians added to the
 * model through optimize.place_key as a field file) to minimise (or maximise) a statistic of the
 * final field over a region. The field surrogate is built from the full solver: one base run
 * and one run per site with a single element (the single-element effect maps G_p); a placement
 * S is predicted by superposition, T0 + sum over p in S of G_p (exact for a linear model, a
 * first-order model otherwise). The search on the surrogate is iterated local search: a greedy
 * start (the best single site, then the best addition, k times), then rounds of perturbation
 * (a few elements moved to random free sites) and hill-climbing over one-site moves to a
 * neighbouring free site, keeping the best. The best placements found, the greedy start and a
 * number of random placements are re-run by the full solver; the report gives the gain of the
 * search over the greedy start and over random placements as the solver measures them.
 */
#ifndef KV_PLACEMENT_H
#define KV_PLACEMENT_H

#include <mpi.h>
#include <stdio.h>

#include "io/config.h"

/* Most elements and sites. */
#define KV_PLACE_MAXK 64
#define KV_PLACE_MAXSITES 4096

typedef struct {
  int k;                   /* elements                                              */
  char key[256];           /* the model key given the elements' field file          */
  char field[64];          /* the field whose statistic is the objective (T)        */
  double sigma, amplitude; /* each element: amplitude exp(-r^2 / (2 sigma^2))     */
  int sites[2];            /* lattice of candidate sites (x, y)                      */
  double region[4];        /* x0, x1, y0, y1 (NaN: the whole field)                  */
  int stat;                /* 0 mean, 1 max over the region                          */
  int maximize;
  long ils, random, confirm;
  unsigned long seed;
  char dir[4096];
} kv_placement_params;

/* Read the placement keys of [optimize]. Not collective. */
int kv_placement_params_from_config(const kv_config *cfg, kv_placement_params *p);

typedef struct {
  int k, nsites;
  double objective_base; /* the solver's, without elements                */
  int greedy[KV_PLACE_MAXK], best[KV_PLACE_MAXK];
  double greedy_pred, best_pred;   /* surrogate                                      */
  double greedy_true, best_true;   /* full solver                                    */
  double random_mean, random_best; /* full solver over the random placements         */
  long nrandom, runs, moves;       /* solver runs in all; surrogate moves tried      */
  double site_x[KV_PLACE_MAXSITES], site_y[KV_PLACE_MAXSITES];
  char dir[4096];
} kv_placement_result;

/* Run the placement search of cfg. Collective (rank 0 searches; the runs use the farm). */
int kv_placement_run(MPI_Comm comm, const kv_config *cfg, kv_placement_result *out);

/* Print the report. */
void kv_placement_print(const kv_placement_result *r, const kv_placement_params *p, FILE *f);

#endif

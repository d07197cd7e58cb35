/* kelvin — points run by the full solver: the decisions (sensitivity checks, optimisation,
 * adaptive sampling) hand the model a growing list of input points and get its responses back.
 * The points go through the sweep machinery as a `list` sweep in their own directory, so every
 * evaluation is a case file written atomically and recorded in a manifest, the farm's rank
 * groups run them in parallel, an interrupted run resumes without re-running finished cases, and
 * one writer at a time holds the directory.
 */
#ifndef KV_EVALUATE_H
#define KV_EVALUATE_H

#include <mpi.h>

#include "io/config.h"

/* The sections of a configuration that say what to do with a model rather than what the model
 * is; they are left out of the evaluations' configurations. */
extern const char *const kv_eval_driver_sections[];

/* Evaluate the n points X (n x d, row-major; column j the value of config key keys[j]) with
 * cfg's model in directory dir: dir/cases.csv is rewritten atomically with all n points (case c
 * is row c, so a caller that only appends keeps finished cases), then the cases not yet done run
 * as a task farm over comm (ranks per case as sweep.ranks_per_case or the model says). Y (n x
 * nresp, row-major, on every rank) gets the scalar responses resp (any quantity
 * kv_dataset_case_qoi reads from a case file: a model response, VAR_max, ...), NaN for a case
 * that failed; *nfailed (may be NULL) counts those. Interrupted: KV_ERR_INTERRUPTED with every
 * finished case kept. Collective. */
int kv_eval_points(MPI_Comm comm, const kv_config *cfg, const char *dir, int d,
                   const char *const *keys, long n, const double *X, int nresp,
                   const char *const *resp, double *Y, long *nfailed);

/* The same with the cases' values as configuration texts (cells: n x d; a file name for a
 * function key, say), for decisions whose inputs are not numbers. Collective. */
int kv_eval_cases(MPI_Comm comm, const kv_config *cfg, const char *dir, int d,
                  const char *const *keys, long n, const char *const *cells, int nresp,
                  const char *const *resp, double *Y, long *nfailed);

/* The case file of evaluation c in dir (as the list sweep names it). */
void kv_eval_case_path(const char *dir, long c, char *buf, size_t n);

/* Most inputs a decision works over. */
#define KV_EVAL_MAXD 40

/* The box the decisions search or average over: input names (config keys), ranges and whether
 * each is uniform in log. */
typedef struct {
  int d;
  char name[KV_EVAL_MAXD][128];
  double lo[KV_EVAL_MAXD], hi[KV_EVAL_MAXD];
  int islog[KV_EVAL_MAXD];
  char dir[4096];     /* the sweep's directory (from kv_eval_space_from_sweep) */
  int ranks_per_case; /* the sweep's (or the model's) ranks per case            */
} kv_eval_space;

/* The sizes every sequential decision (optimize, adapt) shares, defaulted and checked against
 * the keys <section>.initial, .budget and .batch: the initial design (0: max(6, 3 d); at least
 * min_initial), the budget (at least the design) and the batch (0: the farm's rank groups, comm's
 * size over the space's ranks per case). Not collective. */
int kv_eval_sizes(MPI_Comm comm, const kv_config *cfg, const char *section, const kv_eval_space *sp,
                  long min_initial, long *initial, long budget, long *batch);

/* The space of cfg's [sweep] (method lhs or sobol: its vary ranges); `who` names the asking
 * section in the error when the sweep has no ranges. Not collective. */
int kv_eval_space_from_sweep(const kv_config *cfg, const char *who, kv_eval_space *sp);

/* The inputs of surrogate s: over cfg's [sweep] ranges (cfg may be NULL) for the inputs the sweep
 * varies, else over the model's training box; `who` names the caller in errors. Not
 * collective. */
struct kv_surrogate;
int kv_eval_space_of_model(const kv_config *cfg, const struct kv_surrogate *s, const char *who,
                           kv_eval_space *sp);

/* The initial design of a sequential decision: n Latin-hypercube points of the space (seeded, so
 * every run of a configuration starts alike) into X (n x d). Not collective. */
int kv_eval_initial(const kv_eval_space *sp, long n, unsigned long seed, double *X);

/* Map n points U of the unit cube (n x d) into the space: X (n x d). */
void kv_eval_space_map(const kv_eval_space *sp, long n, const double *U, double *X);

/* The unit-cube coordinates of n points X of the space (the inverse of kv_eval_space_map). */
void kv_eval_space_unmap(const kv_eval_space *sp, long n, const double *X, double *U);

/* The points an earlier run of a decision proposed (dir/cases.csv, columns named by the space's
 * inputs), so that it continues where it stopped: *X (malloc'd, n x d, on every rank; NULL and
 * n = 0 when there is no history). A history without resume is KV_ERR_EXISTS naming `again`
 * (the command that continues it). Collective. */
int kv_eval_history(MPI_Comm comm, const kv_eval_space *sp, const char *dir, int resume,
                    const char *again, double **X, long *n);

#endif

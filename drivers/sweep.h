/* kelvin — parameter sweeps and ensembles.
 *
 * A sweep is a base configuration plus a design: a numbered list of cases, each a set of values
 * for the varied keys. The [sweep] section says how the design is made (grid, list, lhs, sobol,
 * ensemble); kv_sweep_create() enumerates it and validates every case's configuration before any
 * case runs. kv_sweep_run() (sweep_run.c) runs the cases as an MPI task farm and keeps the
 * manifest; case numbering depends only on the configuration, so it is stable across runs,
 * resumes, rank counts and Slurm slices.
 */
#ifndef KV_SWEEP_H
#define KV_SWEEP_H

#include <mpi.h>

#include "io/config.h"

typedef struct kv_sweep kv_sweep;

/* The [sweep] keys. */
extern const kv_config_key kv_sweep_keys[];

/* Build the design from cfg (a loaded configuration with a [sweep] section; command-line
 * overrides already applied). Checks the [sweep] keys, every varied key and value, and the full
 * configuration of every case; errors name the file, line and key, or the case. Not collective
 * (every rank holds the same text and reaches the same verdict). *out owned by the caller. */
int kv_sweep_create(const kv_config *cfg, kv_sweep **out);

/* Free; NULL is a no-op. */
void kv_sweep_free(kv_sweep *s);

/* Number of cases, of varied keys, the name of varied key v, and the value (as configuration
 * text) of key v in case c. Borrowed strings. */
long kv_sweep_ncases(const kv_sweep *s);
int kv_sweep_nvars(const kv_sweep *s);
const char *kv_sweep_var(const kv_sweep *s, int v);
const char *kv_sweep_value(const kv_sweep *s, long c, int v);

/* The output directory ("runs/<name>" or sweep.dir), the method name, sweep.ranks_per_case. */
const char *kv_sweep_dir(const kv_sweep *s);
const char *kv_sweep_method(const kv_sweep *s);
int kv_sweep_ranks_per_case(const kv_sweep *s);
/* The configuration file the sweep came from. */
const char *kv_sweep_source(const kv_sweep *s);

/* The range [lo, hi] of varied key v and whether it is sampled in log (lhs and sobol sweeps;
 * KV_ERR_UNSUPPORTED for the other methods). */
int kv_sweep_range(const kv_sweep *s, int v, double *lo, double *hi, int *islog);

/* The output file of case c: "<dir>/case_NNNN.h5". */
void kv_sweep_case_path(const kv_sweep *s, long c, char *buf, size_t n);

/* The same for a sweep in directory dir (the one naming rule). */
void kv_sweep_case_path_in(const char *dir, long c, char *buf, size_t n);

/* The full configuration of case c (validated; run.output set to its case file). Caller frees. */
int kv_sweep_case_config(const kv_sweep *s, long c, kv_config **out);

/* Print the design as CSV (case, one column per varied key) to a stream. */
void kv_sweep_print(const kv_sweep *s, void *stream);

/* ------------------------------------------------------------------ running (sweep_run.c) */

typedef struct {
  int resume;         /* skip cases whose output is complete and valid; re-run the rest       */
  int slice, nslices; /* run only cases c with c % nslices == slice (nslices 0: all cases)    */
  const char *again;  /* the command line that started the sweep (its overrides included), for
                         the "continue with" hints (NULL: kelvin sweep CONFIG)               */
} kv_sweep_options;

typedef struct {
  long total; /* cases in this run (the slice)                                        */
  long done, failed, pending;
  long skipped; /* of done: found complete by --resume                                  */
  double wall;  /* seconds                                                              */
} kv_sweep_summary;

/* Run the cases of the design as a task farm on comm: the ranks are split into groups of
 * sweep.ranks_per_case (the last group may be smaller), each group takes the next case as soon as
 * it is free. Every finished case is written atomically to its case file and recorded in the
 * manifest (manifest.csv and manifest.h5 in the sweep directory, or manifest.slice-I-of-K.* for a
 * slice), itself replaced atomically. A failing case is recorded and the others go on (the
 * summary counts it; the return is KV_OK). SIGINT/SIGTERM stop every group after its current case
 * is saved as interrupted; the manifest stays consistent and KV_ERR_INTERRUPTED is returned.
 * Collective over comm. */
int kv_sweep_run(MPI_Comm comm, const kv_sweep *s, const kv_sweep_options *o,
                 kv_sweep_summary *sum);

/* Merge: check every case's file and the slice manifests, write manifest.csv/.h5 for the whole
 * design. Collective (rank 0 works). */
int kv_sweep_collect(MPI_Comm comm, const kv_sweep *s, kv_sweep_summary *sum);

#endif

/* kelvin sweep --emit-slurm: sbatch job-array scripts a real cluster accepts (CLI only). */
#ifndef KV_CLI_SLURM_H
#define KV_CLI_SLURM_H

#include "drivers/sweep.h"
#include "io/config.h"

typedef struct {
  const char *file;      /* the array script to write                                       */
  long array;            /* array tasks (slices); 0: slurm.array or 1                       */
  long ranks;            /* MPI ranks per task; 0: sweep.ranks_per_case                     */
  long nodes;            /* --nodes; 0: slurm.nodes or not set                              */
  long cpus;             /* --cpus-per-task (and OMP_NUM_THREADS); 0: slurm.cpus_per_task/1 */
  long throttle;         /* at most this many tasks at once (%N); 0: slurm.throttle / none  */
  const char *time;      /* any Slurm --time form; NULL: slurm.time or 01:00:00             */
  const char *partition; /* NULL: slurm.partition or the cluster's default                  */
  const char *sbatch;    /* extra sbatch options, e.g. "--account=p1 --mem=4G" (NULL: none) */
  int collect_job;       /* also write FILE's collect job (after the array: afterany)       */
  int fit_job;           /* the collect job also fits the surrogate                         */
  int submit;            /* run sbatch for the array and, with a collect job, the dependent */
} kv_slurm_opts;

/* Seconds of a Slurm time limit in any of sbatch's forms: "M", "M:S", "H:M:S", "D-H",
 * "D-H:M", "D-H:M:S" (or UNLIMITED / INFINITE: -1). KV_ERR_USAGE naming the value otherwise.
 * Not collective. */
int kv_slurm_time(const char *s, long *seconds);

/* 1 if argv[i] of kelvin sweep is a key=value override (not an option's value such as
 * --sbatch "--mem=4G"). Not collective. */
int kv_slurm_is_override(int argc, char **argv, int i);

/* Write the job-array script (and its collect job) for sweep s read from config path cfgpath
 * with the argv overrides; options from o, else from cfg's [slurm] keys (part of kv_sweep_keys).
 * With o->submit, submit them. Rank 0 only. */
int kv_slurm_emit(const kv_sweep *s, const kv_config *cfg, const kv_slurm_opts *o,
                  const char *cfgpath, int argc, char **argv);

#endif

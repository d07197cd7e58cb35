/* kelvin sweep CONFIG [options] */
#define _DEFAULT_SOURCE /* realpath */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/slurm.h"
#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "core/suggest.h"
#include "drivers/sweep.h"
#include "io/config.h"
#include "io/textfile.h"

static const char help[] =
    "usage: kelvin sweep CONFIG [section.key=value ...] [--resume] [--dry-run]\n"
    "                    [--slice I/K] [--collect]\n"
    "                    [--emit-slurm FILE [--array K] [--ranks-per-task N] [--time T]\n"
    "                     [--partition P] [--nodes N] [--cpus-per-task C] [--throttle N]\n"
    "                     [--sbatch \"OPTIONS\"] [--collect-job] [--fit-job] [--submit]]\n"
    "\n"
    "Run every case of the design in CONFIG's [sweep] section (grid, list, lhs, sobol or\n"
    "ensemble) as an MPI task farm: the ranks are split into groups of sweep.ranks_per_case and\n"
    "each group takes the next case when it is free. Case c is written to\n"
    "<dir>/case_NNNN.h5; <dir>/manifest.csv and manifest.h5 record every case (varied values,\n"
    "done|failed|pending, wall time, output, the model's scalar responses, error). A failing\n"
    "case does not stop the others;\n"
    "the exit status is 1 if any failed. Ctrl-C / SIGTERM stop cleanly; continue with --resume.\n"
    "\n"
    "  --resume          skip cases whose output file is complete and was written by the same\n"
    "                    case configuration (checked by opening it); run the others\n"
    "  --dry-run         print the design as CSV (case, varied keys) and check every case's\n"
    "                    configuration; run nothing\n"
    "  --slice I/K       run only cases c with c % K == I (0 <= I < K), keeping\n"
    "                    manifest.slice-I-of-K.csv/.h5 (what each Slurm array task does)\n"
    "  --collect         merge the slice manifests and the case files into manifest.csv/.h5,\n"
    "                    and write results.dat (Dakota's annotated tabular format: inputs and\n"
    "                    responses of the done cases); exit 1 unless every case is done\n"
    "  --emit-slurm FILE write an sbatch job-array script running the slices with --resume;\n"
    "                    the options below, else the config's [slurm] keys (kelvin run --keys)\n"
    "    --array K             array tasks (slices), default slurm.array or 1; at most the\n"
    "                          number of cases (more are clamped, with a warning)\n"
    "    --ranks-per-task N    MPI ranks per array task, default sweep.ranks_per_case\n"
    "    --time T              time limit per task in any sbatch form (90, 1:30:00, 1-00:00:00;\n"
    "                          default slurm.time or 01:00:00); SIGTERM comes\n"
    "                          slurm.signal_seconds (120) before it, tasks are --requeue'd\n"
    "    --partition P         Slurm partition (default: slurm.partition or the cluster's)\n"
    "    --nodes N             --nodes per task\n"
    "    --cpus-per-task C     threads per rank (sets OMP_NUM_THREADS for the GP kernels)\n"
    "    --throttle N          at most N array tasks at once (--array=0-K%N)\n"
    "    --sbatch \"OPTIONS\"    any more sbatch options, e.g. \"--account=proj1 --mem=4G\"\n"
    "                          (also slurm.account, qos, mem, constraint, mail_type,\n"
    "                          mail_user, sbatch); slurm.setup: shell lines run first\n"
    "                          (module load ...; source env.sh)\n"
    "    --collect-job         also FILE's .collect.sh: kelvin sweep --collect after the array\n"
    "    --fit-job             ... and kelvin fit\n"
    "    --submit              run sbatch for the array and the collect job (afterany)\n";

typedef struct {
  const char *path;
  int resume, dry, collect;
  int slice, nslices;
  kv_slurm_opts slurm; /* slurm.file != NULL: --emit-slurm */
} sweep_args;

static int parse_long_arg(const char *opt, const char *v, long lo, long *out) {
  char *end;
  errno = 0;
  long x = v ? strtol(v, &end, 10) : 0;
  if (!v || *end || end == v || errno || x < lo) {
    return KV_ERROR(KV_ERR_USAGE, "sweep: %s expects an integer >= %ld (got '%s')", opt, lo,
                    v ? v : "");
  }
  *out = x;
  return KV_OK;
}

static int parse_args(int argc, char **argv, sweep_args *a) {
  memset(a, 0, sizeof *a);
  kv_slurm_opts *so = &a->slurm;
  int slurm_opt = 0;
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
    /* The options of --emit-slurm that take a number. */
    static const char *const counts[] = {"--array", "--ranks-per-task", "--nodes",
                                         "--cpus-per-task", "--throttle"};
    long *count_dst[] = {&so->array, &so->ranks, &so->nodes, &so->cpus, &so->throttle};
    int k = -1;
    for (int c = 0; c < 5; c++) {
      k = strcmp(s, counts[c]) == 0 ? c : k;
    }
    if (k >= 0) {
      KV_CHECK(parse_long_arg(s, next, 1, count_dst[k]));
      slurm_opt = 1;
      i++;
    } else if (strcmp(s, "--resume") == 0) {
      a->resume = 1;
    } else if (strcmp(s, "--dry-run") == 0) {
      a->dry = 1;
    } else if (strcmp(s, "--collect") == 0) {
      a->collect = 1;
    } else if (strcmp(s, "--slice") == 0) {
      int n = 0;
      if (!next || sscanf(next, "%d/%d%n", &a->slice, &a->nslices, &n) != 2 || next[n] ||
          a->nslices < 1 || a->slice < 0 || a->slice >= a->nslices) {
        return KV_ERROR(KV_ERR_USAGE, "sweep: --slice expects I/K with 0 <= I < K (got '%s')",
                        next ? next : "");
      }
      i++;
    } else if (strcmp(s, "--emit-slurm") == 0 || strcmp(s, "--time") == 0 ||
               strcmp(s, "--partition") == 0 || strcmp(s, "--sbatch") == 0) {
      if (!next) {
        return KV_ERROR(KV_ERR_USAGE, "sweep: %s expects a value", s);
      }
      if (s[2] == 'e') {
        so->file = next;
      } else if (s[2] == 't') {
        long secs;
        KV_CHECK(kv_slurm_time(next, &secs));
        so->time = next;
      } else if (s[2] == 'p') {
        so->partition = next;
      } else {
        so->sbatch = next;
      }
      slurm_opt |= s[2] != 'e';
      i++;
    } else if (strcmp(s, "--collect-job") == 0 || strcmp(s, "--fit-job") == 0 ||
               strcmp(s, "--submit") == 0) {
      so->collect_job |= s[2] == 'c';
      so->fit_job |= s[2] == 'f';
      so->submit |= s[2] == 's';
      slurm_opt = 1;
    } else if (s[0] == '-') {
      static const char *const opts[] = {"--resume",
                                         "--dry-run",
                                         "--collect",
                                         "--slice",
                                         "--emit-slurm",
                                         "--array",
                                         "--ranks-per-task",
                                         "--nodes",
                                         "--cpus-per-task",
                                         "--throttle",
                                         "--time",
                                         "--partition",
                                         "--sbatch",
                                         "--collect-job",
                                         "--fit-job",
                                         "--submit",
                                         NULL};
      char hint[128];
      return KV_ERROR(KV_ERR_USAGE, "sweep: unknown option '%s'%s (see kelvin sweep --help)", s,
                      kv_suggest_hint(s, opts, hint, sizeof hint));
    } else if (!strchr(s, '=') && !a->path) {
      a->path = s;
    }
  }
  if (!a->path) {
    return KV_ERROR(KV_ERR_USAGE, "sweep: missing CONFIG (see kelvin sweep --help)");
  }
  if (slurm_opt && !so->file) {
    return KV_ERROR(KV_ERR_USAGE, "sweep: --array, --ranks-per-task, --nodes, --cpus-per-task, "
                                  "--throttle, --time, --partition, --sbatch, --collect-job, "
                                  "--fit-job and --submit go with --emit-slurm");
  }
  int modes = a->collect + a->dry + (so->file != NULL);
  if (modes > 1 || (modes && (a->resume || a->nslices))) {
    return KV_ERROR(KV_ERR_USAGE, "sweep: --collect, --dry-run, --emit-slurm and running "
                                  "(--slice/--resume) exclude each other");
  }
  return KV_OK;
}

static void print_summary(const kv_sweep *s, const kv_sweep_summary *sm, const char *what) {
  printf("%s %s: %ld case%s: %ld done", what, kv_sweep_dir(s), sm->total, sm->total == 1 ? "" : "s",
         sm->done);
  if (sm->skipped) {
    printf(" (%ld already done)", sm->skipped);
  }
  printf(", %ld failed, %ld pending", sm->failed, sm->pending);
  if (sm->wall > 0) {
    printf(" in %.2f s", sm->wall);
  }
  printf("\n");
}

int kv_cmd_sweep(MPI_Comm comm, int argc, char **argv) {
  int rank;
  rank = kv_comm_rank(comm);
  for (int i = 1; i < argc; i++) {
    if (kv_cli_is_help(argv[i])) {
      if (rank == 0) {
        fputs(help, stdout);
      }
      return KV_OK;
    }
  }
  sweep_args a;
  KV_CHECK(parse_args(argc, argv, &a));
  kv_config *cfg = NULL;
  KV_CHECK(kv_config_load(comm, a.path, &cfg));
  int rc = KV_OK;
  for (int i = 1; i < argc && rc == KV_OK; i++) {
    if (kv_slurm_is_override(argc, argv, i) && argv[i] != a.path) {
      rc = kv_config_override(cfg, argv[i]);
    }
  }
  kv_sweep *s = NULL;
  if (rc == KV_OK) {
    rc = kv_sweep_create(cfg, &s);
  }
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    kv_config_free(cfg);
    kv_sweep_free(s);
    return rc;
  }
  kv_sweep_summary sm;
  if (a.dry) {
    if (rank == 0) {
      kv_sweep_print(s, stdout);
    }
  } else if (a.slurm.file) {
    rc = rank == 0 ? kv_slurm_emit(s, cfg, &a.slurm, a.path, argc, argv) : KV_OK;
    rc = kv_status_agree(comm, rc);
  } else if (a.collect) {
    rc = kv_sweep_collect(comm, s, &sm);
    if (rc == KV_OK && rank == 0) {
      print_summary(s, &sm, "collected");
      printf("manifest: %s/manifest.csv and manifest.h5; Dakota tabular: results.dat\n",
             kv_sweep_dir(s));
    }
    if (rc == KV_OK && (sm.failed || sm.pending)) {
      rc = KV_ERR_MISMATCH;
    }
  } else {
    char again[4096];
    kv_sweep_options o = {a.resume, a.slice, a.nslices,
                          kv_cli_again(comm, argc, argv, NULL, again, sizeof again)};
    rc = kv_sweep_run(comm, s, &o, &sm);
    if ((rc == KV_OK || rc == KV_ERR_INTERRUPTED) && rank == 0) {
      print_summary(s, &sm, "sweep");
    }
    if (rc == KV_OK && sm.failed) {
      rc = KV_ERR_MISMATCH;
    }
  }
  kv_sweep_free(s);
  kv_config_free(cfg);
  return rc;
}

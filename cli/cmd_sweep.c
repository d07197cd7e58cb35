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
#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "drivers/sweep.h"
#include "io/config.h"
#include "io/textfile.h"

static const char help[] =
    "usage: kelvin sweep CONFIG [section.key=value ...] [--resume] [--dry-run]\n"
    "                    [--slice I/K] [--collect]\n"
    "                    [--emit-slurm FILE [--array K] [--ranks-per-task N] [--time HH:MM:SS]\n"
    "                     [--partition P]]\n"
    "\n"
    "Run every case of the design in CONFIG's [sweep] section (grid, list, lhs, sobol or\n"
    "ensemble) as an MPI task farm: the ranks are split into groups of sweep.ranks_per_case and\n"
    "each group takes the next case when it is free. Case c is written to\n"
    "<dir>/case_NNNN.h5; <dir>/manifest.csv and manifest.h5 record every case (varied values,\n"
    "done|failed|pending, wall time, output, error). A failing case does not stop the others;\n"
    "the exit status is 1 if any failed. Ctrl-C / SIGTERM stop cleanly; continue with --resume.\n"
    "\n"
    "  --resume          skip cases whose output file is complete and was written by the same\n"
    "                    case configuration (checked by opening it); run the others\n"
    "  --dry-run         print the design as CSV (case, varied keys) and check every case's\n"
    "                    configuration; run nothing\n"
    "  --slice I/K       run only cases c with c % K == I (0 <= I < K), keeping\n"
    "                    manifest.slice-I-of-K.csv/.h5 (what each Slurm array task does)\n"
    "  --collect         merge the slice manifests and the case files into manifest.csv/.h5;\n"
    "                    exit 1 unless every case is done\n"
    "  --emit-slurm FILE write an sbatch job-array script running the slices with --resume\n"
    "    --array K             array tasks (slices), default 1\n"
    "    --ranks-per-task N    MPI ranks per array task, default sweep.ranks_per_case\n"
    "    --time HH:MM:SS       time limit per task, default 01:00:00\n"
    "    --partition P         Slurm partition (default: the cluster's default)\n";

typedef struct {
  const char *path;
  int resume, dry, collect;
  int slice, nslices;
  const char *slurm;
  long array, ranks;
  const char *time, *partition;
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
  a->array = 1;
  a->time = "01:00:00";
  for (int i = 1; i < argc; i++) {
    const char *s = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(s, "--resume") == 0) {
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
    } else if (strcmp(s, "--emit-slurm") == 0) {
      if (!next) {
        return KV_ERROR(KV_ERR_USAGE, "sweep: --emit-slurm expects a FILE");
      }
      a->slurm = next;
      i++;
    } else if (strcmp(s, "--array") == 0) {
      KV_CHECK(parse_long_arg(s, next, 1, &a->array));
      i++;
    } else if (strcmp(s, "--ranks-per-task") == 0) {
      KV_CHECK(parse_long_arg(s, next, 1, &a->ranks));
      i++;
    } else if (strcmp(s, "--time") == 0) {
      int h, m, sec, n = 0;
      if (!next || sscanf(next, "%d:%d:%d%n", &h, &m, &sec, &n) != 3 || next[n] || h < 0 || m < 0 ||
          m > 59 || sec < 0 || sec > 59) {
        return KV_ERROR(KV_ERR_USAGE, "sweep: --time expects HH:MM:SS (got '%s')",
                        next ? next : "");
      }
      a->time = next;
      i++;
    } else if (strcmp(s, "--partition") == 0) {
      if (!next) {
        return KV_ERROR(KV_ERR_USAGE, "sweep: --partition expects a name");
      }
      a->partition = next;
      i++;
    } else if (s[0] == '-') {
      return KV_ERROR(KV_ERR_USAGE, "sweep: unknown option '%s' (see kelvin sweep --help)", s);
    } else if (!strchr(s, '=') && !a->path) {
      a->path = s;
    }
  }
  if (!a->path) {
    return KV_ERROR(KV_ERR_USAGE, "sweep: missing CONFIG (see kelvin sweep --help)");
  }
  if ((a->array != 1 || a->ranks || a->partition) && !a->slurm) {
    return KV_ERROR(KV_ERR_USAGE, "sweep: --array, --ranks-per-task and --partition go with "
                                  "--emit-slurm");
  }
  int modes = a->collect + a->dry + (a->slurm != NULL);
  if (modes > 1 || (modes && (a->resume || a->nslices))) {
    return KV_ERROR(KV_ERR_USAGE, "sweep: --collect, --dry-run, --emit-slurm and running "
                                  "(--slice/--resume) exclude each other");
  }
  return KV_OK;
}

/* Single-quote a word for the shell. */
static void shq(FILE *f, const char *s) {
  fputc('\'', f);
  for (; *s; s++) {
    if (*s == '\'') {
      fputs("'\\''", f);
    } else {
      fputc(*s, f);
    }
  }
  fputc('\'', f);
}

static int emit_slurm(const kv_sweep *s, const sweep_args *a, int argc, char **argv) {
  char cwd[PATH_MAX], exe[PATH_MAX], cfg[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (!getcwd(cwd, sizeof cwd) || n <= 0) {
    return KV_ERROR(KV_ERR_IO, "sweep: cannot find the working directory or the kelvin binary");
  }
  exe[n] = '\0';
  if (!realpath(a->path, cfg)) {
    return KV_ERROR(KV_ERR_IO, "sweep: cannot resolve '%s': %s", a->path, strerror(errno));
  }
  long ranks = a->ranks ? a->ranks : kv_sweep_ranks_per_case(s);
  long nc = kv_sweep_ncases(s);
  char tmp[PATH_MAX + 16];
  FILE *f = kv_textfile_begin(a->slurm, tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  time_t now = time(NULL);
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S%z", localtime(&now));
  const char *dir = kv_sweep_dir(s), *slash = strrchr(dir, '/');
  char adir[2 * PATH_MAX + 2];
  snprintf(adir, sizeof adir, "%s%s%s", dir[0] == '/' ? "" : cwd, dir[0] == '/' ? "" : "/", dir);
  /* Slurm does not create the directory of --output; a missing one fails every task. */
  char mk[sizeof adir + 16];
  snprintf(mk, sizeof mk, "%s", adir);
  for (char *p = mk + 1;; p++) {
    if (*p == '/' || !*p) {
      char c = *p;
      *p = '\0';
      mkdir(mk, 0777);
      *p = c;
      if (!c) {
        break;
      }
    }
  }
  fprintf(
      f,
      "#!/bin/bash\n"
      "# kelvin sweep as a Slurm job array, written by kelvin sweep --emit-slurm on %s.\n"
      "#\n"
      "#   config : %s\n"
      "#   cases  : %ld (method %s), output in %s\n"
      "#   tasks  : %ld array tasks; task I runs the cases c with c %% %ld == I on %ld MPI rank%s\n"
      "#\n"
      "# Submit:   sbatch %s\n"
      "# Each task runs 'kelvin sweep --slice I/%ld --resume': cases whose file is already\n"
      "# complete are skipped, so after a time-out or a failed node submit this same script\n"
      "# again; only unfinished cases run. At the time limit Slurm sends SIGTERM: kelvin saves\n"
      "# the case it is in and leaves the slice manifest consistent.\n"
      "# When every task has ended, merge the slice manifests into manifest.csv/.h5:\n"
      "#   cd %s && %s sweep %s --collect\n"
      "#\n",
      when, cfg, nc, kv_sweep_method(s), adir, a->array, a->array, ranks, ranks == 1 ? "" : "s",
      a->slurm, a->array, cwd, exe, cfg);
  fprintf(f, "#SBATCH --job-name=kelvin-%s\n", slash ? slash + 1 : dir);
  fprintf(f, "#SBATCH --array=0-%ld\n", a->array - 1);
  fprintf(f, "#SBATCH --ntasks=%ld\n", ranks);
  fprintf(f, "#SBATCH --time=%s\n", a->time);
  if (a->partition) {
    fprintf(f, "#SBATCH --partition=%s\n", a->partition);
  }
  fprintf(f, "#SBATCH --output=%s/slurm-%%A_%%a.out\n", adir);
  fprintf(f, "\nset -eu\n");
  fprintf(f, "# Relative paths in the configuration are relative to this directory.\ncd ");
  shq(f, cwd);
  fprintf(f, "\nKELVIN=");
  shq(f, exe);
  fprintf(f,
          "\n# One rank runs kelvin directly; more go through Open MPI's mpirun, which takes its\n"
          "# hosts from the allocation (with a PMIx-enabled Slurm, 'srun --mpi=pmix' works too).\n"
          "if [ \"${SLURM_NTASKS:-1}\" -gt 1 ]; then\n"
          "  LAUNCH=\"mpirun -n ${SLURM_NTASKS}\"\n"
          "else\n"
          "  LAUNCH=\"\"\n"
          "fi\n"
          "exec $LAUNCH \"$KELVIN\" sweep ");
  shq(f, cfg);
  for (int i = 1; i < argc; i++) {
    if (strchr(argv[i], '=') && argv[i][0] != '-') {
      fputc(' ', f);
      shq(f, argv[i]);
    }
  }
  fprintf(f, " --slice \"${SLURM_ARRAY_TASK_ID}/%ld\" --resume\n", a->array);
  fchmod(fileno(f), 0755); /* sbatch does not need it; running it by hand does */
  KV_CHECK(kv_textfile_commit(f, tmp, a->slurm));
  printf("wrote %s: %ld array task%s over %ld cases; submit with: sbatch %s\n", a->slurm, a->array,
         a->array == 1 ? "" : "s", nc, a->slurm);
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
    if (strchr(argv[i], '=') && argv[i][0] != '-' && argv[i] != a.path) {
      rc = kv_config_override(cfg, argv[i]);
    }
  }
  kv_sweep *s = NULL;
  if (rc == KV_OK) {
    rc = kv_sweep_create(cfg, &s);
  }
  rc = kv_status_agree(comm, rc);
  kv_config_free(cfg);
  if (rc != KV_OK) {
    kv_sweep_free(s);
    return rc;
  }
  kv_sweep_summary sm;
  if (a.dry) {
    if (rank == 0) {
      kv_sweep_print(s, stdout);
    }
  } else if (a.slurm) {
    rc = rank == 0 ? emit_slurm(s, &a, argc, argv) : KV_OK;
    rc = kv_status_agree(comm, rc);
  } else if (a.collect) {
    rc = kv_sweep_collect(comm, s, &sm);
    if (rc == KV_OK && rank == 0) {
      print_summary(s, &sm, "collected");
      printf("manifest: %s/manifest.csv and manifest.h5\n", kv_sweep_dir(s));
    }
    if (rc == KV_OK && (sm.failed || sm.pending)) {
      rc = KV_ERR_MISMATCH;
    }
  } else {
    kv_sweep_options o = {a.resume, a.slice, a.nslices};
    rc = kv_sweep_run(comm, s, &o, &sm);
    if ((rc == KV_OK || rc == KV_ERR_INTERRUPTED) && rank == 0) {
      print_summary(s, &sm, "sweep");
    }
    if (rc == KV_OK && sm.failed) {
      rc = KV_ERR_MISMATCH;
    }
  }
  kv_sweep_free(s);
  return rc;
}

/* kelvin sweep --emit-slurm: sbatch job-array scripts (see slurm.h). */
#define _DEFAULT_SOURCE /* realpath */
#include "cli/slurm.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/log.h"
#include "core/status.h"
#include "io/textfile.h"

/* Non-negative integer fields separated by ':' into v (at most 3); their count, -1 if malformed. */
static int fields(const char *s, long v[3]) {
  int n = 0;
  while (n < 3) {
    if (!isdigit((unsigned char)*s)) {
      return -1;
    }
    char *end;
    v[n++] = strtol(s, &end, 10);
    if (!*end) {
      return n;
    }
    if (*end != ':') {
      return -1;
    }
    s = end + 1;
  }
  return -1;
}

int kv_slurm_is_override(int argc, char **argv, int i) {
  static const char *const with_value[] = {
      "--slice",    "--emit-slurm", "--array",     "--ranks-per-task", "--nodes", "--cpus-per-task",
      "--throttle", "--time",       "--partition", "--sbatch",         NULL};
  if (i <= 0 || i >= argc || argv[i][0] == '-' || !strchr(argv[i], '=')) {
    return 0;
  }
  for (int k = 0; with_value[k]; k++) {
    if (!strcmp(argv[i - 1], with_value[k])) {
      return 0; /* the value of an option, e.g. --sbatch "--mem=4G" */
    }
  }
  return 1;
}

int kv_slurm_time(const char *s, long *seconds) {
  if (!strcmp(s, "UNLIMITED") || !strcmp(s, "INFINITE") || !strcmp(s, "infinite")) {
    *seconds = -1;
    return KV_OK;
  }
  long v[3] = {0, 0, 0}, days = 0;
  const char *dash = strchr(s, '-'), *rest = s;
  int ok = 1, n;
  if (dash) { /* D-H, D-H:M, D-H:M:S */
    char *end;
    days = strtol(s, &end, 10);
    ok = end == dash && isdigit((unsigned char)*s);
    rest = dash + 1;
    n = fields(rest, v);
    ok &= n >= 1 && v[0] < 24 && (n < 2 || v[1] < 60) && (n < 3 || v[2] < 60);
    *seconds = days * 86400 + v[0] * 3600 + (n > 1 ? v[1] * 60 : 0) + (n > 2 ? v[2] : 0);
  } else { /* M, M:S, H:M:S */
    n = fields(rest, v);
    ok = n >= 1 && (n < 2 || v[1] < 60) && (n < 3 || (v[1] < 60 && v[2] < 60));
    *seconds = n == 1 ? v[0] * 60 : n == 2 ? v[0] * 60 + v[1] : v[0] * 3600 + v[1] * 60 + v[2];
  }
  if (!ok || *seconds <= 0) {
    return KV_ERROR(KV_ERR_USAGE,
                    "slurm time '%s': expected one of sbatch's forms M, M:S, H:M:S, D-H, D-H:M, "
                    "D-H:M:S (e.g. 90, 1:30:00, 1-00:00:00) and more than zero",
                    s);
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

/* Append w to buf as one single-quoted shell word, after a space. */
static void append_quoted(char *buf, size_t n, const char *w) {
  size_t l = strlen(buf);
  l += (size_t)snprintf(buf + l, l < n ? n - l : 0, " '");
  for (; *w && l + 6 < n; w++) {
    l += (size_t)snprintf(buf + l, n - l, *w == '\'' ? "'\\''" : "%c", *w);
  }
  snprintf(buf + l, l < n ? n - l : 0, "'");
}

/* A string key of [slurm], or NULL. */
static const char *key_string(const kv_config *cfg, const char *key) {
  const char *v = NULL;
  if (kv_config_has(cfg, key) && kv_config_get_string(cfg, key, &v) == KV_OK && v && *v) {
    return v;
  }
  return NULL;
}

/* 1 if v would change the job script's shape: a control character (a newline starts a new shell
 * line, even inside a comment) or, in an #SBATCH value, a blank (sbatch splits on it). */
static int unsafe(const char *v, int sbatch) {
  for (const unsigned char *c = (const unsigned char *)v; *c; c++) {
    if (*c < 0x20 || *c == 0x7f || (sbatch && *c == ' ')) {
      return 1;
    }
  }
  return 0;
}

/* Check a value that goes into the script: from the config (key, named with file and line) or
 * the command line (opt). */
static int script_value(const kv_config *cfg, const char *key, const char *opt, const char *v,
                        int sbatch) {
  if (!v || !unsafe(v, sbatch)) {
    return KV_OK;
  }
  const char *why = sbatch ? "a control character or a blank (each #SBATCH value is one word)"
                           : "a control character (a newline would become a line of the script)";
  if (!opt && cfg) {
    return kv_config_errorf(cfg, key, "'%s' holds %s", v, why);
  }
  return KV_ERROR(KV_ERR_USAGE, "%s: '%s' holds %s", opt ? opt : key, v, why);
}

static long key_long(const kv_config *cfg, const char *key, long def) {
  long v = def;
  if (kv_config_has(cfg, key) && kv_config_get_int(cfg, key, 0, LONG_MAX, &v) != KV_OK) {
    v = def;
  }
  return v;
}

/* Every word of opts as an "#SBATCH" line; each must be an option ("--x=y" or "-x"). */
static int sbatch_lines(FILE *f, const char *opts, const char *where) {
  char buf[2048];
  snprintf(buf, sizeof buf, "%s", opts);
  if (unsafe(opts, 0)) {
    return KV_ERROR(KV_ERR_USAGE,
                    "%s: '%s' holds a control character (a newline would become a "
                    "line of the script)",
                    where, opts);
  }
  for (char *save = NULL, *w = strtok_r(buf, " \t", &save); w; w = strtok_r(NULL, " \t", &save)) {
    if (w[0] != '-') {
      return KV_ERROR(KV_ERR_USAGE,
                      "%s: '%s' is not an sbatch option (expected --name=value or -x, e.g. "
                      "--account=proj1 --mem=4G)",
                      where, w);
    }
    fprintf(f, "#SBATCH %s\n", w);
  }
  return KV_OK;
}

/* The lines every job starts with: where to run, the preamble, the binary, the threads. */
static void job_body(FILE *f, const char *cwd, const char *setup, const char *exe) {
  fprintf(f,
          "\nset -eu\n# Relative paths in the configuration are relative to this directory.\ncd ");
  shq(f, cwd);
  fputc('\n', f);
  if (setup) {
    fprintf(f, "# slurm.setup: the environment of the cluster (modules, a virtual env...)\n%s\n",
            setup);
  }
  fprintf(f, "KELVIN=");
  shq(f, exe);
  fprintf(f, "\n# The Gaussian-process kernels run on the task's CPUs (OpenMP).\n"
             "export OMP_NUM_THREADS=${SLURM_CPUS_PER_TASK:-1}\n");
}

/* The common #SBATCH header lines of both jobs. */
static int header(FILE *f, const kv_config *cfg, const kv_slurm_opts *o, const char *time,
                  const char *partition) {
  static const char *const keys[][2] = {{"slurm.account", "--account"},
                                        {"slurm.qos", "--qos"},
                                        {"slurm.mem", "--mem"},
                                        {"slurm.constraint", "--constraint"},
                                        {"slurm.mail_type", "--mail-type"},
                                        {"slurm.mail_user", "--mail-user"}};
  fprintf(f, "#SBATCH --time=%s\n", time);
  if (partition) {
    fprintf(f, "#SBATCH --partition=%s\n", partition);
  }
  for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
    const char *v = key_string(cfg, keys[k][0]);
    KV_CHECK(script_value(cfg, keys[k][0], NULL, v, 1));
    if (v) {
      fprintf(f, "#SBATCH %s=%s\n", keys[k][1], v);
    }
  }
  const char *extra = key_string(cfg, "slurm.sbatch");
  if (extra && sbatch_lines(f, extra, "slurm.sbatch") != KV_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", kv_error_message());
    return kv_config_errorf(cfg, "slurm.sbatch", "%s", why);
  }
  if (o->sbatch) {
    KV_CHECK(sbatch_lines(f, o->sbatch, "--sbatch"));
  }
  return KV_OK;
}

/* Run a program (argv[0] found on PATH, no shell), its first output line into out (size n). */
static int run_capture(char *const argv[], char *out, size_t n) {
  int fd[2];
  if (pipe(fd) != 0) {
    return KV_ERROR(KV_ERR_IO, "cannot run %s: %s", argv[0], strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, fd[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&fa, fd[0]);
  posix_spawn_file_actions_addclose(&fa, fd[1]);
  pid_t pid;
  extern char **environ;
  int e = posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ);
  posix_spawn_file_actions_destroy(&fa);
  close(fd[1]);
  if (e != 0) {
    close(fd[0]);
    return KV_ERROR(KV_ERR_IO, "cannot run %s: %s", argv[0], strerror(e));
  }
  FILE *p = fdopen(fd[0], "r");
  out[0] = '\0';
  if (!p || !fgets(out, (int)n, p)) {
    out[0] = '\0';
  }
  char sink[256];
  while (p && fgets(sink, sizeof sink, p)) {
  }
  if (p) {
    fclose(p);
  } else {
    close(fd[0]);
  }
  int st = 0;
  while (waitpid(pid, &st, 0) < 0 && errno == EINTR) {
  }
  out[strcspn(out, "\r\n")] = '\0';
  if (!WIFEXITED(st) || WEXITSTATUS(st) != 0 || !out[0]) {
    return KV_ERROR(KV_ERR_IO, "%s %s failed (status %d)%s%s", argv[0], argv[1] ? argv[1] : "",
                    WIFEXITED(st) ? WEXITSTATUS(st) : -1, out[0] ? ": " : "", out);
  }
  return KV_OK;
}

int kv_slurm_emit(const kv_sweep *s, const kv_config *cfg, const kv_slurm_opts *o,
                  const char *cfgpath, int argc, char **argv) {
  char cwd[PATH_MAX], exe[PATH_MAX], conf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (!getcwd(cwd, sizeof cwd) || n <= 0) {
    return KV_ERROR(KV_ERR_IO, "sweep: cannot find the working directory or the kelvin binary");
  }
  exe[n] = '\0';
  if (!realpath(cfgpath, conf)) {
    return KV_ERROR(KV_ERR_IO, "sweep: cannot resolve '%s': %s", cfgpath, strerror(errno));
  }
  /* Options: the command line, then [slurm], then defaults. */
  long nc = kv_sweep_ncases(s);
  long array = o->array ? o->array : key_long(cfg, "slurm.array", 1);
  long ranks = o->ranks ? o->ranks : kv_sweep_ranks_per_case(s);
  long nodes = o->nodes ? o->nodes : key_long(cfg, "slurm.nodes", 0);
  long cpus = o->cpus ? o->cpus : key_long(cfg, "slurm.cpus_per_task", 0);
  long throttle = o->throttle ? o->throttle : key_long(cfg, "slurm.throttle", 0);
  long sig = key_long(cfg, "slurm.signal_seconds", 120), limit;
  const char *tlimit = o->time ? o->time : key_string(cfg, "slurm.time");
  const char *partition = o->partition ? o->partition : key_string(cfg, "slurm.partition");
  const char *setup = key_string(cfg, "slurm.setup");
  tlimit = tlimit ? tlimit : "01:00:00";
  if (kv_slurm_time(tlimit, &limit) != KV_OK) {
    if (o->time) {
      return KV_ERR_USAGE; /* the command line's --time, named by the message */
    }
    char why[512];
    snprintf(why, sizeof why, "%s", kv_error_message());
    return kv_config_errorf(cfg, "slurm.time", "%s", why);
  }
  /* Every value the script quotes, names in a comment or puts on an #SBATCH line. */
  KV_CHECK(script_value(cfg, "slurm.partition", o->partition ? "--partition" : NULL, partition, 1));
  KV_CHECK(script_value(NULL, "the working directory", NULL, cwd, 0));
  KV_CHECK(script_value(NULL, "the kelvin binary's path", NULL, exe, 0));
  KV_CHECK(script_value(NULL, "the configuration's path", NULL, conf, 0));
  KV_CHECK(script_value(cfg, "sweep.dir", NULL, kv_sweep_dir(s), 1));
  KV_CHECK(script_value(NULL, "--emit-slurm", "--emit-slurm", o->file, 0));
  for (int i = 1; i < argc; i++) {
    if (kv_slurm_is_override(argc, argv, i)) {
      KV_CHECK(script_value(NULL, argv[i], argv[i], argv[i], 0));
    }
  }
  if (array > nc) {
    kv_warn("sweep: %ld array tasks for %ld cases: clamped to %ld (a task without a case would "
            "only queue)",
            array, nc, nc);
    array = nc;
  }
  /* The warning must leave time to save the case in progress, and not eat a short limit. */
  if (limit > 0 && sig > limit / 2) {
    sig = limit / 2;
  }
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
  /* The overrides of the command line go to every job. */
  char overrides[8192] = "";
  for (int i = 1; i < argc; i++) {
    if (kv_slurm_is_override(argc, argv, i)) {
      append_quoted(overrides, sizeof overrides, argv[i]);
    }
  }
  char collect[PATH_MAX + 32];
  snprintf(collect, sizeof collect, "%s", o->file);
  char *dot = strrchr(collect, '.');
  if (dot && strchr(dot, '/') == NULL && dot != collect) {
    *dot = '\0';
  }
  strncat(collect, ".collect.sh", sizeof collect - strlen(collect) - 1);
  int want_collect = o->collect_job || o->fit_job;

  time_t now = time(NULL);
  char when[64];
  strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S%z", localtime(&now));
  char tmp[PATH_MAX + 16];
  FILE *f = kv_textfile_begin(o->file, "kelvin", "the job script", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  fprintf(f,
          "#!/bin/bash\n"
          "# kelvin sweep as a Slurm job array, written by kelvin sweep --emit-slurm on %s.\n"
          "#\n"
          "#   config : %s\n"
          "#   cases  : %ld (method %s), output in %s\n"
          "#   tasks  : %ld array tasks; task I runs the cases c with c %% %ld == I on %ld MPI "
          "rank%s\n"
          "#\n"
          "# Submit:   sbatch %s\n"
          "# Each task runs 'kelvin sweep --slice I/%ld --resume': cases whose file is already\n"
          "# complete are skipped, so after a time-out or a failed node submit this same script\n"
          "# again; only unfinished cases run. %ld s before the time limit Slurm sends SIGTERM\n"
          "# (--signal): kelvin saves the case it is in and leaves the slice manifest consistent;\n"
          "# a preempted task is requeued (--requeue) and resumes, its log appended to.\n",
          when, conf, nc, kv_sweep_method(s), adir, array, array, ranks, ranks == 1 ? "" : "s",
          o->file, array, sig);
  if (want_collect) {
    fprintf(f,
            "# The collect%s job runs after every task has ended (afterany):\n"
            "#   jid=$(sbatch --parsable %s) && sbatch --dependency=afterany:${jid%%%%;*} %s\n",
            o->fit_job ? " + fit" : "", o->file, collect);
  } else {
    fprintf(f,
            "# When every task has ended, merge the slice manifests into manifest.csv/.h5:\n"
            "#   cd %s && %s sweep %s%s --collect\n",
            cwd, exe, conf, overrides);
  }
  fprintf(f, "#\n#SBATCH --job-name=kelvin-%s\n", slash ? slash + 1 : dir);
  if (throttle > 0) {
    fprintf(f, "#SBATCH --array=0-%ld%%%ld\n", array - 1, throttle);
  } else {
    fprintf(f, "#SBATCH --array=0-%ld\n", array - 1);
  }
  if (nodes > 0) {
    fprintf(f, "#SBATCH --nodes=%ld\n", nodes);
  }
  fprintf(f, "#SBATCH --ntasks=%ld\n", ranks);
  if (cpus > 0) {
    fprintf(f, "#SBATCH --cpus-per-task=%ld\n", cpus);
  }
  if (sig > 0) {
    fprintf(f, "#SBATCH --signal=B:TERM@%ld\n", sig);
  }
  fprintf(f, "#SBATCH --requeue\n#SBATCH --open-mode=append\n");
  fprintf(f, "#SBATCH --output=%s/slurm-%%A_%%a.out\n", adir);
  int rc = header(f, cfg, o, tlimit, partition);
  job_body(f, cwd, setup, exe);
  fprintf(f,
          "# One rank runs kelvin directly; more go through Open MPI's mpirun, which takes its\n"
          "# hosts from the allocation (with a PMIx-enabled Slurm, 'srun --mpi=pmix' works too).\n"
          "# exec: the batch shell becomes kelvin (or mpirun), so --signal's SIGTERM reaches it.\n"
          "if [ \"${SLURM_NTASKS:-1}\" -gt 1 ]; then\n"
          "  LAUNCH=\"mpirun -n ${SLURM_NTASKS}\"\n"
          "else\n"
          "  LAUNCH=\"\"\n"
          "fi\n"
          "exec $LAUNCH \"$KELVIN\" sweep ");
  shq(f, conf);
  fprintf(f, "%s --slice \"${SLURM_ARRAY_TASK_ID}/%ld\" --resume\n", overrides, array);
  fchmod(fileno(f), 0755); /* sbatch does not need it; running it by hand does */
  if (rc != KV_OK) {
    fclose(f);
    remove(tmp);
    return rc;
  }
  KV_CHECK(kv_textfile_commit(f, tmp, o->file));
  printf("wrote %s: %ld array task%s over %ld cases\n", o->file, array, array == 1 ? "" : "s", nc);

  if (want_collect) {
    char ctmp[PATH_MAX + 64];
    FILE *g = kv_textfile_begin(collect, "kelvin", "the collect job script", ctmp, sizeof ctmp);
    if (!g) {
      return KV_ERR_IO;
    }
    fprintf(g,
            "#!/bin/bash\n"
            "# kelvin: merge the slices of the sweep of %s%s, after the array job\n"
            "# (sbatch --dependency=afterany:<array job>). Written by kelvin sweep --emit-slurm.\n"
            "#SBATCH --job-name=kelvin-%s-collect\n"
            "#SBATCH --ntasks=1\n"
            "#SBATCH --output=%s/slurm-collect-%%j.out\n",
            conf, o->fit_job ? " and fit its surrogate" : "", slash ? slash + 1 : dir, adir);
    if (cpus > 0) {
      fprintf(g, "#SBATCH --cpus-per-task=%ld\n", cpus);
    }
    rc = header(g, cfg, o, tlimit, partition);
    job_body(g, cwd, setup, exe);
    fprintf(g, "\"$KELVIN\" sweep ");
    shq(g, conf);
    fprintf(g, "%s --collect\n", overrides);
    if (o->fit_job) {
      fprintf(g, "\"$KELVIN\" fit ");
      shq(g, conf);
      fprintf(g, "%s\n", overrides);
    }
    fchmod(fileno(g), 0755);
    if (rc != KV_OK) {
      fclose(g);
      remove(ctmp);
      return rc;
    }
    KV_CHECK(kv_textfile_commit(g, ctmp, collect));
    printf("wrote %s: the collect%s job, to run after the array (afterany)\n", collect,
           o->fit_job ? " + fit" : "");
  }
  if (!o->submit) {
    if (want_collect) {
      printf(
          "submit with: jid=$(sbatch --parsable %s) && sbatch --dependency=afterany:${jid%%%%;*} "
          "%s\n",
          o->file, collect);
    } else {
      printf("submit with: sbatch %s\n", o->file);
    }
    return KV_OK;
  }
  char jid[256], jid2[256], dep[300], file[PATH_MAX];
  snprintf(file, sizeof file, "%s", o->file);
  char *const array_cmd[] = {"sbatch", "--parsable", file, NULL};
  KV_CHECK(run_capture(array_cmd, jid, sizeof jid));
  jid[strcspn(jid, ";")] = '\0'; /* "id;cluster" on federated clusters */
  printf("submitted the array: job %s\n", jid);
  if (want_collect) {
    snprintf(dep, sizeof dep, "--dependency=afterany:%s", jid);
    char *const collect_cmd[] = {"sbatch", "--parsable", dep, collect, NULL};
    KV_CHECK(run_capture(collect_cmd, jid2, sizeof jid2));
    jid2[strcspn(jid2, ";")] = '\0';
    printf("submitted the collect job: job %s (after %s)\n", jid2, jid);
  }
  return KV_OK;
}

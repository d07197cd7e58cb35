/* One evaluation of the user's simulator: the work directory, the parameters and input files,
 * the command (no shell unless asked), the wait, and the results. */
#define _GNU_SOURCE /* nftw's FTW_DEPTH/FTW_PHYS, realpath */
#include <errno.h>
#include <ftw.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/spawn.h"
#include "core/status.h"
#include "io/paramfile.h"
#include "io/results.h"
#include "io/safefile.h"
#include "solvers/external/external_impl.h"

/* The mark of a work directory kelvin made: only such a directory is ever removed. */
#define KV_WORKDIR_MARK ".kelvin-workdir"

void kv_ext_outcome_free(kv_ext_outcome *o) {
  if (!o) {
    return;
  }
  for (int f = 0; f < KV_EXT_MAX_FIELDS; f++) {
    kv_nc_var_free(&o->var[f]);
  }
}

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb;
  (void)ftw;
  return flag == FTW_DP ? rmdir(path) : unlink(path);
}

/* Remove a work directory kelvin made (it holds the mark); refuse any other directory. */
static int remove_workdir(const char *dir) {
  char mark[4200];
  struct stat st;
  if (lstat(dir, &st) != 0) {
    return KV_OK;
  }
  snprintf(mark, sizeof mark, "%s/%s", dir, KV_WORKDIR_MARK);
  if (!S_ISDIR(st.st_mode) || access(mark, F_OK) != 0) {
    return KV_ERROR(KV_ERR_CONFIG,
                    "external.workdir: '%s' exists and is not a work directory kelvin made "
                    "(no %s in it); kelvin removes only its own",
                    dir, KV_WORKDIR_MARK);
  }
  /* A simulator of a kelvin that was killed may still run there: it would write into the new
   * attempt's files. */
  int k = kv_spawn_kill_within(dir);
  if (k > 0) {
    kv_warn("%s: stopped %d process%s left running there by an earlier attempt", dir, k,
            k == 1 ? "" : "es");
  }
  if (nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
    return KV_ERROR(KV_ERR_IO, "cannot remove the old work directory '%s': %s", dir,
                    strerror(errno));
  }
  return KV_OK;
}

/* A fresh work directory with the parameters file, the templates' files and the links. */
static int prepare(const kv_external_params *p, const kv_paramset *ps) {
  KV_CHECK(remove_workdir(p->workdir));
  KV_CHECK(kv_safefile_mkdirs(p->workdir));
  char path[8400];
  snprintf(path, sizeof path, "%s/%s", p->workdir, KV_WORKDIR_MARK);
  FILE *f = fopen(path, "w");
  if (!f || fclose(f) != 0) {
    return KV_ERROR(KV_ERR_IO, "cannot write in the work directory '%s': %s", p->workdir,
                    strerror(errno));
  }
  snprintf(path, sizeof path, "%s/%s", p->workdir, p->params_file);
  KV_CHECK(kv_paramfile_write(path, p->params_format, ps));
  for (int t = 0; t < p->ntemplates; t++) {
    snprintf(path, sizeof path, "%s/%s", p->workdir, p->tmpl_dst[t]);
    KV_CHECK(kv_template_render(p->tmpl_src[t], path, ps));
  }
  for (int l = 0; l < p->nlinks; l++) {
    char abs[PATH_MAX];
    if (!realpath(p->link[l], abs)) {
      return KV_ERROR(KV_ERR_CONFIG, "external.link_files: cannot find '%s': %s", p->link[l],
                      strerror(errno));
    }
    const char *base = strrchr(p->link[l], '/');
    snprintf(path, sizeof path, "%s/%s", p->workdir, base ? base + 1 : p->link[l]);
    if (symlink(abs, path) != 0) {
      return KV_ERROR(KV_ERR_IO, "cannot link '%s' into '%s': %s", abs, p->workdir,
                      strerror(errno));
    }
  }
  return KV_OK;
}

/* A word of the command with {params}, {results}, {workdir}, {case}, {seed}, {ranks} and the
 * inputs' values substituted; shell: the values single-quoted for /bin/sh. */
static int substitute(const char *w, const kv_external_params *p, const kv_paramset *ps, int shell,
                      char *out, size_t n) {
  size_t o = 0;
  for (const char *s = w; *s;) {
    const char *e = *s == '{' ? strchr(s, '}') : NULL;
    char name[128], val[4200] = "";
    int known = 0;
    if (e && (size_t)(e - s) < sizeof name) {
      snprintf(name, sizeof name, "%.*s", (int)(e - s - 1), s + 1);
      known = 1;
      if (!strcmp(name, "params")) {
        snprintf(val, sizeof val, "%s", p->params_file);
      } else if (!strcmp(name, "results")) {
        snprintf(val, sizeof val, "%s", p->nresults ? p->results[0] : "");
      } else if (!strcmp(name, "workdir")) {
        snprintf(val, sizeof val, "%s", p->workdir);
      } else if (!strcmp(name, "case") || !strcmp(name, "seed") || !strcmp(name, "ranks")) {
        snprintf(val, sizeof val, "%ld",
                 name[0] == 'c'   ? p->case_id
                 : name[0] == 's' ? p->seed
                                  : p->ranks);
      } else {
        known = 0;
        for (int i = 0; i < ps->n; i++) {
          if (!strcmp(name, ps->names[i]) || !strcmp(name, ps->keys[i])) {
            kv_param_format(ps->values[i], val, sizeof val);
            if (isnan(ps->values[i])) {
              snprintf(val, sizeof val, "%s", ps->texts[i]);
            }
            known = 1;
          }
        }
      }
    }
    if (!known) {
      if (o + 1 >= n) {
        return KV_ERROR(KV_ERR_CONFIG, "external.command: a word is too long");
      }
      out[o++] = *s++;
      continue;
    }
    char q[8600];
    if (shell) { /* 'value' with every ' as '\'' : nothing in it reaches the shell's parser */
      size_t k = 0;
      q[k++] = '\'';
      for (const char *v = val; *v && k + 5 < sizeof q; v++) {
        if (*v == '\'') {
          memcpy(q + k, "'\\''", 4);
          k += 4;
        } else {
          q[k++] = *v;
        }
      }
      q[k++] = '\'';
      q[k] = '\0';
    } else {
      snprintf(q, sizeof q, "%s", val);
    }
    size_t l = strlen(q);
    if (o + l + 1 >= n) {
      return KV_ERROR(KV_ERR_CONFIG, "external.command: a word is too long");
    }
    memcpy(out + o, q, l);
    o += l;
    s = e + 1;
  }
  out[o] = '\0';
  return KV_OK;
}

/* The launcher that picks srun or mpirun. */
static const char launcher_auto[] = "auto";

/* argv of the run: [launcher words] command words, or [launcher] /bin/sh -c "command". Words and
 * their texts live in *mem (freed by the caller). */
static int build_argv(const kv_external_params *p, const kv_paramset *ps, char ***argv,
                      char **mem) {
  char **cw = NULL, **lw = NULL;
  char *launch = NULL;
  *argv = NULL;
  *mem = NULL;
  int rc = kv_spawn_split(p->command, &cw);
  if (rc != KV_OK) {
    return KV_ERROR(KV_ERR_CONFIG, "external.command: %s", kv_error_message());
  }
  if (!cw[0]) {
    free(cw);
    return KV_ERROR(KV_ERR_CONFIG, "external.command is empty");
  }
  if (p->ranks > 1) {
    char l[600];
    snprintf(l, sizeof l, "%s", p->launcher);
    if (!strcmp(l, launcher_auto)) {
      const char *slurm = getenv("SLURM_JOB_ID");
      snprintf(l, sizeof l, "%s", slurm ? "srun --ntasks={ranks} --exact" : "mpirun -n {ranks}");
    }
    launch = malloc(1024);
    rc = launch ? substitute(l, p, ps, 0, launch, 1024) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    if (rc == KV_OK) {
      rc = kv_spawn_split(launch, &lw);
    }
  }
  size_t nl = 0, nc = 0;
  while (lw && lw[nl]) {
    nl++;
  }
  while (cw[nc]) {
    nc++;
  }
  const size_t wmax = 8192;
  char **a = calloc(nl + nc + 4, sizeof *a);
  char *buf = malloc((nl + nc + 2) * wmax);
  if (rc == KV_OK && (!a || !buf)) {
    rc = KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; rc == KV_OK && i < nl; i++) {
    a[k] = buf + k * wmax;
    snprintf(a[k++], wmax, "%s", lw[i]);
  }
  if (rc == KV_OK && p->shell) {
    a[k] = buf + k * wmax;
    snprintf(a[k++], wmax, "/bin/sh");
    a[k] = buf + k * wmax;
    snprintf(a[k++], wmax, "-c");
    a[k] = buf + k * wmax;
    rc = substitute(p->command, p, ps, 1, a[k++], wmax);
  }
  for (size_t i = 0; rc == KV_OK && !p->shell && i < nc; i++) {
    a[k] = buf + k * wmax;
    rc = substitute(cw[i], p, ps, 0, a[k], wmax);
    /* A relative program path is relative to where kelvin runs, not to the work directory. */
    if (rc == KV_OK && i == 0 && strchr(a[k], '/') && a[k][0] != '/') {
      char abs[PATH_MAX];
      if (realpath(a[k], abs)) {
        snprintf(a[k], wmax, "%s", abs);
      }
    }
    k++;
  }
  free(cw);
  free(lw);
  free(launch);
  if (rc != KV_OK) {
    free(a);
    free(buf);
    return rc;
  }
  a[k] = NULL;
  *argv = a;
  *mem = buf;
  return KV_OK;
}

/* What the simulator said on its standard error, on one line for the manifest: its first
 * line (where most programs put the error; a launcher's banner then follows) and its last lines,
 * without the launchers' rules of dashes and blank lines. */
static void stderr_tail(const char *dir, char *out, size_t n) {
  char path[4200];
  snprintf(path, sizeof path, "%s/kelvin.stderr", dir);
  out[0] = '\0';
  FILE *f = fopen(path, "rb");
  if (!f) {
    return;
  }
  char head[160] = "", buf[320];
  if (!fgets(head, sizeof head, f)) {
    head[0] = '\0';
  }
  head[strcspn(head, "\r\n")] = '\0';
  fseek(f, 0, SEEK_END);
  long size = ftell(f), hl = (long)strlen(head) + 1;
  long from = size - (long)sizeof buf + 1 > hl ? size - (long)sizeof buf + 1 : hl;
  size_t got = 0;
  if (from < size && fseek(f, from, SEEK_SET) == 0) {
    got = fread(buf, 1, sizeof buf - 1, f);
  }
  fclose(f);
  buf[got] = '\0';
  char *s = buf;
  if (from > hl && strchr(s, '\n')) {
    s = strchr(s, '\n') + 1; /* whole lines */
  }
  size_t o = (size_t)snprintf(out, n, "%s", head);
  if (o >= n) {
    return;
  }
  int first = 1;
  for (char *line = strtok(s, "\n"); line && o + 8 < n; line = strtok(NULL, "\n")) {
    line[strcspn(line, "\r")] = '\0';
    if (strspn(line, "- \t") == strlen(line)) {
      continue;
    }
    o += (size_t)snprintf(out + o, n - o, "%s%s", first && head[0] ? " ... " : " | ", line);
    first = 0;
  }
}

static int is_field_file(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && (!strcmp(dot, ".nc") || !strcmp(dot, ".h5") || !strcmp(dot, ".nc4") ||
                 !strcmp(dot, ".hdf5") || !strcmp(dot, ".cdf"));
}

/* Read the responses and fields from the results files of the work directory. */
static int read_results(const kv_external_params *p, kv_ext_outcome *o) {
  char path[4700];
  const char *names[KV_EXT_MAX_RESPONSES];
  int idx[KV_EXT_MAX_RESPONSES], left = 0;
  /* Responses: scalar variables of a field file, else the text results file. */
  for (int r = 0; r < p->nresp; r++) {
    int found = 0;
    for (int f = 0; f < p->nresults && !found; f++) {
      snprintf(path, sizeof path, "%s/%s", p->workdir, p->results[f]);
      if (!is_field_file(p->results[f]) || !kv_nc_has(path, p->resp[r])) {
        continue;
      }
      kv_nc_var v;
      KV_CHECK(kv_nc_read(path, p->resp[r], &v));
      /* A single value, or a series: its last value (as a QoI of kelvin's own outputs). */
      found = v.count >= 1 && v.ndims <= 1;
      o->resp[r] = found ? v.data[v.count - 1] : 0.0;
      kv_nc_var_free(&v);
      if (!found) {
        return KV_ERROR(KV_ERR_FORMAT, "%s: response '%s' is neither a value nor a series", path,
                        p->resp[r]);
      }
      if (!isfinite(o->resp[r])) {
        return KV_ERROR(KV_ERR_FORMAT, "%s: response '%s' is not a finite number", path,
                        p->resp[r]);
      }
    }
    if (!found) {
      idx[left] = r;
      names[left++] = p->resp[r];
    }
  }
  const char *text = NULL;
  for (int f = 0; f < p->nresults && !text; f++) {
    text = is_field_file(p->results[f]) ? NULL : p->results[f];
  }
  if (left > 0 && !text) {
    return KV_ERROR(KV_ERR_FORMAT, "no response '%s' in the results files (external.results)",
                    names[0]);
  }
  if (left > 0) {
    double v[KV_EXT_MAX_RESPONSES];
    snprintf(path, sizeof path, "%s/%s", p->workdir, text);
    KV_CHECK(kv_results_read(path, left, names, v));
    for (int k = 0; k < left; k++) {
      o->resp[idx[k]] = v[k];
    }
  }
  for (int q = 0; q < p->nfields; q++) {
    int found = 0;
    for (int f = 0; f < p->nresults && !found; f++) {
      snprintf(path, sizeof path, "%s/%s", p->workdir, p->results[f]);
      if (is_field_file(p->results[f]) && kv_nc_has(path, p->field[q])) {
        KV_CHECK(kv_nc_read(path, p->field[q], &o->var[q]));
        found = 1;
      }
    }
    if (!found) {
      return KV_ERROR(KV_ERR_FORMAT, "no field '%s' in the results files (external.results)",
                      p->field[q]);
    }
  }
  return KV_OK;
}

/* One attempt: 0 on success, else the reason in why. */
static int attempt(const kv_external_params *p, const kv_paramset *ps, kv_ext_outcome *o, char *why,
                   size_t n) {
  char **argv = NULL, *mem = NULL, **env = NULL;
  KV_CHECK(prepare(p, ps));
  KV_CHECK(build_argv(p, ps, &argv, &mem));
  char e_case[64], e_seed[64], e_ranks[64], e_dir[4200], e_par[700], e_res[700];
  snprintf(e_case, sizeof e_case, "KELVIN_CASE=%ld", p->case_id);
  snprintf(e_seed, sizeof e_seed, "KELVIN_SEED=%ld", p->seed);
  snprintf(e_ranks, sizeof e_ranks, "KELVIN_RANKS=%ld", p->ranks);
  snprintf(e_dir, sizeof e_dir, "KELVIN_WORKDIR=%s", p->workdir);
  snprintf(e_par, sizeof e_par, "KELVIN_PARAMS=%s", p->params_file);
  snprintf(e_res, sizeof e_res, "KELVIN_RESULTS=%s", p->nresults ? p->results[0] : "");
  char *extra[] = {e_case, e_seed, e_ranks, e_dir, e_par, e_res, NULL};
  int rc = kv_spawn_env(extra, &env);
  kv_spawn_params sp = {argv,       env,     p->workdir, "kelvin.stdout", "kelvin.stderr",
                        p->timeout, p->grace};
  kv_spawn_result sr;
  if (rc == KV_OK) {
    rc = kv_spawn_run(&sp, &sr);
  }
  free(env);
  free(argv);
  free(mem);
  if (rc != KV_OK) {
    snprintf(why, n, "%s", kv_error_message());
    return rc;
  }
  o->wall = sr.wall;
  if (sr.interrupted) {
    return KV_ERROR(KV_ERR_INTERRUPTED, "stopped by signal %d while the simulator ran",
                    sr.interrupted);
  }
  char how[160], tail[400];
  if (sr.timed_out || sr.signal || sr.exit_status != 0) {
    kv_spawn_describe(&sr, p->timeout, how, sizeof how);
    stderr_tail(p->workdir, tail, sizeof tail);
    snprintf(why, n, "the simulator failed (%s)%s%s", how, tail[0] ? "; its stderr ends: " : "",
             tail);
    return KV_ERR_NUMERIC;
  }
  rc = read_results(p, o);
  if (rc != KV_OK) {
    snprintf(why, n, "%s", kv_error_message());
    kv_ext_outcome_free(o);
    return rc == KV_ERR_NOMEM ? rc : KV_ERR_NUMERIC;
  }
  return KV_OK;
}

int kv_ext_evaluate(const kv_external_params *p, kv_ext_outcome *o) {
  memset(o, 0, sizeof *o);
  const char *names[KV_EXT_MAX_INPUTS], *keys[KV_EXT_MAX_INPUTS], *resp[KV_EXT_MAX_RESPONSES],
      *texts[KV_EXT_MAX_INPUTS];
  char keybuf[KV_EXT_MAX_INPUTS][80];
  for (int i = 0; i < p->ninputs; i++) {
    names[i] = p->input[i];
    texts[i] = p->text[i];
    snprintf(keybuf[i], sizeof keybuf[i], "external.%s", p->input[i]);
    keys[i] = keybuf[i];
  }
  for (int r = 0; r < p->nresp; r++) {
    resp[r] = p->resp[r];
  }
  kv_paramset ps = {p->ninputs, names, keys,       p->value, texts,
                    p->nresp,   resp,  p->case_id, p->seed,  p->workdir};
  char why[1024] = "";
  int rc = KV_OK;
  for (long a = 0; a <= p->retries; a++) {
    o->attempts = (int)a + 1;
    why[0] = '\0';
    rc = attempt(p, &ps, o, why, sizeof why);
    if (rc != KV_OK && !why[0]) {
      snprintf(why, sizeof why, "%s", kv_error_message());
    }
    if (rc == KV_OK || rc == KV_ERR_INTERRUPTED || rc == KV_ERR_CONFIG || rc == KV_ERR_NOMEM) {
      break;
    }
    if (a < p->retries) {
      kv_warn("case %ld: %s; trying again (%ld of external.retries = %ld)", p->case_id, why, a + 1,
              p->retries);
    }
  }
  if (rc == KV_OK) {
    if (p->keep != KV_EXT_KEEP_ALWAYS) {
      rc = remove_workdir(p->workdir);
    }
    return rc;
  }
  if (rc == KV_ERR_INTERRUPTED || rc == KV_ERR_CONFIG || rc == KV_ERR_NOMEM) {
    return rc;
  }
  if (p->keep == KV_EXT_KEEP_NEVER) {
    remove_workdir(p->workdir);
  }
  return KV_ERROR(KV_ERR_NUMERIC, "%s%s%s%s", why, p->retries > 0 ? " (after all retries)" : "",
                  p->keep == KV_EXT_KEEP_NEVER ? "" : "; kept: ",
                  p->keep == KV_EXT_KEEP_NEVER ? "" : p->workdir);
}

#define _POSIX_C_SOURCE 200809L /* strndup */
#include "drivers/sweep.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/suggest.h"
#include "drivers/evaluate.h"
#include "drivers/run.h"
#include "io/manifest.h"
#include "io/table.h"
#include "solvers/model.h"
#include "surrogates/sampling.h"

const kv_config_key kv_sweep_keys[] = {
    {"sweep.name", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "sweep name; output in runs/<name>/ (default: the config file's name)"},
    {"sweep.dir", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "output directory (default: runs/<sweep.name>)"},
    {"sweep.method", KV_CFG_ENUM, NULL, "grid|list|lhs|sobol|ensemble", KV_CFG_NORANGE,
     "how cases are made"},
    {"sweep.vary", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "grid: key=v1|v2|..., ...; lhs/sobol: key:lo:hi[:log], ..."},
    {"sweep.cases", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "list: CSV file, a header of config keys and one row per case"},
    {"sweep.samples", KV_CFG_INT, NULL, NULL, 1, 1000000, "lhs/sobol: number of cases"},
    {"sweep.seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0,
     "lhs/sobol: design seed; ensemble: seed of member 0 (member m gets seed + m)"},
    {"sweep.members", KV_CFG_INT, "1", NULL, 1, 1000000, "ensemble: members per scenario"},
    {"sweep.scenarios", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "ensemble: comma-separated scenarios (the model's scenario key), each run sweep.members "
     "times"},
    {"sweep.ranks_per_case", KV_CFG_INT, "1", NULL, 1, 1000000, "MPI ranks that run one case"},
    /* How kelvin sweep --emit-slurm writes the job array (command-line options win). */
    {"slurm.account", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE, "sbatch --account"},
    {"slurm.qos", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE, "sbatch --qos"},
    {"slurm.mem", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE, "sbatch --mem (e.g. 4G)"},
    {"slurm.constraint", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE, "sbatch --constraint"},
    {"slurm.mail_type", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "sbatch --mail-type (e.g. END,FAIL)"},
    {"slurm.mail_user", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE, "sbatch --mail-user"},
    {"slurm.partition", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE, "sbatch --partition"},
    {"slurm.time", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "time limit per array task, any sbatch form (M, M:S, H:M:S, D-H, D-H:M, D-H:M:S)"},
    {"slurm.nodes", KV_CFG_INT, NULL, NULL, 1, 1000000, "sbatch --nodes per array task"},
    {"slurm.cpus_per_task", KV_CFG_INT, NULL, NULL, 1, 100000,
     "sbatch --cpus-per-task (threads of each rank: OMP_NUM_THREADS)"},
    {"slurm.array", KV_CFG_INT, NULL, NULL, 1, 1000000, "array tasks (slices of the sweep)"},
    {"slurm.throttle", KV_CFG_INT, NULL, NULL, 1, 1000000,
     "at most this many array tasks at once (--array=0-K%N)"},
    {"slurm.setup", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "shell lines run before kelvin in every job, e.g. module load openmpi; source env.sh"},
    {"slurm.sbatch", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "more sbatch options, as on its command line (e.g. --exclusive --gres=gpu:1)"},
    {"slurm.signal_seconds", KV_CFG_INT, "120", NULL, 0, 86400,
     "SIGTERM this long before the time limit (--signal=B:TERM@s): the case in progress is saved"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

enum { M_GRID, M_LIST, M_LHS, M_SOBOL, M_ENSEMBLE };
/* Cases in one sweep at most: each is checked, listed in the manifest and has a file. */
#define KV_SWEEP_MAX_CASES 1000000

static const char *const method_names[] = {"grid", "list", "lhs", "sobol", "ensemble"};

struct kv_sweep {
  kv_config *base; /* the configuration without [sweep], validated       */
  char source[1024];
  char dir[4096];
  int method;
  int ranks_per_case;
  int nvars;
  char **vars;
  long ncases;
  char **values;   /* ncases x nvars                                     */
  long *lines;     /* list sweeps: the CSV line of each case (else NULL) */
  char csv[1024];  /* list sweeps: the CSV file                        */
  double *lo, *hi; /* lhs/sobol: each key's range (else NULL)         */
  int *islog;
};

/* ------------------------------------------------------------------ small helpers */

static int parse_number(const char *s, double *out) {
  char *end;
  if (!*s) {
    return 0;
  }
  *out = strtod(s, &end);
  return *end == '\0' && isfinite(*out);
}

/* Does s start with "section.key" followed by one of stop? (the start of a vary entry) */
static int starts_with_key(const char *s, const char *stop) {
  while (isspace((unsigned char)*s)) {
    s++;
  }
  const char *p = s;
  int dots = 0;
  while (isalnum((unsigned char)*p) || *p == '_' || *p == '.') {
    dots += *p == '.';
    p++;
  }
  while (isspace((unsigned char)*p)) {
    p++;
  }
  return p > s && dots > 0 && *p && strchr(stop, *p);
}

/* Split a vary list at the commas that start a new "key<stop>" entry, so values may hold commas
 * ("heat.n=32,32|64,64", "gaussian(0.5,0.5,0.1,1)"). Returns the count; items are malloc'd. */
static int split_entries(const char *text, const char *stop, char ***out) {
  int n = 0, cap = 8;
  char **it = malloc((size_t)cap * sizeof *it);
  const char *start = text;
  int depth = 0;
  for (const char *p = text;; p++) {
    if (*p == '(') {
      depth++;
    }
    if (*p == ')') {
      depth--;
    }
    if (*p == '\0' || (*p == ',' && depth == 0 && starts_with_key(p + 1, stop))) {
      if (n == cap) {
        cap *= 2;
        char **t = realloc(it, (size_t)cap * sizeof *t);
        if (!t) {
          break;
        }
        it = t;
      }
      it[n++] = strndup(start, (size_t)(p - start));
      if (*p == '\0') {
        break;
      }
      start = p + 1;
    }
  }
  *out = it;
  return n;
}

static void free_strings(char **v, long n) {
  if (!v) {
    return;
  }
  for (long i = 0; i < n; i++) {
    free(v[i]);
  }
  free(v);
}

/* The tables of keys a case may set: [run] and the model's section. */
static void case_tables(const kv_config *cfg, const kv_config_key *tables[5],
                        const kv_model_type **type) {
  const char *v = kv_config_value(cfg, "run.model");
  *type = kv_model_type_find(v ? v : kv_model_default_name);
  tables[0] = kv_model_run_keys;
  tables[1] = tables[2] = tables[3] = tables[4] = NULL;
  if (*type && kv_model_key_tables(*type, cfg, tables + 1) != KV_OK) {
    tables[2] = NULL;
  }
}

/* A varied key must be one a case can set, and not one the sweep sets itself. */
static int check_var(const kv_config *cfg, const char *opt, const char *key) {
  const kv_config_key *tables[5];
  const kv_model_type *type;
  case_tables(cfg, tables, &type);
  if (strcmp(key, "run.output") == 0 || strcmp(key, "run.overwrite") == 0 ||
      strcmp(key, "run.model") == 0 || strncmp(key, "sweep.", 6) == 0) {
    return kv_config_errorf(cfg, opt, "%s cannot be varied (the sweep sets it)", key);
  }
  if (!kv_config_key_find(tables, key)) {
    const char *keys[512];
    int n = 0;
    for (int t = 0; tables[t]; t++) {
      for (const kv_config_key *k = tables[t]; k->key && n < 511; k++) {
        keys[n++] = k->key;
      }
    }
    keys[n] = NULL;
    char hint[160];
    return kv_config_errorf(cfg, opt,
                            "unknown key %s%s: not a key of [run] or [%s] (kelvin run "
                            "--keys lists them)",
                            key, kv_suggest_hint(key, keys, hint, sizeof hint),
                            type ? type->name : "?");
  }
  return KV_OK;
}

static int add_var(kv_sweep *s, const kv_config *cfg, const char *opt, const char *key) {
  KV_CHECK(check_var(cfg, opt, key));
  for (int v = 0; v < s->nvars; v++) {
    if (strcmp(s->vars[v], key) == 0) {
      return kv_config_errorf(cfg, opt, "%s is varied twice", key);
    }
  }
  char **t = realloc(s->vars, (size_t)(s->nvars + 1) * sizeof *t);
  if (!t || !(t[s->nvars] = strndup(key, strlen(key)))) {
    if (t) {
      s->vars = t;
    }
    return KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
  }
  s->vars = t;
  s->nvars++;
  return KV_OK;
}

static int alloc_values(kv_sweep *s, long ncases) {
  if (ncases < 1) {
    return KV_ERROR(KV_ERR_CONFIG, "sweep: the design has no cases");
  }
  if (ncases > KV_SWEEP_MAX_CASES) { /* the grid's product is checked before it is formed */
    return KV_ERROR(KV_ERR_CONFIG, "sweep: %ld cases; at most %d", ncases, KV_SWEEP_MAX_CASES);
  }
  s->ncases = ncases;
  s->values = calloc((size_t)ncases * (size_t)(s->nvars ? s->nvars : 1), sizeof *s->values);
  return s->values ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory for %ld cases", ncases);
}

static int set_value(kv_sweep *s, long c, int v, const char *text) {
  char **slot = &s->values[c * s->nvars + v];
  free(*slot);
  *slot = strndup(text, strlen(text));
  return *slot ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
}

/* ------------------------------------------------------------------ methods */

static int make_grid(kv_sweep *s, const kv_config *cfg) {
  const char *vary;
  if (!kv_config_has(cfg, "sweep.vary")) {
    return kv_config_errorf(cfg, "sweep.vary",
                            "grid needs key=v1|v2|..., ... (e.g. "
                            "heat.kappa=0.5|1|2, heat.bc_value=0|1)");
  }
  KV_CHECK(kv_config_get_string(cfg, "sweep.vary", &vary));
  char **items = NULL;
  int n = split_entries(vary, "=", &items);
  int rc = KV_OK;
  int *count = calloc((size_t)n + 1, sizeof *count);
  char ***vals = calloc((size_t)n + 1, sizeof *vals);
  long total = 1;
  if (!count || !vals) {
    rc = KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
  }
  for (int i = 0; i < n && rc == KV_OK; i++) {
    char *e = kv_table_trim(items[i]);
    char *eq = strchr(e, '=');
    if (!*e) {
      rc = kv_config_errorf(cfg, "sweep.vary", "entry %d is empty", i + 1);
      break;
    }
    if (!eq) {
      rc = kv_config_errorf(cfg, "sweep.vary", "entry '%s': expected key=v1|v2|... for grid", e);
      break;
    }
    *eq = '\0';
    char *key = kv_table_trim(e), *list = eq + 1;
    rc = add_var(s, cfg, "sweep.vary", key);
    /* Values are separated by '|'. */
    int m = 1;
    for (char *p = list; *p; p++) {
      m += *p == '|';
    }
    vals[i] = calloc((size_t)m, sizeof **vals);
    if (rc == KV_OK && !vals[i]) {
      rc = KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
    }
    for (char *tok = list; rc == KV_OK && tok;) {
      char *bar = strchr(tok, '|');
      if (bar) {
        *bar = '\0';
      }
      char *t = kv_table_trim(tok);
      if (!*t) {
        rc = kv_config_errorf(cfg, "sweep.vary",
                              "%s: empty value in the list (an empty list, "
                              "or '||')",
                              key);
      } else {
        vals[i][count[i]++] = t;
      }
      tok = bar ? bar + 1 : NULL;
    }
    /* The product is checked before it can overflow. */
    if (rc == KV_OK && (double)total * (double)count[i] > KV_SWEEP_MAX_CASES) {
      rc = kv_config_errorf(cfg, "sweep.vary",
                            "the grid has more than %d cases (%.3g at '%s'): a sweep holds at "
                            "most %d",
                            KV_SWEEP_MAX_CASES, (double)total * (double)count[i], key,
                            KV_SWEEP_MAX_CASES);
    }
    total *= count[i];
  }
  if (rc == KV_OK && n == 0) {
    rc = kv_config_errorf(cfg, "sweep.vary", "no keys to vary");
  }
  if (rc == KV_OK) {
    rc = alloc_values(s, total);
  }
  /* Row-major: the first key varies slowest, like itertools.product. */
  for (long c = 0; rc == KV_OK && c < total; c++) {
    long r = c;
    for (int i = n - 1; i >= 0 && rc == KV_OK; i--) {
      rc = set_value(s, c, i, vals[i][r % count[i]]);
      r /= count[i];
    }
  }
  for (int i = 0; i < n; i++) {
    free(vals ? vals[i] : NULL);
  }
  free(vals);
  free(count);
  free_strings(items, n);
  return rc;
}

static int make_sampled(kv_sweep *s, const kv_config *cfg) {
  const char *vary;
  long samples, seed;
  if (!kv_config_has(cfg, "sweep.vary")) {
    return kv_config_errorf(cfg, "sweep.vary",
                            "%s needs key:lo:hi[:log], ... (e.g. "
                            "heat.kappa:0.1:2.0)",
                            method_names[s->method]);
  }
  if (!kv_config_has(cfg, "sweep.samples")) {
    return kv_config_errorf(cfg, "sweep.samples", "%s needs the number of cases",
                            method_names[s->method]);
  }
  KV_CHECK(kv_config_get_string(cfg, "sweep.vary", &vary));
  KV_CHECK(kv_config_get_int(cfg, "sweep.samples", 1, KV_SWEEP_MAX_CASES, &samples));
  KV_CHECK(kv_config_get_int(cfg, "sweep.seed", 0, 4294967295L, &seed));
  char **items = NULL;
  int n = split_entries(vary, ":", &items);
  double *lo = calloc((size_t)n + 1, sizeof *lo), *hi = calloc((size_t)n + 1, sizeof *hi);
  int *islog = calloc((size_t)n + 1, sizeof *islog), *isint = calloc((size_t)n + 1, sizeof *isint);
  double *u = NULL;
  int rc = lo && hi && islog && isint ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
  const kv_config_key *tables[5];
  const kv_model_type *type;
  case_tables(cfg, tables, &type);
  for (int i = 0; i < n && rc == KV_OK; i++) {
    char *f[5] = {0};
    int nf = 0;
    for (char *tok = items[i]; tok && nf < 5;) {
      char *colon = strchr(tok, ':');
      if (colon) {
        *colon = '\0';
      }
      f[nf++] = kv_table_trim(tok);
      tok = colon ? colon + 1 : NULL;
    }
    if (nf < 3 || nf > 4 || (nf == 4 && strcmp(f[3], "log") != 0 && strcmp(f[3], "lin") != 0)) {
      rc = kv_config_errorf(cfg, "sweep.vary", "entry %d: expected key:lo:hi or key:lo:hi:log",
                            i + 1);
      break;
    }
    rc = add_var(s, cfg, "sweep.vary", f[0]);
    if (rc != KV_OK) {
      break;
    }
    const kv_config_key *k = kv_config_key_find(tables, f[0]);
    if (k->type != KV_CFG_INT && k->type != KV_CFG_DOUBLE && k->type != KV_CFG_FUNC &&
        k->type != KV_CFG_VALUE) {
      rc = kv_config_errorf(cfg, "sweep.vary",
                            "%s is not a numeric key; vary it with method = "
                            "grid or list",
                            f[0]);
      break;
    }
    isint[i] = k->type == KV_CFG_INT;
    islog[i] = nf == 4 && strcmp(f[3], "log") == 0;
    if (!parse_number(f[1], &lo[i]) || !parse_number(f[2], &hi[i])) {
      rc =
          kv_config_errorf(cfg, "sweep.vary", "%s: range '%s:%s' is not numeric", f[0], f[1], f[2]);
    } else if (lo[i] >= hi[i]) {
      rc = kv_config_errorf(cfg, "sweep.vary", "%s: lo = %g must be below hi = %g", f[0], lo[i],
                            hi[i]);
    } else if (islog[i] && lo[i] <= 0.0) {
      rc = kv_config_errorf(cfg, "sweep.vary",
                            "%s: a log range must be positive (lo = %g, hi = "
                            "%g runs through 0)",
                            f[0], lo[i], hi[i]);
    }
  }
  if (rc == KV_OK && n == 0) {
    rc = kv_config_errorf(cfg, "sweep.vary", "no keys to vary");
  }
  if (rc == KV_OK && s->method == M_SOBOL && n > KV_SOBOL_MAXDIM) {
    rc = kv_config_errorf(cfg, "sweep.vary", "sobol supports at most %d keys", KV_SOBOL_MAXDIM);
  }
  if (rc == KV_OK && !(u = malloc((size_t)samples * (size_t)n * sizeof *u))) {
    rc = KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory for %ld samples", samples);
  }
  if (rc == KV_OK) {
    rc = s->method == M_LHS ? kv_sample_lhs(samples, n, (unsigned long)seed, u)
                            : kv_sample_sobol(samples, n, (unsigned long)seed, u);
  }
  if (rc == KV_OK) {
    rc = alloc_values(s, samples);
  }
  for (long c = 0; rc == KV_OK && c < samples; c++) {
    for (int i = 0; i < n && rc == KV_OK; i++) {
      double v = kv_sample_map(u[c * n + i], lo[i], hi[i], islog[i]);
      char buf[64];
      if (isint[i]) {
        snprintf(buf, sizeof buf, "%.0f", floor(v + 0.5) > hi[i] ? floor(hi[i]) : floor(v + 0.5));
      } else {
        snprintf(buf, sizeof buf, "%.17g", v); /* round-trips exactly */
      }
      rc = set_value(s, c, i, buf);
    }
  }
  if (rc == KV_OK) {
    s->lo = lo;
    s->hi = hi;
    s->islog = islog;
    lo = hi = NULL, islog = NULL;
  }
  free(u);
  free(lo);
  free(hi);
  free(islog);
  free(isint);
  free_strings(items, n);
  return rc;
}

int kv_sweep_range(const kv_sweep *s, int v, double *lo, double *hi, int *islog) {
  if (!s->lo || v < 0 || v >= s->nvars) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "sweep: a %s sweep has no ranges (lhs and sobol do)",
                    method_names[s->method]);
  }
  *lo = s->lo[v];
  *hi = s->hi[v];
  *islog = s->islog[v];
  return KV_OK;
}

static int make_list(kv_sweep *s, const kv_config *cfg) {
  const char *path;
  if (!kv_config_has(cfg, "sweep.cases")) {
    return kv_config_errorf(cfg, "sweep.cases", "list needs a CSV file of cases");
  }
  KV_CHECK(kv_config_get_string(cfg, "sweep.cases", &path));
  FILE *f = fopen(path, "r");
  if (!f) {
    return kv_config_errorf(cfg, "sweep.cases", "cannot read '%s'", path);
  }
  char line[16384];
  int rc = KV_OK, lineno = 0, header = 0;
  long rows = 0, cap = 0;
  char **vals = NULL;
  while (rc == KV_OK && fgets(line, sizeof line, f)) {
    lineno++;
    char *t = kv_table_trim(line);
    if (!*t || *t == '#') {
      continue;
    }
    char *fld[1024];
    int nf = kv_table_split_line(t, fld, 1024);
    if (!header) {
      for (int k = 0; k < nf && rc == KV_OK; k++) {
        char *key = kv_table_trim(fld[k]);
        rc = *key ? add_var(s, cfg, "sweep.cases", key)
                  : kv_config_errorf(cfg, "sweep.cases", "%s:%d: empty column name in the header",
                                     path, lineno);
      }
      header = 1;
      continue;
    }
    if (rows == cap) {
      cap = cap ? 2 * cap : 16;
      char **nv = realloc(vals, (size_t)cap * (size_t)s->nvars * sizeof *nv);
      if (!nv) {
        rc = KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
        break;
      }
      vals = nv;
    }
    int k = 0;
    for (; k < nf && k < s->nvars && rc == KV_OK; k++) {
      char *v = kv_table_trim(fld[k]);
      if (!*v) {
        rc = kv_config_errorf(cfg, "sweep.cases", "%s:%d: empty value for %s", path, lineno,
                              s->vars[k]);
      }
      vals[rows * s->nvars + k] = strndup(v, strlen(v));
    }
    if (rc == KV_OK) {
      k = nf;
    }
    if (rc == KV_OK && k != s->nvars) {
      for (int j = 0; j < k && j < s->nvars; j++) {
        free(vals[rows * s->nvars + j]);
      }
      rc = kv_config_errorf(cfg, "sweep.cases", "%s:%d: %d values for %d keys", path, lineno, k,
                            s->nvars);
      break;
    }
    long *nl = realloc(s->lines, (size_t)(rows + 1) * sizeof *nl);
    if (!nl) {
      rc = KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
      break;
    }
    s->lines = nl;
    s->lines[rows] = lineno;
    rows++;
  }
  fclose(f);
  if (rc == KV_OK && !header) {
    rc = kv_config_errorf(cfg, "sweep.cases", "'%s' is empty (expected a header of config keys)",
                          path);
  } else if (rc == KV_OK && rows == 0) {
    rc = kv_config_errorf(cfg, "sweep.cases", "'%s' has a header but no cases", path);
  }
  if (rc == KV_OK) {
    s->ncases = rows;
    s->values = vals;
    snprintf(s->csv, sizeof s->csv, "%s", path);
  } else {
    free_strings(vals, rows * s->nvars);
  }
  return rc;
}

static int make_ensemble(kv_sweep *s, const kv_config *cfg) {
  const kv_config_key *tables[5];
  const kv_model_type *type;
  case_tables(cfg, tables, &type);
  long members, seed;
  int rc = KV_OK;
  KV_CHECK(kv_config_get_int(cfg, "sweep.members", 1, KV_SWEEP_MAX_CASES, &members));
  KV_CHECK(kv_config_get_int(cfg, "sweep.seed", 0, 4294967295L, &seed));
  if (!type || !type->seed_key) {
    return kv_config_errorf(cfg, "sweep.method",
                            "an ensemble varies the model's random seed, "
                            "and model %s has none",
                            type ? type->name : "?");
  }
  char **scen = NULL;
  int nscen = 0;
  if (kv_config_has(cfg, "sweep.scenarios")) {
    if (!type->scenario_key) {
      return kv_config_errorf(cfg, "sweep.scenarios", "model %s has no scenario key", type->name);
    }
    const char *text;
    KV_CHECK(kv_config_get_string(cfg, "sweep.scenarios", &text));
    char *buf = strndup(text, strlen(text));
    for (char *tok = buf; buf && tok;) {
      char *comma = strchr(tok, ',');
      if (comma) {
        *comma = '\0';
      }
      char *t = kv_table_trim(tok);
      if (!*t) {
        free(buf);
        free_strings(scen, nscen);
        return kv_config_errorf(cfg, "sweep.scenarios", "empty scenario name in the list");
      }
      char **ns = realloc(scen, (size_t)(nscen + 1) * sizeof *ns);
      if (!ns) {
        break;
      }
      scen = ns;
      scen[nscen++] = strndup(t, strlen(t));
      tok = comma ? comma + 1 : NULL;
    }
    free(buf);
    KV_TRY(add_var(s, cfg, "sweep.scenarios", type->scenario_key));
  }
  rc = add_var(s, cfg, "sweep.method", type->seed_key);
  long nsc = nscen ? nscen : 1;
  if (rc == KV_OK) {
    rc = alloc_values(s, nsc * members);
  }
  /* Scenario-major, member-minor: adding members to one scenario does not renumber the rest only
   * when it is the last; the numbering is documented as (scenario index) * members + member. */
  for (long c = 0; rc == KV_OK && c < nsc * members; c++) {
    char buf[32];
    snprintf(buf, sizeof buf, "%ld", seed + c % members);
    if (nscen) {
      rc = set_value(s, c, 0, scen[c / members]);
    }
    if (rc == KV_OK) {
      rc = set_value(s, c, s->nvars - 1, buf);
    }
  }
cleanup:
  free_strings(scen, nscen);
  return rc;
}

/* ------------------------------------------------------------------ create */

static void stem_of(const char *path, char *buf, size_t n) {
  const char *b = strrchr(path, '/');
  b = b ? b + 1 : path;
  const char *dot = strrchr(b, '.');
  size_t len = dot && dot > b ? (size_t)(dot - b) : strlen(b);
  snprintf(buf, n, "%.*s", (int)len, b);
}

/* Keys naming a file a case writes besides its output. */
static const char *const written_paths[] = {"heat.fft_wisdom", NULL};

/* A varied value of a key in written_paths: a relative name that stays inside the sweep
 * directory, where it is put (into out, size n). */
static int inside_dir(const kv_sweep *s, long c, const char *key, const char *v, char *out,
                      size_t n) {
  int up = v[0] == '/' || !strcmp(v, "..") || !strncmp(v, "../", 3) || strstr(v, "/../") ||
           (strlen(v) >= 3 && !strcmp(v + strlen(v) - 3, "/.."));
  if (up || !v[0]) {
    return KV_ERROR(KV_ERR_CONFIG,
                    "sweep case %ld: %s = '%s': a file a case writes must be a relative name "
                    "inside the sweep directory %s (no '..', not absolute)",
                    c, key, v, s->dir);
  }
  snprintf(out, n, "%s/%s", s->dir, v);
  return KV_OK;
}

static int case_config(const kv_sweep *s, long c, int check, kv_config **out) {
  kv_config *cc = NULL;
  KV_CHECK(kv_config_clone(s->base, &cc));
  char tag[64], path[4200];
  snprintf(tag, sizeof tag, "sweep case %ld", c);
  int rc = KV_OK;
  for (int v = 0; v < s->nvars && rc == KV_OK; v++) {
    const char *val = kv_sweep_value(s, c, v);
    for (int k = 0; written_paths[k] && rc == KV_OK; k++) {
      if (!strcmp(s->vars[v], written_paths[k])) {
        rc = inside_dir(s, c, s->vars[v], val, path, sizeof path);
        val = path;
      }
    }
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(cc, s->vars[v], val, tag);
    }
  }
  kv_sweep_case_path(s, c, path, sizeof path);
  if (rc == KV_OK) {
    rc = kv_config_set_tagged(cc, "run.output", path, tag);
  }
  if (rc == KV_OK) {
    rc = kv_config_set_tagged(cc, "run.overwrite", "true", tag);
  }
  if (rc == KV_OK && check) {
    rc = kv_run_validate(cc);
  }
  if (rc != KV_OK) {
    kv_config_free(cc);
    return rc;
  }
  *out = cc;
  return KV_OK;
}

int kv_sweep_create(const kv_config *cfg, kv_sweep **out) {
  *out = NULL;
  kv_sweep *s = calloc(1, sizeof *s);
  kv_config *full = NULL;
  if (!s) {
    return KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
  }
  snprintf(s->source, sizeof s->source, "%s", kv_config_source(cfg));
  int rc = kv_config_clone(cfg, &full);
  /* The same file may describe the surrogate trained on the sweep: not the sweep's business. */
  for (int i = 0; rc == KV_OK && kv_eval_driver_sections[i]; i++) {
    kv_config_remove_section(full, kv_eval_driver_sections[i]);
  }
  /* The whole file first: [run], the model's section and [sweep]. */
  if (rc == KV_OK) {
    const kv_config_key *tables[5];
    const kv_model_type *type;
    case_tables(full, tables, &type);
    if (!type) {
      rc = kv_config_errorf(full, "run.model", "expected one of %s", kv_model_names());
    } else {
      int t = 1;
      while (tables[t]) {
        t++; /* after the model's (and a wrapped model's) keys */
      }
      tables[t] = kv_sweep_keys;
      tables[t + 1] = NULL;
      rc = kv_config_validate(full, tables);
    }
  }
  if (rc == KV_OK && !kv_config_has(full, "sweep.method")) {
    rc = kv_config_errorf(full, "sweep.method",
                          "a sweep needs [sweep] method = grid | list | "
                          "lhs | sobol | ensemble");
  }
  if (rc == KV_OK) {
    rc = kv_config_get_enum(full, "sweep.method", "grid|list|lhs|sobol|ensemble", &s->method);
  }
  /* Keys that the chosen method would silently ignore are mistakes. */
  static const struct {
    const char *key;
    unsigned methods;
  } used[] = {{"sweep.vary", 1u << M_GRID | 1u << M_LHS | 1u << M_SOBOL},
              {"sweep.cases", 1u << M_LIST},
              {"sweep.samples", 1u << M_LHS | 1u << M_SOBOL},
              {"sweep.members", 1u << M_ENSEMBLE},
              {"sweep.scenarios", 1u << M_ENSEMBLE}};
  for (size_t i = 0; rc == KV_OK && i < sizeof used / sizeof used[0]; i++) {
    if (kv_config_given(cfg, used[i].key) && !(used[i].methods & (1u << s->method))) {
      rc = kv_config_errorf(cfg, used[i].key, "not used by method = %s", method_names[s->method]);
    }
  }
  long rpc = 1;
  const kv_model_type *mt = NULL; /* a model whose runs want several ranks sets the default */
  if (rc == KV_OK && kv_model_type_of(full, &mt) == KV_OK) {
    int own = mt->ranks_key && !kv_config_given(cfg, "sweep.ranks_per_case");
    rc = kv_config_get_int(full, own ? mt->ranks_key : "sweep.ranks_per_case", 1, 1000000, &rpc);
  }
  s->ranks_per_case = (int)rpc;
  if (rc == KV_OK) {
    const char *v;
    char name[512];
    if ((v = kv_config_value(full, "sweep.name"))) {
      snprintf(name, sizeof name, "%s", v);
    } else {
      stem_of(s->source, name, sizeof name);
    }
    if (!name[0] || strchr(name, '/') || !strcmp(name, ".") || !strcmp(name, "..")) {
      rc = kv_config_errorf(full, "sweep.name",
                            "expected a plain name (no '/', not '.' or '..': the sweep would "
                            "write into runs/ itself or above it); use sweep.dir for a path");
    }
    if ((v = kv_config_value(full, "sweep.dir"))) {
      snprintf(s->dir, sizeof s->dir, "%s", v);
    } else {
      snprintf(s->dir, sizeof s->dir, "runs/%s", name);
    }
  }
  if (rc == KV_OK) {
    switch (s->method) {
    case M_GRID:
      rc = make_grid(s, full);
      break;
    case M_LIST:
      rc = make_list(s, full);
      break;
    case M_LHS:
    case M_SOBOL:
      rc = make_sampled(s, full);
      break;
    default:
      rc = make_ensemble(s, full);
      break;
    }
  }
  if (rc == KV_OK) {
    s->base = full;
    full = NULL;
    kv_config_remove_section(s->base, "sweep");
    kv_config_remove_section(s->base, "slurm");
  }
  /* Every case's configuration is checked now, so a bad value fails before any case runs. */
  for (long c = 0; rc == KV_OK && c < s->ncases; c++) {
    kv_config *cc = NULL;
    rc = case_config(s, c, 1, &cc);
    kv_config_free(cc);
    if (rc != KV_OK) {
      /* Point at the line that made the value, then say what is wrong with it. */
      char msg[1024];
      snprintf(msg, sizeof msg, "%s", kv_error_message());
      const char *key = s->method == M_LIST       ? "sweep.cases"
                        : s->method == M_ENSEMBLE ? "sweep.method"
                                                  : "sweep.vary";
      if (s->lines) { /* the CSV line that made the case */
        rc = kv_config_errorf(cfg, key, "%s:%ld: %s", s->csv, s->lines[c], msg);
      } else {
        rc = kv_config_errorf(cfg, key, "%s", msg);
      }
    }
  }
  kv_config_free(full);
  if (rc != KV_OK) {
    kv_sweep_free(s);
    return rc;
  }
  *out = s;
  return KV_OK;
}

void kv_sweep_free(kv_sweep *s) {
  if (!s) {
    return;
  }
  kv_config_free(s->base);
  free_strings(s->values, s->ncases * s->nvars);
  free_strings(s->vars, s->nvars);
  free(s->lines);
  free(s->lo);
  free(s->hi);
  free(s->islog);
  free(s);
}

long kv_sweep_ncases(const kv_sweep *s) {
  return s->ncases;
}
int kv_sweep_nvars(const kv_sweep *s) {
  return s->nvars;
}
const char *kv_sweep_var(const kv_sweep *s, int v) {
  return s->vars[v];
}
const char *kv_sweep_value(const kv_sweep *s, long c, int v) {
  return s->values[c * s->nvars + v];
}
const char *kv_sweep_dir(const kv_sweep *s) {
  return s->dir;
}
const char *kv_sweep_method(const kv_sweep *s) {
  return method_names[s->method];
}
int kv_sweep_ranks_per_case(const kv_sweep *s) {
  return s->ranks_per_case;
}
const char *kv_sweep_source(const kv_sweep *s) {
  return s->source;
}

void kv_sweep_case_path(const kv_sweep *s, long c, char *buf, size_t n) {
  kv_sweep_case_path_in(s->dir, c, buf, n);
}

void kv_sweep_case_path_in(const char *dir, long c, char *buf, size_t n) {
  snprintf(buf, n, "%s/case_%04ld.h5", dir, c);
}

int kv_sweep_case_config(const kv_sweep *s, long c, kv_config **out) {
  if (c < 0 || c >= s->ncases) {
    return KV_ERROR(KV_ERR_INVALID, "sweep: no case %ld (the design has %ld)", c, s->ncases);
  }
  return case_config(s, c, 1, out);
}

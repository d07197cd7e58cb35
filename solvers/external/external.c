/* The external model: settings, and the model that replays what the simulator returned. */
#define _POSIX_C_SOURCE 200809L /* strdup */
#include "solvers/external/external.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/comm.h"
#include "core/status.h"
#include "io/paramfile.h"
#include "io/table.h"
#include "solvers/external/external_impl.h"

static const kv_config_key keys[] = {
    {"external.command", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "the simulator's command line, run in the case's work directory: words split as by a "
     "shell but with no shell (quotes group, nothing is expanded); {params}, {results}, "
     "{workdir}, {case}, {seed}, {ranks} and {INPUT} are replaced within a word"},
    {"external.shell", KV_CFG_BOOL, "false", NULL, KV_CFG_NORANGE,
     "run the command with /bin/sh -c (pipes, redirections); substituted values are quoted"},
    {"external.inputs", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "the simulator's parameters, comma-separated names; each is the key external.NAME (its value "
     "for a single run; sweeps vary it)"},
    {"external.*", KV_CFG_VALUE, NULL, NULL, KV_CFG_NORANGE,
     "external.NAME: the value of input NAME (one of external.inputs): a number, or a text "
     "passed as it is (a file name, a material; never through a shell)"},
    {"external.responses", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "the scalar responses the simulator returns, comma-separated (manifest columns)"},
    {"external.fields", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "fields the simulator returns in a netCDF/HDF5 results file, comma-separated (e.g. T, tas)"},
    {"external.results", KV_CFG_STRING, "results.out", NULL, KV_CFG_NORANGE,
     "the results files in the work directory, comma-separated: text (name value, Dakota's "
     "value name), .csv, .json, or .nc/.h5 for fields and scalar variables"},
    {"external.params_file", KV_CFG_STRING, "params.in", NULL, KV_CFG_NORANGE,
     "the parameters file written in the work directory"},
    {"external.params_format", KV_CFG_ENUM, "dakota", "ini|json|dakota", KV_CFG_NORANGE,
     "its format (dakota: Dakota's standard parameters file)"},
    {"external.templates", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "input files made per case: SRC -> DEST, comma-separated; {NAME} or {NAME:.6e} in SRC is "
     "replaced by an input's value"},
    {"external.link_files", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "files or directories linked into every work directory, comma-separated"},
    {"external.workdir", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "the run's work directory (default: work/<output stem> beside run.output, e.g. "
     "<sweep.dir>/work/case_0007)"},
    {"external.keep_workdirs", KV_CFG_ENUM, "failed", "failed|true|false", KV_CFG_NORANGE,
     "keep the work directories of failed runs only, of all, or of none"},
    {"external.timeout", KV_CFG_DOUBLE, "0", NULL, 0.0, INFINITY,
     "seconds a run may take (0: no limit); past it the simulator and all it started are "
     "stopped and the run fails"},
    {"external.grace", KV_CFG_DOUBLE, "2", NULL, 0.0, 3600.0,
     "seconds between SIGTERM and SIGKILL when a run is stopped"},
    {"external.retries", KV_CFG_INT, "0", NULL, 0, 100, "attempts more after a failed run"},
    {"external.ranks", KV_CFG_INT, "1", NULL, 1, 1000000,
     "MPI processes of the simulator, started by external.launcher; a sweep gives each case as "
     "many of its ranks"},
    {"external.launcher", KV_CFG_STRING, "auto", NULL, KV_CFG_NORANGE,
     "how an MPI simulator starts (auto: srun --ntasks={ranks} --exact inside a Slurm job, else "
     "mpirun -n {ranks})"},
    {"external.seed", KV_CFG_INT, "0", NULL, 0, 4294967295.0,
     "the run's seed (KELVIN_SEED; what an ensemble varies)"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

/* A comma-separated list of texts (paths) into out. */
static int text_list(const kv_config *cfg, const char *key, int max, size_t len, char *out,
                     int *n) {
  *n = 0;
  const char *v = kv_config_value(cfg, key);
  char buf[8192];
  snprintf(buf, sizeof buf, "%s", v ? v : "");
  char *save = NULL;
  for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    t = kv_table_trim(t);
    if (!*t) {
      continue;
    }
    if (*n >= max || strlen(t) >= len) {
      return kv_config_errorf(cfg, key, "at most %d entries of %zu characters", max, len - 1);
    }
    snprintf(out + (size_t)(*n)++ * len, len, "%s", t);
  }
  return KV_OK;
}

/* A comma-separated list of names into out: identifiers, each once. */
static int name_list(const kv_config *cfg, const char *key, int max, char (*out)[64], int *n) {
  KV_CHECK(text_list(cfg, key, max, sizeof out[0], out[0], n));
  for (int k = 0; k < *n; k++) {
    const char *t = out[k];
    int ok = isalpha((unsigned char)*t) || *t == '_';
    for (const char *c = t; ok && *c; c++) {
      ok = isalnum((unsigned char)*c) || *c == '_';
    }
    if (!ok) {
      return kv_config_errorf(cfg, key, "'%s' is not a name (letters, digits and _)", t);
    }
    for (int q = 0; q < k; q++) {
      if (!strcmp(out[q], t)) {
        return kv_config_errorf(cfg, key, "'%s' appears twice", t);
      }
    }
  }
  return KV_OK;
}

/* A file name inside the work directory: relative, without "..". */
static int inside(const kv_config *cfg, const char *key, const char *name) {
  if (name[0] == '/' || !strcmp(name, "..") || !strncmp(name, "../", 3) || strstr(name, "/../") ||
      (strlen(name) >= 3 && !strcmp(name + strlen(name) - 3, "/.."))) {
    return kv_config_errorf(cfg, key, "'%s' must name a file inside the work directory", name);
  }
  return KV_OK;
}

int kv_external_params_from_config(const kv_config *cfg, kv_external_params *p) {
  memset(p, 0, sizeof *p);
  const char *s;
  KV_CHECK(kv_config_get_string(cfg, "external.command", &s));
  snprintf(p->command, sizeof p->command, "%s", s);
  KV_CHECK(kv_config_get_bool(cfg, "external.shell", &p->shell));
  if (!kv_config_has(cfg, "external.inputs")) {
    return kv_config_errorf(cfg, "external.inputs", "this key is required (the input names)");
  }
  KV_CHECK(name_list(cfg, "external.inputs", KV_EXT_MAX_INPUTS, p->input, &p->ninputs));
  KV_CHECK(name_list(cfg, "external.responses", KV_EXT_MAX_RESPONSES, p->resp, &p->nresp));
  KV_CHECK(name_list(cfg, "external.fields", KV_EXT_MAX_FIELDS, p->field, &p->nfields));
  if (p->ninputs == 0) {
    return kv_config_errorf(cfg, "external.inputs", "expected at least one input name");
  }
  if (p->nresp + p->nfields == 0) {
    return kv_config_errorf(cfg, "external.responses",
                            "expected the responses (or external.fields) the simulator returns");
  }
  static const char *const reserved[] = {
      "inputs",        "responses",     "fields",  "command", "results",    "templates",
      "workdir",       "seed",          "timeout", "retries", "ranks",      "shell",
      "launcher",      "grace",         "case",    "params",  "link_files", "params_file",
      "params_format", "keep_workdirs", NULL};
  for (int i = 0; i < p->ninputs; i++) {
    for (int k = 0; reserved[k]; k++) {
      if (!strcmp(p->input[i], reserved[k])) {
        return kv_config_errorf(cfg, "external.inputs",
                                "'%s' is a setting of [external]; name the input otherwise",
                                p->input[i]);
      }
    }
    char key[96];
    snprintf(key, sizeof key, "external.%s", p->input[i]);
    if (!kv_config_has(cfg, key)) {
      return kv_config_errorf(cfg, "external.inputs",
                              "input '%s' has no value: set %s (or vary it in [sweep])",
                              p->input[i], key);
    }
    const char *txt = kv_config_value(cfg, key);
    char *end;
    if (strlen(txt) >= sizeof p->text[i]) {
      return kv_config_errorf(cfg, key, "expected at most %zu characters", sizeof p->text[i] - 1);
    }
    snprintf(p->text[i], sizeof p->text[i], "%s", txt);
    p->value[i] = strtod(txt, &end);
    if (end == txt || *end || !isfinite(p->value[i])) {
      p->value[i] = NAN; /* a text input */
    }
  }
  for (int r = 0; r < p->nresp; r++) {
    for (int i = 0; i < p->ninputs; i++) {
      if (!strcmp(p->resp[r], p->input[i])) {
        return kv_config_errorf(cfg, "external.responses", "'%s' is an input too", p->resp[r]);
      }
    }
    if (!strcmp(p->resp[r], "case") || !strcmp(p->resp[r], "time")) {
      return kv_config_errorf(cfg, "external.responses", "'%s' is a name kelvin uses", p->resp[r]);
    }
  }
  KV_CHECK(text_list(cfg, "external.results", KV_EXT_MAX_FILES, sizeof p->results[0], p->results[0],
                     &p->nresults));
  for (int f = 0; f < p->nresults; f++) {
    KV_CHECK(inside(cfg, "external.results", p->results[f]));
  }
  KV_CHECK(kv_config_get_string(cfg, "external.params_file", &s));
  snprintf(p->params_file, sizeof p->params_file, "%s", s);
  KV_CHECK(inside(cfg, "external.params_file", p->params_file));
  KV_CHECK(kv_config_get_enum(cfg, "external.params_format", "ini|json|dakota", &p->params_format));
  char tm[KV_EXT_MAX_FILES][1600];
  int nt = 0;
  KV_CHECK(text_list(cfg, "external.templates", KV_EXT_MAX_FILES, sizeof tm[0], tm[0], &nt));
  for (int t = 0; t < nt; t++) {
    char *arrow = strstr(tm[t], "->");
    if (!arrow) {
      return kv_config_errorf(cfg, "external.templates", "'%s': expected SRC -> DEST", tm[t]);
    }
    char *a = tm[t], *b = arrow + 2;
    *arrow = '\0';
    while (arrow > a && isspace((unsigned char)arrow[-1])) {
      *--arrow = '\0';
    }
    while (isspace((unsigned char)*b)) {
      b++;
    }
    if (!*a || !*b) {
      return kv_config_errorf(cfg, "external.templates", "expected SRC -> DEST");
    }
    KV_CHECK(inside(cfg, "external.templates", b));
    snprintf(p->tmpl_src[t], sizeof p->tmpl_src[t], "%.1023s", a);
    snprintf(p->tmpl_dst[t], sizeof p->tmpl_dst[t], "%.511s", b);
  }
  p->ntemplates = nt;
  KV_CHECK(text_list(cfg, "external.link_files", KV_EXT_MAX_FILES, sizeof p->link[0], p->link[0],
                     &p->nlinks));
  KV_CHECK(kv_config_get_enum(cfg, "external.keep_workdirs", "failed|true|false", &p->keep));
  KV_CHECK(kv_config_get_double(cfg, "external.timeout", 0.0, INFINITY, &p->timeout));
  KV_CHECK(kv_config_get_double(cfg, "external.grace", 0.0, 3600.0, &p->grace));
  KV_CHECK(kv_config_get_int(cfg, "external.retries", 0, 100, &p->retries));
  KV_CHECK(kv_config_get_int(cfg, "external.ranks", 1, 1000000, &p->ranks));
  KV_CHECK(kv_config_get_int(cfg, "external.seed", 0, 4294967295L, &p->seed));
  KV_CHECK(kv_config_get_string(cfg, "external.launcher", &s));
  snprintf(p->launcher, sizeof p->launcher, "%s", s);
  /* The work directory and the case number follow from the output: <dir>/work/<stem>. */
  const char *out;
  KV_CHECK(kv_config_get_string(cfg, "run.output", &out));
  const char *slash = strrchr(out, '/'), *base = slash ? slash + 1 : out;
  size_t stem = strlen(base);
  if (stem > 3 && !strcmp(base + stem - 3, ".h5")) {
    stem -= 3;
  }
  if ((s = kv_config_value(cfg, "external.workdir"))) {
    snprintf(p->workdir, sizeof p->workdir, "%s", s);
  } else {
    snprintf(p->workdir, sizeof p->workdir, "%.*swork/%.*s", slash ? (int)(base - out) : 0, out,
             (int)stem, base);
  }
  char *end;
  if (!strncmp(base, "case_", 5)) {
    long c = strtol(base + 5, &end, 10);
    p->case_id = end != base + 5 && !strcmp(end, ".h5") ? c : 0;
  }
  return KV_OK;
}

int kv_external_responses(const kv_config *cfg, char *buf, size_t n) {
  char r[KV_EXT_MAX_RESPONSES][64];
  int nr = 0;
  KV_CHECK(name_list(cfg, "external.responses", KV_EXT_MAX_RESPONSES, r, &nr));
  buf[0] = '\0';
  for (int k = 0; k < nr; k++) {
    size_t l = strlen(buf);
    snprintf(buf + l, n - l, "%s%s", k ? "," : "", r[k]);
  }
  return KV_OK;
}

static int ext_check(const kv_config *cfg) {
  kv_external_params *p = malloc(sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  int rc = kv_external_params_from_config(cfg, p);
  /* Every external.NAME that is no setting of the table must be a declared input. */
  for (int i = 0; rc == KV_OK && kv_config_key_at(cfg, i); i++) {
    const char *k = kv_config_key_at(cfg, i);
    if (strncmp(k, "external.", 9) != 0) {
      continue;
    }
    const kv_config_key *e = kv_config_key_find((const kv_config_key *const[]){keys, NULL}, k);
    int declared = 0;
    for (int j = 0; j < p->ninputs; j++) {
      declared |= !strcmp(k + 9, p->input[j]);
    }
    if (e && !strcmp(e->key, "external.*") && !declared) {
      rc = kv_config_errorf(cfg, k,
                            "unknown key: neither a setting of [external] nor one of "
                            "external.inputs (%s)",
                            kv_config_value(cfg, "external.inputs"));
    }
  }
  free(p);
  return rc;
}

/* ------------------------------------------------------------------ the model */

typedef struct {
  kv_model base;
  MPI_Comm comm;
  kv_grid *grid;
  int nresp, nfields;
  char resp[KV_EXT_MAX_RESPONSES][64];
  double value[KV_EXT_MAX_RESPONSES];
  char field[KV_EXT_MAX_FIELDS][64], units[KV_EXT_MAX_FIELDS][64];
  char long_name[KV_EXT_MAX_FIELDS][256];
  kv_field *f[KV_EXT_MAX_FIELDS];
  double *data; /* nfields x nrec x npts: every record of every field (global)            */
  long nrec, rec, npts;
  double *times; /* nrec time stamps                                                     */
  char time_units[128], calendar[32];
  int ndims;
  long n[3];
  char axname[3][64], axunits[3][128], axstd[3][64], axletter[3][4];
  double *coord[3];
  kv_h5_axis axes[3];
  double wall;
  char summary[256];
} ext;

static void ext_free(kv_model *base) {
  ext *m = (ext *)base;
  if (!m) {
    return;
  }
  for (int q = 0; q < KV_EXT_MAX_FIELDS; q++) {
    kv_field_free(m->f[q]);
  }
  kv_grid_free(m->grid);
  free(m->data);
  free(m->times);
  for (int d = 0; d < 3; d++) {
    free(m->coord[d]);
  }
  free(m);
}

/* Whether dimension d of v is time: named so, CF axis T, or units "<unit> since <date>". */
static int is_time(const kv_nc_var *v, int d) {
  return !strcmp(v->dimname[d], "time") || !strcmp(v->coord_axis[d], "T") ||
         strstr(v->coord_units[d], " since ") != NULL;
}

/* Rank 0: the shape of the returned fields (the same for all), their records and coordinates. */
static int take_fields(ext *m, kv_ext_outcome *o) {
  const kv_nc_var *v0 = &o->var[0];
  int t = v0->ndims > 0 && is_time(v0, 0);
  m->ndims = v0->ndims - t;
  if (m->ndims > 3) {
    return KV_ERROR(KV_ERR_FORMAT,
                    "field '%s' has %d space dimensions (%s, ...); kelvin's fields have at most 3",
                    v0->name, m->ndims, v0->dimname[t]);
  }
  m->nrec = t ? v0->dims[0] : 1;
  m->npts = 1;
  for (int k = 0; k < m->ndims; k++) {
    int d = v0->ndims - 1 - k; /* axis 0 (x) is the last, fastest dimension */
    m->n[k] = v0->dims[d];
    m->npts *= m->n[k];
    snprintf(m->axname[k], sizeof m->axname[k], "%s", v0->dimname[d]);
    snprintf(m->axunits[k], sizeof m->axunits[k], "%s", v0->coord_units[d]);
    snprintf(m->axstd[k], sizeof m->axstd[k], "%s", v0->coord_std[d]);
    snprintf(m->axletter[k], sizeof m->axletter[k], "%s",
             v0->coord_axis[d][0] ? v0->coord_axis[d] : (const char *[]){"X", "Y", "Z"}[k]);
    m->coord[k] = malloc((size_t)m->n[k] * sizeof *m->coord[k]);
    if (!m->coord[k]) {
      return KV_ERROR(KV_ERR_NOMEM, "out of memory");
    }
    for (long i = 0; i < m->n[k]; i++) {
      m->coord[k][i] = v0->coord[d] ? v0->coord[d][i] : (double)i;
    }
  }
  if (m->ndims == 0) { /* a single value per record: one cell */
    m->ndims = 1;
    m->n[0] = 1;
    snprintf(m->axname[0], sizeof m->axname[0], "point");
    m->coord[0] = calloc(1, sizeof *m->coord[0]);
  }
  m->times = malloc((size_t)m->nrec * sizeof *m->times);
  m->data = malloc((size_t)m->nfields * (size_t)m->nrec * (size_t)m->npts * sizeof *m->data);
  if (!m->times || !m->data || !m->coord[0]) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory for the fields of the simulator");
  }
  for (long r = 0; r < m->nrec; r++) {
    m->times[r] = t && v0->coord[0] ? v0->coord[0][r] : (double)(r + 1);
  }
  if (t) {
    snprintf(m->time_units, sizeof m->time_units, "%s", v0->coord_units[0]);
    snprintf(m->calendar, sizeof m->calendar, "%s", v0->calendar[0]);
  }
  for (int q = 0; q < m->nfields; q++) {
    const kv_nc_var *v = &o->var[q];
    int same = v->ndims == v0->ndims;
    for (int d = 0; same && d < v->ndims; d++) {
      same = v->dims[d] == v0->dims[d];
    }
    if (!same) {
      return KV_ERROR(KV_ERR_FORMAT, "fields '%s' and '%s' differ in shape: they must share a grid",
                      v0->name, v->name);
    }
    memcpy(m->data + (size_t)q * (size_t)m->nrec * (size_t)m->npts, v->data,
           (size_t)m->nrec * (size_t)m->npts * sizeof *m->data);
    snprintf(m->units[q], sizeof m->units[q], "%s", v->units[0] ? v->units : "1");
    snprintf(m->long_name[q], sizeof m->long_name[q], "%s",
             v->long_name[0] ? v->long_name : "field of the external simulator");
  }
  return KV_OK;
}

/* Share rank 0's results with the run's other ranks. */
static int share(ext *m) {
  long hdr[8] = {m->nrec, m->npts, m->ndims, m->n[0], m->n[1], m->n[2], 0, 0};
  kv_comm_bcast(hdr, 8, MPI_LONG, 0, m->comm);
  kv_comm_bcast(m->value, KV_EXT_MAX_RESPONSES, MPI_DOUBLE, 0, m->comm);
  if (m->nfields == 0) {
    return KV_OK;
  }
  int rank = kv_comm_rank(m->comm);
  if (rank != 0) {
    m->nrec = hdr[0];
    m->npts = hdr[1];
    m->ndims = (int)hdr[2];
    for (int k = 0; k < 3; k++) {
      m->n[k] = hdr[3 + k];
    }
    m->times = malloc((size_t)m->nrec * sizeof *m->times);
    m->data = malloc((size_t)m->nfields * (size_t)m->nrec * (size_t)m->npts * sizeof *m->data);
    for (int k = 0; k < m->ndims; k++) {
      m->coord[k] = malloc((size_t)m->n[k] * sizeof *m->coord[k]);
    }
  }
  int ok = m->times && m->data && m->coord[0] && (m->ndims < 2 || m->coord[1]) &&
           (m->ndims < 3 || m->coord[2]);
  KV_CHECK(kv_status_agree(m->comm, ok ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory")));
  kv_comm_bcast(m->times, (int)m->nrec, MPI_DOUBLE, 0, m->comm);
  kv_comm_bcast(m->data, (int)(m->nfields * m->nrec * m->npts), MPI_DOUBLE, 0, m->comm);
  for (int k = 0; k < m->ndims; k++) {
    kv_comm_bcast(m->coord[k], (int)m->n[k], MPI_DOUBLE, 0, m->comm);
    kv_comm_bcast(m->axname[k], (int)sizeof m->axname[k], MPI_CHAR, 0, m->comm);
    kv_comm_bcast(m->axunits[k], (int)sizeof m->axunits[k], MPI_CHAR, 0, m->comm);
    kv_comm_bcast(m->axstd[k], (int)sizeof m->axstd[k], MPI_CHAR, 0, m->comm);
    kv_comm_bcast(m->axletter[k], (int)sizeof m->axletter[k], MPI_CHAR, 0, m->comm);
  }
  kv_comm_bcast(m->time_units, (int)sizeof m->time_units, MPI_CHAR, 0, m->comm);
  kv_comm_bcast(m->calendar, (int)sizeof m->calendar, MPI_CHAR, 0, m->comm);
  kv_comm_bcast(m->units, (int)sizeof m->units, MPI_CHAR, 0, m->comm);
  kv_comm_bcast(m->long_name, (int)sizeof m->long_name, MPI_CHAR, 0, m->comm);
  return KV_OK;
}

static int ext_create(MPI_Comm comm, const kv_config *cfg, kv_model **out) {
  *out = NULL;
  ext *m = calloc(1, sizeof *m);
  kv_external_params *p = malloc(sizeof *p);
  kv_ext_outcome *o = calloc(1, sizeof *o);
  int rc = m && p && o ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) {
    m->base.type = &kv_external_type;
    rc = kv_external_params_from_config(cfg, p);
  }
  KV_TRY(kv_status_agree(comm, rc));
  m->comm = comm; /* until the grid's own */
  m->nresp = p->nresp;
  m->nfields = p->nfields;
  memcpy(m->resp, p->resp, sizeof m->resp);
  memcpy(m->field, p->field, sizeof m->field);
  int rank = kv_comm_rank(comm), size = kv_comm_size(comm);
  if (m->nfields == 0 && size > 1) {
    rc = KV_ERROR(KV_ERR_USAGE,
                  "the external model returns no field to spread over %d ranks: run kelvin's part "
                  "on one rank (external.ranks starts the simulator's own; a sweep gives each "
                  "case its group)",
                  size);
    goto cleanup;
  }
  if (rank == 0) {
    rc = kv_ext_evaluate(p, o);
    m->wall = o->wall;
    memcpy(m->value, o->resp, sizeof m->value);
    if (rc == KV_OK && m->nfields > 0) {
      rc = take_fields(m, o);
    }
  }
  /* The others wait asleep: the simulator may be using their cores. */
  kv_comm_idle_barrier(comm);
  KV_TRY(kv_status_agree(comm, rc));
  if (m->nfields == 0) {
    m->nrec = 1;
    m->ndims = 1;
    m->n[0] = 1;
    snprintf(m->axname[0], sizeof m->axname[0], "point");
    if (rank == 0) {
      m->times = malloc(sizeof *m->times);
      m->coord[0] = calloc(1, sizeof *m->coord[0]);
      if (m->times) {
        m->times[0] = 1.0;
      }
    }
  }
  KV_TRY(share(m));
  if (m->nfields == 0 && rank != 0) {
    m->times = malloc(sizeof *m->times);
    m->coord[0] = calloc(1, sizeof *m->coord[0]);
    rc = m->times && m->coord[0] ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    if (rc == KV_OK) {
      m->times[0] = 1.0;
    }
  }
  KV_TRY(kv_status_agree(comm, rc));
  kv_grid_params gp;
  kv_grid_params_default(&gp);
  gp.ndims = m->ndims;
  for (int k = 0; k < m->ndims; k++) {
    gp.n[k] = m->n[k];
    gp.length[k] = (double)m->n[k];
    if (!m->axunits[k][0]) {
      snprintf(m->axunits[k], sizeof m->axunits[k], "1");
    }
    if (!m->axletter[k][0]) {
      snprintf(m->axletter[k], sizeof m->axletter[k], "%c", "XYZ"[k]);
    }
    m->axes[k] = (kv_h5_axis){m->axname[k], m->axunits[k],  m->axstd[k][0] ? m->axstd[k] : NULL,
                              m->axname[k], m->axletter[k], m->coord[k]};
  }
  /* Fields are distributed over the run's ranks like any model's (a split along the slowest
   * axis keeps every rank's block contiguous in the file's order). */
  for (int k = 0; k < m->ndims; k++) {
    gp.procs[k] = k == m->ndims - 1 ? 0 : 1;
  }
  if (m->n[m->ndims - 1] < size) {
    gp.procs[m->ndims - 1] = 1;
    for (int k = 0; k < m->ndims; k++) {
      gp.procs[k] = 0;
    }
  }
  long cells = 1;
  for (int k = 0; k < m->ndims; k++) {
    cells *= m->n[k];
  }
  if (cells < size) {
    rc = KV_ERROR(KV_ERR_USAGE,
                  "the external model's results (%ld point%s) cannot be spread over %d ranks: "
                  "run kelvin's part on one rank (external.ranks starts the simulator's own; a "
                  "sweep gives each case its group)",
                  cells, cells == 1 ? "" : "s", size);
    goto cleanup;
  }
  KV_TRY(kv_grid_create(comm, &gp, &m->grid));
  m->comm = kv_grid_comm(m->grid);
  for (int q = 0; q < m->nfields; q++) {
    KV_TRY(kv_field_create(m->grid, &m->f[q]));
  }
  snprintf(m->summary, sizeof m->summary,
           "the simulator ran in %.3f s: %d response%s, %d field%s of %ld points, %ld record%s",
           m->wall, m->nresp, m->nresp == 1 ? "" : "s", m->nfields, m->nfields == 1 ? "" : "s",
           m->nfields ? m->npts : 0L, m->nrec, m->nrec == 1 ? "" : "s");
  *out = &m->base;
  m = NULL;
cleanup:
  if (o) {
    kv_ext_outcome_free(o);
  }
  free(o);
  free(p);
  ext_free(m ? &m->base : NULL);
  return rc;
}

/* Copy record r of field q into the distributed field. */
static void fill(ext *m, int q, long r) {
  const double *src = m->data + ((size_t)q * (size_t)m->nrec + (size_t)r) * (size_t)m->npts;
  kv_field *f = m->f[q];
  const long *nl = kv_grid_local_n(m->grid), *off = kv_grid_offset(m->grid),
             *st = kv_field_stride(f);
  const int *gh = kv_field_ghost(f);
  double *d = kv_field_data(f);
  for (long k = 0; k < nl[2]; k++) {
    for (long j = 0; j < nl[1]; j++) {
      for (long i = 0; i < nl[0]; i++) {
        long gi = off[0] + i, gj = off[1] + j, gk = off[2] + k;
        d[kv_field_index(st, gh, i, j, k)] = src[(gk * m->n[1] + gj) * m->n[0] + gi];
      }
    }
  }
}

static int ext_step(kv_model *base, double *t) {
  ext *m = (ext *)base;
  m->rec++;
  *t = m->times[m->rec - 1];
  return KV_OK;
}

static int ext_state(const kv_model *base, const kv_field **out) {
  const ext *m = (const ext *)base;
  *out = m->nfields ? m->f[0] : NULL;
  return m->nfields ? KV_OK : KV_ERROR(KV_ERR_UNSUPPORTED, "the external model returns no field");
}

static int ext_outputs(kv_model *base, kv_output_list *out) {
  ext *m = (ext *)base;
  long r = m->rec > 0 ? m->rec - 1 : 0;
  out->has_time = 1;
  out->time = m->times[r];
  for (int q = 0; q < m->nfields; q++) {
    fill(m, q, r);
    KV_CHECK(kv_output_add_field(out, m->field[q], m->units[q], m->long_name[q], m->f[q]));
  }
  for (int k = 0; k < m->nresp; k++) {
    KV_CHECK(kv_output_add_scalar(out, m->resp[k], "1", "response of the external simulator",
                                  m->value[k]));
  }
  KV_CHECK(kv_output_add_scalar(out, "diagnostics/simulator_wall_time", "s",
                                "seconds the simulator ran", m->wall));
  out->scalars[out->nscalars - 1].is_volatile = 1;
  return KV_OK;
}

static int ext_info(const kv_model *base, kv_model_info *out) {
  const ext *m = (const ext *)base;
  out->grid = m->grid;
  out->step0 = m->rec;
  out->t0 = m->rec > 0 ? m->times[m->rec - 1] : 0.0;
  out->dt = 1.0;
  out->nsteps = m->nrec;
  out->title = "kelvin external simulator run";
  out->coord_units = "1";
  out->time_units = m->time_units[0] ? m->time_units : "1";
  out->axes = m->axes;
  out->calendar = m->calendar[0] ? m->calendar : NULL;
  out->record_every = 1;
  out->skip_initial = 1;
  out->summary = m->summary;
  return KV_OK;
}

const kv_model_type kv_external_type = {
    .name = "external",
    .seed_key = "external.seed",
    .ranks_key = "external.ranks",
    .keys = keys,
    .create = ext_create,
    .check = ext_check,
    .step = ext_step,
    .state = ext_state,
    .outputs = ext_outputs,
    .info = ext_info,
    .responses = kv_external_responses,
    .free = ext_free,
};

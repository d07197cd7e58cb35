#include "io/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/status.h"

/* Where a value came from. */
enum { SRC_FILE, SRC_OVERRIDE, SRC_DEFAULT };

typedef struct {
  char *key;     /* "section.key" */
  char *value;
  int line;      /* line in the file; 0 when not from the file */
  int src;
  char *tag;     /* SRC_OVERRIDE set by a program: who set it ("sweep case 12"); NULL: the user */
} entry;

struct kv_config {
  char *source;
  entry *e;
  int n, cap;
  /* parser state */
  const char *text;
  size_t pos;
  int line;
  int last_line_indented;
  int too_long_line;
  int dup_line;
  char dup_key[768];
  int orphan_line;      /* first key outside any [section] */
  char orphan_key[256];
};

/* ---------------------------------------------------------------- helpers */

static char *dupstr(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) {
    memcpy(d, s, n);
  }
  return d;
}

static char *trim(char *s) {
  while (isspace((unsigned char)*s)) {
    s++;
  }
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) {
    *--e = '\0';
  }
  return s;
}

static entry *find(const kv_config *cfg, const char *key) {
  for (int i = 0; i < cfg->n; i++) {
    if (strcmp(cfg->e[i].key, key) == 0) {
      return &cfg->e[i];
    }
  }
  return NULL;
}

static int add_entry(kv_config *cfg, const char *key, const char *value, int line, int src) {
  entry *old = find(cfg, key);
  if (old) {
    char *v = dupstr(value);
    if (!v) {
      return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
    }
    free(old->value);
    old->value = v;
    old->line = line;
    old->src = src;
    free(old->tag);
    old->tag = NULL;
    return KV_OK;
  }
  if (cfg->n == cfg->cap) {
    int cap = cfg->cap ? 2 * cfg->cap : 32;
    entry *e = realloc(cfg->e, (size_t)cap * sizeof *e);
    if (!e) {
      return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
    }
    cfg->e = e;
    cfg->cap = cap;
  }
  entry *e = &cfg->e[cfg->n];
  e->key = dupstr(key);
  e->value = dupstr(value);
  e->tag = NULL;
  if (!e->key || !e->value) {
    free(e->key);
    free(e->value);
    return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
  }
  e->line = line;
  e->src = src;
  cfg->n++;
  return KV_OK;
}

static void where(const kv_config *cfg, const entry *e, char *buf, size_t n) {
  if (!e) {
    snprintf(buf, n, "%s", cfg->source);
  } else if (e->src == SRC_OVERRIDE) {
    snprintf(buf, n, "%s", e->tag ? e->tag : "command line");
  } else if (e->src == SRC_DEFAULT) {
    snprintf(buf, n, "%s (default)", cfg->source);
  } else {
    snprintf(buf, n, "%s:%d", cfg->source, e->line);
  }
}

int kv_config_errorf(const kv_config *cfg, const char *key, const char *fmt, ...) {
  char what[1024], loc[600];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(what, sizeof what, fmt, ap);
  va_end(ap);
  const entry *e = find(cfg, key);
  where(cfg, e, loc, sizeof loc);
  if (e) {
    return KV_ERROR(KV_ERR_CONFIG, "%s: %s = '%s': %s", loc, key, e->value, what);
  }
  return KV_ERROR(KV_ERR_CONFIG, "%s: missing key %s: %s", loc, key, what);
}

/* ---------------------------------------------------------------- parsing */

/* ini_reader over an in-memory string; counts lines so the handler knows where it is (the
 * Debian libinih is built without INI_HANDLER_LINENO). */
static char *reader(char *str, int num, void *stream) {
  kv_config *cfg = stream;
  const char *t = cfg->text + cfg->pos;
  if (*t == '\0') {
    return NULL;
  }
  const char *nl = strchr(t, '\n');
  size_t len = nl ? (size_t)(nl - t) + 1 : strlen(t);
  cfg->line++;
  if (len > (size_t)num - 1) {
    /* The line does not fit inih's buffer; refuse it instead of letting it be split. */
    if (!cfg->too_long_line) {
      cfg->too_long_line = cfg->line;
    }
    len = (size_t)num - 1;
    memcpy(str, t, len);
    str[len] = '\0';
    cfg->pos += nl ? (size_t)(nl - t) + 1 : strlen(t);
    str[0] = '#'; /* make inih skip the truncated line */
    return str;
  }
  memcpy(str, t, len);
  str[len] = '\0';
  cfg->last_line_indented = (t[0] == ' ' || t[0] == '\t');
  cfg->pos += len;
  return str;
}

static int handler(void *user, const char *section, const char *name, const char *value) {
  kv_config *cfg = user;
  char key[512];
  snprintf(key, sizeof key, "%s.%s", section, name);
  entry *old = find(cfg, key);
  if (old && cfg->last_line_indented && old->src == SRC_FILE) {
    /* inih's multi-line continuation: an indented line continues the previous value. */
    size_t n = strlen(old->value) + strlen(value) + 3;
    char *v = malloc(n);
    if (!v) {
      return 0;
    }
    snprintf(v, n, "%s %s", old->value, value);
    free(old->value);
    old->value = v;
    return 1;
  }
  if (old) {
    if (!cfg->dup_line) {
      cfg->dup_line = cfg->line;
      snprintf(cfg->dup_key, sizeof cfg->dup_key, "%s (first set on line %d)", key, old->line);
    }
    return 1;
  }
  if (section[0] == '\0') {
    if (!cfg->orphan_line) {
      cfg->orphan_line = cfg->line;
      snprintf(cfg->orphan_key, sizeof cfg->orphan_key, "%s", name);
    }
    return 1;
  }
  return add_entry(cfg, key, value, cfg->line, SRC_FILE) == KV_OK;
}

int kv_config_parse_string(const char *text, const char *name, kv_config **out) {
  *out = NULL;
  kv_config *cfg = calloc(1, sizeof *cfg);
  if (!cfg) {
    return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
  }
  cfg->source = dupstr(name ? name : "<string>");
  cfg->text = text;
  int r = ini_parse_stream(reader, cfg, handler, cfg);
  cfg->text = NULL;
  int rc = KV_OK;
  if (cfg->too_long_line) {
    rc = KV_ERROR(KV_ERR_CONFIG, "%s:%d: line too long (at most %d characters; continue a long "
                  "value on indented lines)", cfg->source, cfg->too_long_line, INI_MAX_LINE - 2);
  } else if (r > 0) {
    rc = KV_ERROR(KV_ERR_CONFIG,
                  "%s:%d: syntax error: expected '[section]', 'key = value' or a comment",
                  cfg->source, r);
  } else if (r < 0) {
    rc = KV_ERROR(KV_ERR_NOMEM, "config: parser out of memory");
  } else if (cfg->orphan_line) {
    rc = KV_ERROR(KV_ERR_CONFIG, "%s:%d: key '%s' outside any [section]; put it under the section "
                  "it belongs to (e.g. [run])", cfg->source, cfg->orphan_line, cfg->orphan_key);
  } else if (cfg->dup_line) {
    rc = KV_ERROR(KV_ERR_CONFIG, "%s:%d: key given twice: %s", cfg->source, cfg->dup_line,
                  cfg->dup_key);
  }
  if (rc != KV_OK) {
    kv_config_free(cfg);
    return rc;
  }
  *out = cfg;
  return KV_OK;
}

int kv_config_load(MPI_Comm comm, const char *path, kv_config **out) {
  *out = NULL;
  int rank;
  MPI_Comm_rank(comm, &rank);
  long len = 0;
  char *text = NULL;
  int rc = KV_OK;
  if (rank == 0) {
    FILE *fp = fopen(path, "rb");
    if (!fp) {
      rc = KV_ERROR(KV_ERR_IO, "cannot read config file '%s': %s", path, strerror(errno));
    } else {
      fseek(fp, 0, SEEK_END);
      len = ftell(fp);
      fseek(fp, 0, SEEK_SET);
      text = malloc((size_t)len + 1);
      if (!text) {
        rc = KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
      } else if (fread(text, 1, (size_t)len, fp) != (size_t)len) {
        rc = KV_ERROR(KV_ERR_IO, "cannot read config file '%s'", path);
      } else {
        text[len] = '\0';
        if (strlen(text) != (size_t)len) {
          rc = KV_ERROR(KV_ERR_CONFIG, "%s: not a text file (contains NUL bytes)", path);
        }
      }
      fclose(fp);
    }
  }
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    free(text);
    return rc;
  }
  MPI_Bcast(&len, 1, MPI_LONG, 0, comm);
  if (rank != 0) {
    text = malloc((size_t)len + 1);
  }
  int ok = text != NULL, all_ok;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
  if (!all_ok) {
    free(text);
    return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
  }
  MPI_Bcast(text, (int)len + 1, MPI_CHAR, 0, comm);
  rc = kv_config_parse_string(text, path, out);
  free(text);
  return rc; /* same text everywhere: every rank reaches the same verdict */
}

void kv_config_free(kv_config *cfg) {
  if (!cfg) {
    return;
  }
  for (int i = 0; i < cfg->n; i++) {
    free(cfg->e[i].key);
    free(cfg->e[i].value);
    free(cfg->e[i].tag);
  }
  free(cfg->e);
  free(cfg->source);
  free(cfg);
}

int kv_config_override(kv_config *cfg, const char *assignment) {
  char buf[1024];
  if (strlen(assignment) >= sizeof buf) {
    return KV_ERROR(KV_ERR_USAGE, "override too long: %.40s...", assignment);
  }
  strcpy(buf, assignment);
  char *eq = strchr(buf, '=');
  char *dot = strchr(buf, '.');
  if (!eq || !dot || dot > eq || dot == buf || dot + 1 == eq) {
    return KV_ERROR(KV_ERR_USAGE,
                    "command line: '%s': expected section.key=value (e.g. heat.kappa=0.5)",
                    assignment);
  }
  *eq = '\0';
  char *key = trim(buf), *value = trim(eq + 1);
  return add_entry(cfg, key, value, 0, SRC_OVERRIDE);
}

int kv_config_set(kv_config *cfg, const char *key, const char *value) {
  return add_entry(cfg, key, value, 0, SRC_OVERRIDE);
}

int kv_config_set_tagged(kv_config *cfg, const char *key, const char *value, const char *tag) {
  KV_CHECK(add_entry(cfg, key, value, 0, SRC_OVERRIDE));
  entry *e = find(cfg, key);
  e->tag = dupstr(tag);
  return e->tag ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
}

int kv_config_clone(const kv_config *cfg, kv_config **out) {
  kv_config *c = calloc(1, sizeof *c);
  if (!c || !(c->source = dupstr(cfg->source))) {
    free(c);
    return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
  }
  for (int i = 0; i < cfg->n; i++) {
    const entry *e = &cfg->e[i];
    int rc = e->tag ? kv_config_set_tagged(c, e->key, e->value, e->tag)
                    : add_entry(c, e->key, e->value, e->line, e->src);
    if (rc != KV_OK) {
      kv_config_free(c);
      return rc;
    }
  }
  *out = c;
  return KV_OK;
}

void kv_config_remove_section(kv_config *cfg, const char *section) {
  size_t sl = strlen(section);
  int k = 0;
  for (int i = 0; i < cfg->n; i++) {
    entry *e = &cfg->e[i];
    if (strncmp(e->key, section, sl) == 0 && e->key[sl] == '.') {
      free(e->key);
      free(e->value);
      free(e->tag);
    } else {
      cfg->e[k++] = *e;
    }
  }
  cfg->n = k;
}

void kv_config_unset(kv_config *cfg, const char *key) {
  entry *e = find(cfg, key);
  if (!e) return;
  free(e->key);
  free(e->value);
  free(e->tag);
  long i = e - cfg->e;
  memmove(e, e + 1, (size_t)(cfg->n - i - 1) * sizeof *e);
  cfg->n--;
}

const char *kv_config_value(const kv_config *cfg, const char *key) {
  const entry *e = find(cfg, key);
  return e ? e->value : NULL;
}

/* ---------------------------------------------------------------- value parsing */

static int parse_long(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  while (isspace((unsigned char)*end)) {
    end++;
  }
  if (end == s || *end != '\0' || errno == ERANGE) {
    return 0;
  }
  *out = v;
  return 1;
}

static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  while (isspace((unsigned char)*end)) {
    end++;
  }
  if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) {
    return 0;
  }
  *out = v;
  return 1;
}

static int parse_bool(const char *s, int *out) {
  static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no", "off", "0"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(s, t[i]) == 0) {
      *out = 1;
      return 1;
    }
    if (strcasecmp(s, f[i]) == 0) {
      *out = 0;
      return 1;
    }
  }
  return 0;
}

/* Index of word in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *word) {
  int idx = 0;
  size_t wl = strlen(word);
  const char *p = choices;
  while (*p) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == wl && strncmp(p, word, n) == 0) {
      return idx;
    }
    idx++;
    if (!bar) {
      break;
    }
    p = bar + 1;
  }
  return -1;
}

/* Split a comma list into trimmed items inside buf; returns count or -1 on too many/empty. */
static int split_list(char *buf, char **items, int max) {
  int n = 0;
  char *p = buf;
  for (;;) {
    char *c = strchr(p, ',');
    if (c) {
      *c = '\0';
    }
    if (n == max) {
      return -1;
    }
    items[n++] = trim(p);
    if (!c) {
      break;
    }
    p = c + 1;
  }
  return n;
}

static int in_range(double v, double lo, double hi) { return lo > hi || (v >= lo && v <= hi); }

static void range_text(char *buf, size_t n, double lo, double hi) {
  if (lo > hi) {
    buf[0] = '\0';
  } else if (isinf(hi)) {
    snprintf(buf, n, " >= %g", lo);
  } else if (isinf(lo)) {
    snprintf(buf, n, " <= %g", hi);
  } else {
    snprintf(buf, n, " in [%g, %g]", lo, hi);
  }
}

static int parse_func(const char *value, kv_config_func *fn) {
  memset(fn, 0, sizeof *fn);
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", value);
  char *s = trim(buf);
  double num;
  if (parse_double(s, &num)) {
    strcpy(fn->name, "number");
    fn->nargs = 1;
    fn->args[0] = num;
    return 1;
  }
  char *colon = strstr(s, ":/");
  if (colon) {
    *colon = '\0';
    if (!*s || strlen(s) >= sizeof fn->path || strlen(colon + 1) >= sizeof fn->dataset) {
      return 0;
    }
    strcpy(fn->name, "file");
    strcpy(fn->path, s);
    strcpy(fn->dataset, colon + 1);
    return 1;
  }
  char *open = strchr(s, '(');
  size_t len = strlen(s);
  if (!open || len < 3 || s[len - 1] != ')') {
    /* a bare word, e.g. "none" */
    for (char *p = s; *p; p++) {
      if (!isalnum((unsigned char)*p) && *p != '_') {
        return 0;
      }
    }
    if (!*s || strlen(s) >= sizeof fn->name) {
      return 0;
    }
    strcpy(fn->name, s);
    return 1;
  }
  *open = '\0';
  s[len - 1] = '\0';
  char *name = trim(s);
  if (!*name || strlen(name) >= sizeof fn->name) {
    return 0;
  }
  for (char *p = name; *p; p++) {
    if (!isalnum((unsigned char)*p) && *p != '_') {
      return 0;
    }
  }
  strcpy(fn->name, name);
  char *args = trim(open + 1);
  if (!*args) {
    return 1;
  }
  char *items[KV_CFG_MAXARGS + 1];
  int n = split_list(args, items, KV_CFG_MAXARGS);
  if (n < 0) {
    return 0;
  }
  for (int i = 0; i < n; i++) {
    if (!parse_double(items[i], &fn->args[i])) {
      return 0;
    }
  }
  fn->nargs = n;
  return 1;
}

/* Check one value against its schema entry. */
static int check_value(const kv_config *cfg, const kv_config_key *k, const char *value) {
  char rng[96];
  range_text(rng, sizeof rng, k->lo, k->hi);
  switch (k->type) {
  case KV_CFG_STRING:
    if (!*value) {
      return kv_config_errorf(cfg, k->key, "expected a non-empty value");
    }
    return KV_OK;
  case KV_CFG_INT: {
    long v;
    if (!parse_long(value, &v) || !in_range((double)v, k->lo, k->hi)) {
      return kv_config_errorf(cfg, k->key, "expected an integer%s", rng);
    }
    return KV_OK;
  }
  case KV_CFG_DOUBLE: {
    double v;
    if (!parse_double(value, &v) || !in_range(v, k->lo, k->hi)) {
      return kv_config_errorf(cfg, k->key, "expected a number%s", rng);
    }
    return KV_OK;
  }
  case KV_CFG_BOOL: {
    int b;
    if (!parse_bool(value, &b)) {
      return kv_config_errorf(cfg, k->key, "expected true or false");
    }
    return KV_OK;
  }
  case KV_CFG_ENUM:
    if (choice_index(k->choices, value) < 0) {
      return kv_config_errorf(cfg, k->key, "expected one of %s", k->choices);
    }
    return KV_OK;
  case KV_CFG_INT_LIST:
  case KV_CFG_DOUBLE_LIST: {
    char buf[1024];
    char *items[64];
    snprintf(buf, sizeof buf, "%s", value);
    int n = split_list(buf, items, 64);
    int isint = k->type == KV_CFG_INT_LIST;
    for (int i = 0; i < n; i++) {
      long lv;
      double dv;
      int ok = isint ? parse_long(items[i], &lv) : parse_double(items[i], &dv);
      if (isint) {
        dv = (double)lv;
      }
      if (!ok || !in_range(dv, k->lo, k->hi)) {
        return kv_config_errorf(cfg, k->key, "expected a comma-separated list of %s%s",
                                isint ? "integers" : "numbers", rng);
      }
    }
    if (n < 0) {
      return kv_config_errorf(cfg, k->key, "list too long");
    }
    return KV_OK;
  }
  case KV_CFG_FUNC: {
    kv_config_func fn;
    if (!parse_func(value, &fn)) {
      return kv_config_errorf(cfg, k->key, "expected %s", k->choices ? k->choices : "name(args)");
    }
    return KV_OK;
  }
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- validation */

static int edit_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) {
    return 99;
  }
  int d[64][64];
  for (size_t i = 0; i <= la; i++) d[i][0] = (int)i;
  for (size_t j = 0; j <= lb; j++) d[0][j] = (int)j;
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      int u = d[i - 1][j] + 1, l = d[i][j - 1] + 1;
      d[i][j] = c < u ? (c < l ? c : l) : (u < l ? u : l);
    }
  }
  return d[la][lb];
}

const kv_config_key *kv_config_key_find(const kv_config_key *const *tables, const char *key) {
  for (int t = 0; tables[t]; t++) {
    for (const kv_config_key *k = tables[t]; k->key; k++) {
      if (strcmp(k->key, key) == 0) {
        return k;
      }
    }
  }
  return NULL;
}

static int section_known(const kv_config_key *const *tables, const char *sec, size_t len) {
  for (int t = 0; tables[t]; t++) {
    for (const kv_config_key *k = tables[t]; k->key; k++) {
      if (strncmp(k->key, sec, len) == 0 && k->key[len] == '.') {
        return 1;
      }
    }
  }
  return 0;
}

int kv_config_validate(kv_config *cfg, const kv_config_key *const *tables) {
  for (int i = 0; i < cfg->n; i++) {
    const entry *e = &cfg->e[i];
    const kv_config_key *k = kv_config_key_find(tables, e->key);
    if (k) {
      KV_CHECK(check_value(cfg, k, e->value));
      continue;
    }
    char loc[600];
    where(cfg, e, loc, sizeof loc);
    const char *dot = strchr(e->key, '.');
    size_t slen = (size_t)(dot - e->key);
    if (!section_known(tables, e->key, slen)) {
      char secs[512] = "";
      for (int t = 0; tables[t]; t++) {
        for (const kv_config_key *q = tables[t]; q->key; q++) {
          size_t l = (size_t)(strchr(q->key, '.') - q->key);
          char s[64];
          snprintf(s, sizeof s, "[%.*s]", (int)l, q->key);
          if (!strstr(secs, s) && strlen(secs) + strlen(s) + 2 < sizeof secs) {
            strcat(secs, secs[0] ? " " : "");
            strcat(secs, s);
          }
        }
      }
      return KV_ERROR(KV_ERR_CONFIG, "%s: unknown section [%.*s] (key %s); expected one of %s",
                      loc, (int)slen, e->key, e->key, secs);
    }
    /* Suggest the closest known key in the same section. */
    const char *best = NULL;
    int bestd = 4;
    for (int t = 0; tables[t]; t++) {
      for (const kv_config_key *q = tables[t]; q->key; q++) {
        int dd = edit_distance(q->key, e->key);
        if (dd < bestd) {
          bestd = dd;
          best = q->key;
        }
      }
    }
    if (best) {
      return KV_ERROR(KV_ERR_CONFIG, "%s: unknown key %s (did you mean %s?)", loc, e->key, best);
    }
    return KV_ERROR(KV_ERR_CONFIG, "%s: unknown key %s in section [%.*s]", loc, e->key,
                    (int)slen, e->key);
  }
  for (int t = 0; tables[t]; t++) {
    for (const kv_config_key *k = tables[t]; k->key; k++) {
      if (k->def && !find(cfg, k->key)) {
        KV_CHECK(add_entry(cfg, k->key, k->def, 0, SRC_DEFAULT));
      }
    }
  }
  return KV_OK;
}

int kv_config_has(const kv_config *cfg, const char *key) { return find(cfg, key) != NULL; }

int kv_config_given(const kv_config *cfg, const char *key) {
  const entry *e = find(cfg, key);
  return e && e->src != SRC_DEFAULT;
}

/* ---------------------------------------------------------------- getters */

static int get_entry(const kv_config *cfg, const char *key, const char *what, const entry **out) {
  *out = find(cfg, key);
  if (!*out) {
    return kv_config_errorf(cfg, key, "this key is required (%s)", what);
  }
  return KV_OK;
}

int kv_config_get_string(const kv_config *cfg, const char *key, const char **out) {
  const entry *e;
  KV_CHECK(get_entry(cfg, key, "a value", &e));
  *out = e->value;
  return KV_OK;
}

int kv_config_get_int(const kv_config *cfg, const char *key, long lo, long hi, long *out) {
  const entry *e;
  char rng[96];
  range_text(rng, sizeof rng, (double)lo, (double)hi);
  KV_CHECK(get_entry(cfg, key, "an integer", &e));
  if (!parse_long(e->value, out) || !in_range((double)*out, (double)lo, (double)hi)) {
    return kv_config_errorf(cfg, key, "expected an integer%s", rng);
  }
  return KV_OK;
}

int kv_config_get_double(const kv_config *cfg, const char *key, double lo, double hi, double *out) {
  const entry *e;
  char rng[96];
  range_text(rng, sizeof rng, lo, hi);
  KV_CHECK(get_entry(cfg, key, "a number", &e));
  if (!parse_double(e->value, out) || !in_range(*out, lo, hi)) {
    return kv_config_errorf(cfg, key, "expected a number%s", rng);
  }
  return KV_OK;
}

int kv_config_get_bool(const kv_config *cfg, const char *key, int *out) {
  const entry *e;
  KV_CHECK(get_entry(cfg, key, "true or false", &e));
  if (!parse_bool(e->value, out)) {
    return kv_config_errorf(cfg, key, "expected true or false");
  }
  return KV_OK;
}

int kv_config_get_enum(const kv_config *cfg, const char *key, const char *choices, int *out) {
  const entry *e;
  KV_CHECK(get_entry(cfg, key, choices, &e));
  *out = choice_index(choices, e->value);
  if (*out < 0) {
    return kv_config_errorf(cfg, key, "expected one of %s", choices);
  }
  return KV_OK;
}

static int get_list(const kv_config *cfg, const char *key, int isint, long *lout, double *dout,
                    int max, int *count) {
  const entry *e;
  const char *what = isint ? "integers" : "numbers";
  KV_CHECK(get_entry(cfg, key, "a comma-separated list", &e));
  char buf[1024];
  char *items[64];
  snprintf(buf, sizeof buf, "%s", e->value);
  int n = split_list(buf, items, max < 64 ? max : 64);
  if (n < 0) {
    return kv_config_errorf(cfg, key, "expected at most %d comma-separated %s", max, what);
  }
  for (int i = 0; i < n; i++) {
    int ok = isint ? parse_long(items[i], &lout[i]) : parse_double(items[i], &dout[i]);
    if (!ok) {
      return kv_config_errorf(cfg, key, "item %d ('%s') is not one of the %s expected", i + 1,
                              items[i], what);
    }
  }
  *count = n;
  return KV_OK;
}

int kv_config_get_int_list(const kv_config *cfg, const char *key, long *out, int max, int *count) {
  return get_list(cfg, key, 1, out, NULL, max, count);
}

int kv_config_get_double_list(const kv_config *cfg, const char *key, double *out, int max,
                              int *count) {
  return get_list(cfg, key, 0, NULL, out, max, count);
}

int kv_config_get_func(const kv_config *cfg, const char *key, kv_config_func *out) {
  const entry *e;
  KV_CHECK(get_entry(cfg, key, "name(args), a number or file.h5:/dataset", &e));
  if (!parse_func(e->value, out)) {
    return kv_config_errorf(cfg, key, "expected name(a, b, ...), a number or file.h5:/dataset");
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- output */

typedef struct {
  char *buf;
  size_t len, cap;
  int err;
} sbuf;

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
  if (b->err) {
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (b->len + (size_t)n + 1 > b->cap) {
    size_t cap = (b->cap + (size_t)n + 1) * 2;
    char *nb = realloc(b->buf, cap);
    if (!nb) {
      b->err = 1;
      return;
    }
    b->buf = nb;
    b->cap = cap;
  }
  va_start(ap, fmt);
  vsnprintf(b->buf + b->len, b->cap - b->len, fmt, ap);
  va_end(ap);
  b->len += (size_t)n;
}

int kv_config_to_text(const kv_config *cfg, char **out) {
  sbuf b = {0};
  sb_printf(&b, "; resolved configuration (source: %s)\n", cfg->source);
  /* Sections in order of first appearance; keys in order within each. */
  for (int i = 0; i < cfg->n; i++) {
    const char *dot = strchr(cfg->e[i].key, '.');
    size_t sl = (size_t)(dot - cfg->e[i].key);
    int seen = 0;
    for (int j = 0; j < i && !seen; j++) {
      seen = strncmp(cfg->e[j].key, cfg->e[i].key, sl + 1) == 0;
    }
    if (seen) {
      continue;
    }
    sb_printf(&b, "\n[%.*s]\n", (int)sl, cfg->e[i].key);
    for (int j = i; j < cfg->n; j++) {
      const entry *e = &cfg->e[j];
      if (strncmp(e->key, cfg->e[i].key, sl + 1) != 0) {
        continue;
      }
      sb_printf(&b, "%s = %s%s%s\n", e->key + sl + 1, e->value,
                e->src == SRC_DEFAULT ? "   ; default" : e->src == SRC_OVERRIDE ? "   ; " : "",
                e->src == SRC_OVERRIDE ? (e->tag ? e->tag : "command line") : "");
    }
  }
  if (b.err) {
    free(b.buf);
    return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
  }
  *out = b.buf;
  return KV_OK;
}

const char *kv_config_source(const kv_config *cfg) { return cfg->source; }

void kv_config_print_reference(const kv_config_key *const *tables, void *stream) {
  static const char *const tn[] = {"string", "integer", "number", "bool", "enum", "int list", "number list", "function"};
  FILE *fp = stream;
  for (int t = 0; tables[t]; t++) {
    for (const kv_config_key *k = tables[t]; k->key; k++) {
      int seen = 0;
      for (int u = 0; u < t && !seen; u++) {
        for (const kv_config_key *e = tables[u]; e->key && !seen; e++) {
          seen = tables[u] == tables[t] || strcmp(e->key, k->key) == 0;
        }
      }
      if (seen) {
        continue; /* listed by an earlier table (a key several kinds share) */
      }
      fprintf(fp, "%-22s %-11s default %-14s %s", k->key, tn[k->type], k->def ? k->def : "(none)",
              k->doc ? k->doc : "");
      if (k->type == KV_CFG_ENUM || (k->type == KV_CFG_FUNC && k->choices)) {
        fprintf(fp, " [%s]", k->choices);
      }
      fputc('\n', fp);
    }
  }
}

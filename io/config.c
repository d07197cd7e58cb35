#include "io/config.h"
#include "core/comm.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/status.h"
#include "io/config_impl.h"
#include "io/table.h"
/* ---------------------------------------------------------------- helpers */

char *kv_config_dup(const char *s) {
  size_t n = strlen(s) + 1;
  char *d = malloc(n);
  if (d) {
    memcpy(d, s, n);
  }
  return d;
}

entry *kv_config_find(const kv_config *cfg, const char *key) {
  for (int i = 0; i < cfg->n; i++) {
    if (strcmp(cfg->e[i].key, key) == 0) {
      return &cfg->e[i];
    }
  }
  return NULL;
}

int kv_config_add_entry(kv_config *cfg, const char *key, const char *value, int line, int src) {
  entry *old = kv_config_find(cfg, key);
  if (old) {
    char *v = kv_config_dup(value);
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
  e->key = kv_config_dup(key);
  e->value = kv_config_dup(value);
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

void kv_config_where(const kv_config *cfg, const entry *e, char *buf, size_t n) {
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
  const entry *e = kv_config_find(cfg, key);
  kv_config_where(cfg, e, loc, sizeof loc);
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
  entry *old = kv_config_find(cfg, key);
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
  return kv_config_add_entry(cfg, key, value, cfg->line, SRC_FILE) == KV_OK;
}

int kv_config_parse_string(const char *text, const char *name, kv_config **out) {
  *out = NULL;
  kv_config *cfg = calloc(1, sizeof *cfg);
  if (!cfg) {
    return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
  }
  cfg->source = kv_config_dup(name ? name : "<string>");
  cfg->text = text;
  int r = ini_parse_stream(reader, cfg, handler, cfg);
  cfg->text = NULL;
  int rc = KV_OK;
  if (cfg->too_long_line) {
    rc = KV_ERROR(KV_ERR_CONFIG,
                  "%s:%d: line too long (at most %d characters; continue a long "
                  "value on indented lines)",
                  cfg->source, cfg->too_long_line, INI_MAX_LINE - 2);
  } else if (r > 0) {
    rc = KV_ERROR(KV_ERR_CONFIG,
                  "%s:%d: syntax error: expected '[section]', 'key = value' or a comment",
                  cfg->source, r);
  } else if (r < 0) {
    rc = KV_ERROR(KV_ERR_NOMEM, "config: parser out of memory");
  } else if (cfg->orphan_line) {
    rc = KV_ERROR(KV_ERR_CONFIG,
                  "%s:%d: key '%s' outside any [section]; put it under the section "
                  "it belongs to (e.g. [run])",
                  cfg->source, cfg->orphan_line, cfg->orphan_key);
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
  rank = kv_comm_rank(comm);
  long len = 0;
  char *text = NULL;
  int rc = KV_OK;
  /* A configuration is a regular file: a directory would read as garbage sizes, a FIFO or a
   * device would block every command; both are refused by name before opening. */
  struct stat st;
  if (rank == 0 && stat(path, &st) == 0 && !S_ISREG(st.st_mode)) {
    rc = KV_ERROR(KV_ERR_IO, "cannot read config file '%s': %s, not a regular file", path,
                  S_ISDIR(st.st_mode)    ? "a directory"
                  : S_ISFIFO(st.st_mode) ? "a FIFO"
                                         : "a device");
  }
  if (rank == 0 && rc == KV_OK) {
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
  kv_comm_bcast(&len, 1, MPI_LONG, 0, comm);
  if (rank != 0) {
    text = malloc((size_t)len + 1);
  }
  int ok = text != NULL, all_ok;
  kv_comm_allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, comm);
  if (!all_ok) {
    free(text);
    return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
  }
  kv_comm_bcast(text, (int)len + 1, MPI_CHAR, 0, comm);
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
  char *key = kv_table_trim(buf), *value = kv_table_trim(eq + 1);
  return kv_config_add_entry(cfg, key, value, 0, SRC_OVERRIDE);
}

int kv_config_set(kv_config *cfg, const char *key, const char *value) {
  return kv_config_add_entry(cfg, key, value, 0, SRC_OVERRIDE);
}

int kv_config_set_tagged(kv_config *cfg, const char *key, const char *value, const char *tag) {
  KV_CHECK(kv_config_add_entry(cfg, key, value, 0, SRC_OVERRIDE));
  entry *e = kv_config_find(cfg, key);
  e->tag = kv_config_dup(tag);
  return e->tag ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
}

int kv_config_clone(const kv_config *cfg, kv_config **out) {
  kv_config *c = calloc(1, sizeof *c);
  if (!c || !(c->source = kv_config_dup(cfg->source))) {
    free(c);
    return KV_ERROR(KV_ERR_NOMEM, "config: out of memory");
  }
  for (int i = 0; i < cfg->n; i++) {
    const entry *e = &cfg->e[i];
    int rc = e->tag ? kv_config_set_tagged(c, e->key, e->value, e->tag)
                    : kv_config_add_entry(c, e->key, e->value, e->line, e->src);
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
  entry *e = kv_config_find(cfg, key);
  if (!e) {
    return;
  }
  free(e->key);
  free(e->value);
  free(e->tag);
  long i = e - cfg->e;
  memmove(e, e + 1, (size_t)(cfg->n - i - 1) * sizeof *e);
  cfg->n--;
}

const char *kv_config_value(const kv_config *cfg, const char *key) {
  const entry *e = kv_config_find(cfg, key);
  return e ? e->value : NULL;
}

int kv_config_has(const kv_config *cfg, const char *key) {
  return kv_config_find(cfg, key) != NULL;
}

int kv_config_given(const kv_config *cfg, const char *key) {
  const entry *e = kv_config_find(cfg, key);
  return e && e->src != SRC_DEFAULT;
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
                e->src == SRC_DEFAULT    ? "   ; default"
                : e->src == SRC_OVERRIDE ? "   ; "
                                         : "",
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

const char *kv_config_source(const kv_config *cfg) {
  return cfg->source;
}

void kv_config_print_reference(const kv_config_key *const *tables, void *stream, int markdown) {
  static const char *const tn[] = {"string",   "integer",     "number",   "bool", "enum",
                                   "int list", "number list", "function", "value"};
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
      int with_choices = k->type == KV_CFG_ENUM || (k->type == KV_CFG_FUNC && k->choices);
      if (markdown) { /* a row of the README's table; '|' inside a cell is escaped */
        fprintf(fp, "| `%s` | %s | %s%s%s | ", k->key, tn[k->type], k->def ? "`" : "",
                k->def ? k->def : "required or unset", k->def ? "`" : "");
        for (const char *c = k->doc ? k->doc : ""; *c; c++) {
          fputs(*c == '|' ? "\\|" : (char[]){*c, 0}, fp);
        }
        if (with_choices) {
          fputs(" (", fp);
          for (const char *c = k->choices; *c; c++) {
            fputs(*c == '|' ? ", " : (char[]){*c, 0}, fp);
          }
          fputc(')', fp);
        }
        fputs(" |\n", fp);
        continue;
      }
      fprintf(fp, "%-22s %-11s default %-14s %s", k->key, tn[k->type], k->def ? k->def : "(none)",
              k->doc ? k->doc : "");
      if (with_choices) {
        fprintf(fp, " [%s]", k->choices);
      }
      fputc('\n', fp);
    }
  }
}

int kv_config_diff(const kv_config *a, const kv_config *b, const char *const *ignore, char *buf,
                   size_t n) {
  int count = 0;
  size_t len = 0;
  buf[0] = '\0';
  for (int pass = 0; pass < 2; pass++) {
    const kv_config *x = pass ? b : a, *y = pass ? a : b;
    for (int i = 0; i < x->n; i++) {
      const char *key = x->e[i].key;
      int skip = 0;
      for (int k = 0; ignore && ignore[k] && !skip; k++) {
        skip = strcmp(key, ignore[k]) == 0;
      }
      entry *o = kv_config_find(y, key);
      if (skip || (pass && o)) { /* the second pass only adds keys a lacks */
        continue;
      }
      if (!o || strcmp(o->value, x->e[i].value) != 0) {
        count++;
        const char *va = pass ? "(absent)" : x->e[i].value;
        const char *vb = pass ? x->e[i].value : (o ? o->value : "(absent)");
        if (len < n) {
          len += (size_t)snprintf(buf + len, n - len, "%s%s = %s here, %s in the file",
                                  count > 1 ? "; " : "", key, vb, va);
        }
      }
    }
  }
  return count;
}

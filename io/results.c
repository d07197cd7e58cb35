/* Results files of external simulators. */
#define _POSIX_C_SOURCE 200809L /* getline */
#include "io/results.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/table.h"

typedef struct {
  const char *path;
  int n;
  const char *const *names;
  double *values;
  long *line; /* where each response was found (0: not yet) */
} reader;

static int is_number(const char *s, double *x) {
  char *end;
  errno = 0;
  *x = strtod(s, &end);
  return end != s && *end == '\0';
}

/* Record name = text (from line). Names not asked for are ignored. */
static int put(reader *r, const char *name, const char *text, long line) {
  for (int k = 0; k < r->n; k++) {
    if (strcmp(r->names[k], name) != 0) {
      continue;
    }
    double x;
    if (r->line[k]) {
      return KV_ERROR(KV_ERR_FORMAT, "%s:%ld: response '%s' given twice (also on line %ld)",
                      r->path, line, name, r->line[k]);
    }
    if (!is_number(text, &x) || !isfinite(x)) {
      return KV_ERROR(KV_ERR_FORMAT, "%s:%ld: response '%s' = '%s' is not a finite number", r->path,
                      line, name, text);
    }
    r->values[k] = x;
    r->line[k] = line;
  }
  return KV_OK;
}

static int ends_with(const char *s, const char *tail) {
  size_t a = strlen(s), b = strlen(tail);
  return a >= b && strcmp(s + a - b, tail) == 0;
}

/* A flat JSON object {"name": number, ...} (nested values are skipped). */
static int read_json(reader *r, const char *text) {
  const char *p = text;
  long line = 1;
#define SKIP_WS                                                                                    \
  while (isspace((unsigned char)*p)) {                                                             \
    line += *p++ == '\n';                                                                          \
  }
  SKIP_WS;
  if (*p != '{') {
    return KV_ERROR(KV_ERR_FORMAT, "%s:%ld: expected a JSON object {\"name\": value, ...}", r->path,
                    line);
  }
  p++;
  for (;;) {
    SKIP_WS;
    if (*p == '}') {
      return KV_OK;
    }
    if (*p != '"') {
      return KV_ERROR(KV_ERR_FORMAT, "%s:%ld: expected a \"name\" in the JSON object", r->path,
                      line);
    }
    const char *q = strchr(p + 1, '"');
    if (!q || q - p > 255) {
      return KV_ERROR(KV_ERR_FORMAT, "%s:%ld: unterminated name", r->path, line);
    }
    char name[256], val[256];
    snprintf(name, sizeof name, "%.*s", (int)(q - p - 1), p + 1);
    p = q + 1;
    SKIP_WS;
    if (*p != ':') {
      return KV_ERROR(KV_ERR_FORMAT, "%s:%ld: expected ':' after \"%s\"", r->path, line, name);
    }
    p++;
    SKIP_WS;
    size_t len;
    if (*p == '{' || *p == '[') {
      int depth = 0; /* a nested value: skipped (strings with brackets are not expected here) */
      do {
        depth += (*p == '{' || *p == '[') - (*p == '}' || *p == ']');
        line += *p == '\n';
        p++;
      } while (*p && depth > 0);
      snprintf(val, sizeof val, "%s", "(an object or array)");
    } else if (*p == '"') {
      q = strchr(p + 1, '"');
      len = q ? (size_t)(q - p + 1) : strlen(p);
      snprintf(val, sizeof val, "%.*s", (int)(len < 255 ? len : 255), p);
      p += len;
    } else {
      len = strcspn(p, ",} \t\r\n");
      snprintf(val, sizeof val, "%.*s", (int)(len < 255 ? len : 255), p);
      p += len;
    }
    KV_CHECK(put(r, name, val, line));
    SKIP_WS;
    if (*p == ',') {
      p++;
    } else if (*p != '}') {
      return KV_ERROR(KV_ERR_FORMAT, "%s:%ld: expected ',' or '}' in the JSON object", r->path,
                      line);
    }
  }
#undef SKIP_WS
}

/* A header of names and one row of values. */
static int read_csv(reader *r, char *text) {
  char *save = NULL, *hdr = NULL, *row = NULL;
  long hl = 0, rl = 0, line = 0;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    line++;
    char *s = kv_table_trim(l);
    if (!*s || *s == '#') {
      continue;
    }
    if (!hdr) {
      hdr = s;
      hl = line;
    } else if (!row) {
      row = s;
      rl = line;
    } else {
      return KV_ERROR(KV_ERR_FORMAT,
                      "%s:%ld: a results CSV holds a header and one row of values (one case)",
                      r->path, line);
    }
  }
  if (!hdr || !row) {
    return KV_ERROR(KV_ERR_FORMAT, "%s: expected a header of response names and a row of values",
                    r->path);
  }
  char *hf[512], *rf[512];
  int nh = kv_table_split_line(hdr, hf, 512), nr = kv_table_split_line(row, rf, 512);
  if (nh != nr) {
    return KV_ERROR(KV_ERR_FORMAT, "%s:%ld: %d values, the header (line %ld) has %d names", r->path,
                    rl, nr, hl, nh);
  }
  for (int c = 0; c < nh; c++) {
    KV_CHECK(put(r, kv_table_trim(hf[c]), kv_table_trim(rf[c]), rl));
  }
  return KV_OK;
}

/* "name value", "name = value", "name: value", "value name" (Dakota) or "value" lines. */
static int read_lines(reader *r, char *text) {
  char *save = NULL;
  long line = 0;
  int positional = 0;
  for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    line++;
    char *s = kv_table_trim(l);
    if (!*s || *s == '#' || *s == '%') {
      continue;
    }
    for (char *c = s; *c; c++) {
      if (*c == '=' || *c == ':' || *c == '\t' || *c == ',') {
        *c = ' ';
      }
    }
    char a[256] = "", b[256] = "", extra[8] = "";
    int nt = sscanf(s, "%255s %255s %7s", a, b, extra);
    double x;
    if (nt == 1) {
      if (positional >= r->n) {
        return KV_ERROR(KV_ERR_FORMAT, "%s:%ld: more unlabelled values than the %d responses",
                        r->path, line, r->n);
      }
      KV_CHECK(put(r, r->names[positional++], a, line));
    } else if (nt == 2 && is_number(a, &x) && !is_number(b, &x)) {
      KV_CHECK(put(r, b, a, line)); /* Dakota: value, then the descriptor */
    } else if (nt == 2) {
      KV_CHECK(put(r, a, b, line));
    } else {
      return KV_ERROR(KV_ERR_FORMAT,
                      "%s:%ld: expected 'name value' (or Dakota's 'value name'), found '%s'",
                      r->path, line, s);
    }
  }
  return KV_OK;
}

int kv_results_read(const char *path, int n, const char *const *names, double *values) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    return KV_ERROR(KV_ERR_FORMAT, "the simulator wrote no results file '%s' (%s)", path,
                    strerror(errno));
  }
  char *text = NULL;
  size_t len = 0;
  FILE *m = open_memstream(&text, &len);
  char buf[8192];
  size_t got;
  while (m && (got = fread(buf, 1, sizeof buf, f)) > 0 && len < (64u << 20)) {
    fwrite(buf, 1, got, m);
  }
  fclose(f);
  if (!m) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  fclose(m);
  if (memchr(text, '\0', len)) {
    free(text);
    return KV_ERROR(KV_ERR_FORMAT, "%s: a binary file, not a results file of text", path);
  }
  long *where = calloc((size_t)n + 1, sizeof *where);
  if (!where) {
    free(text);
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  reader r = {path, n, names, values, where};
  const char *first = text + strspn(text, " \t\r\n");
  int rc = ends_with(path, ".json") || *first == '{' ? read_json(&r, text)
           : ends_with(path, ".csv")                 ? read_csv(&r, text)
                                                     : read_lines(&r, text);
  for (int k = 0; rc == KV_OK && k < n; k++) {
    if (!where[k]) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s: no value for response '%s'%s", path, names[k],
                    len ? "" : " (the file is empty)");
    }
  }
  free(where);
  free(text);
  return rc;
}

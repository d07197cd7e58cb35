#define _POSIX_C_SOURCE 200809L /* getline */
#include "io/table.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "core/suggest.h"

char *kv_table_trim(char *s) {
  while (isspace((unsigned char)*s)) {
    s++;
  }
  char *e = s + strlen(s);
  while (e > s && isspace((unsigned char)e[-1])) {
    *--e = '\0';
  }
  return s;
}

void kv_table_free(kv_table *t) {
  if (!t) {
    return;
  }
  for (int c = 0; c < t->ncols && t->names; c++) {
    free(t->names[c]);
  }
  free(t->names);
  free(t->v);
  free(t->line);
  memset(t, 0, sizeof *t);
}

int kv_table_column(const kv_table *t, const char *name) {
  for (int c = 0; c < t->ncols; c++) {
    if (strcmp(t->names[c], name) == 0) {
      return c;
    }
  }
  return -1;
}

/* Split a line at runs of blanks (whitespace-separated and Dakota tabular tables). */
static int split_blanks(char *line, char **f, int max) {
  int n = 0;
  char *save = NULL;
  for (char *w = strtok_r(line, " \t\r\n", &save); w && n < max;
       w = strtok_r(NULL, " \t\r\n", &save)) {
    f[n++] = w;
  }
  return n;
}

int kv_table_read_csv(const char *path, kv_table *t) {
  memset(t, 0, sizeof *t);
  FILE *f = fopen(path, "r");
  if (!f) {
    return KV_ERROR(KV_ERR_IO, "cannot read '%s': %s", path, strerror(errno));
  }
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0, rcap = 0;
  int rc = KV_OK, blanks = -1, skip = -1; /* blank-separated; Dakota's text column */
  char **fld = NULL;
  int maxf = 0;
  while (rc == KV_OK && getline(&line, &cap, f) >= 0) {
    lineno++;
    char *s = kv_table_trim(line);
    if (!*s || *s == '#') {
      continue;
    }
    if (blanks < 0) {
      /* Dakota's annotated tabular header starts with '%' ("%eval_id interface x1 ..."). */
      blanks = *s == '%' || !strchr(s, ',');
      s += *s == '%';
    }
    int commas = 1;
    for (char *p = s; *p; p++) {
      commas += blanks ? (*p == ' ' || *p == '\t') : *p == ',';
    }
    if (commas > maxf) {
      char **nf = realloc(fld, (size_t)commas * sizeof *nf);
      if (!nf) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory reading '%s'", path);
        break;
      }
      fld = nf;
      maxf = commas;
    }
    int n = blanks ? split_blanks(s, fld, maxf) : kv_table_split_line(s, fld, maxf);
    if (skip >= 0 && n > skip) { /* the interface id of a Dakota table: text, not data */
      memmove(fld + skip, fld + skip + 1, (size_t)(n - skip - 1) * sizeof *fld);
      n--;
    }
    if (!t->names && blanks) {
      for (int c = 0; c < n && skip < 0; c++) {
        if (!strcmp(fld[c], "interface")) {
          skip = c;
        }
      }
      if (skip >= 0) {
        memmove(fld + skip, fld + skip + 1, (size_t)(n - skip - 1) * sizeof *fld);
        n--;
      }
    }
    if (!t->names) {
      t->names = calloc((size_t)n, sizeof *t->names);
      if (!t->names) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory reading '%s'", path);
        break;
      }
      t->ncols = n;
      for (int c = 0; c < n && rc == KV_OK; c++) {
        t->names[c] = strdup(kv_table_trim(fld[c]));
        if (!t->names[c][0]) {
          rc = KV_ERROR(KV_ERR_FORMAT, "%s:%ld: column %d has no name in the header", path, lineno,
                        c + 1);
        }
        for (int c2 = 0; c2 < c && rc == KV_OK; c2++) {
          if (strcmp(t->names[c2], t->names[c]) == 0) {
            rc = KV_ERROR(KV_ERR_FORMAT, "%s:%ld: column '%s' appears twice in the header", path,
                          lineno, t->names[c]);
          }
        }
      }
      continue;
    }
    if (n != t->ncols) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s:%ld: %d values, the header has %d columns", path, lineno, n,
                    t->ncols);
      break;
    }
    if (t->nrows == rcap) {
      rcap = rcap ? 2 * rcap : 64;
      double *nv = realloc(t->v, (size_t)rcap * (size_t)t->ncols * sizeof *nv);
      long *nl = realloc(t->line, (size_t)rcap * sizeof *nl);
      if (nv) {
        t->v = nv;
      }
      if (nl) {
        t->line = nl;
      }
      if (!nv || !nl) {
        rc = KV_ERROR(KV_ERR_NOMEM, "out of memory reading '%s'", path);
        break;
      }
    }
    for (int c = 0; c < n; c++) {
      char *cell = kv_table_trim(fld[c]), *end;
      errno = 0;
      double x = strtod(cell, &end);
      if (!*cell || *end || end == cell) {
        rc = KV_ERROR(KV_ERR_FORMAT, "%s:%ld: column '%s': '%s' is not a number", path, lineno,
                      t->names[c], cell);
        break;
      }
      if (!isfinite(x)) {
        rc = KV_ERROR(KV_ERR_FORMAT, "%s:%ld: column '%s': '%s' is not a finite number", path,
                      lineno, t->names[c], cell);
        break;
      }
      t->v[t->nrows * t->ncols + c] = x;
    }
    t->line[t->nrows] = lineno;
    t->nrows++;
  }
  free(line);
  free(fld);
  fclose(f);
  if (rc == KV_OK && !t->names) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s' is empty (expected a header row of column names)", path);
  } else if (rc == KV_OK && t->nrows == 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s' has a header but no rows", path);
  }
  if (rc != KV_OK) {
    kv_table_free(t);
  }
  return rc;
}

int kv_table_split_line(char *line, char **f, int max) {
  int n = 0;
  char *p = line;
  while (p && n < max) {
    char *w = p, *start = p;
    if (*p == '"') {
      p++;
      start = w = p;
      while (*p && !(*p == '"' && p[1] != '"')) {
        if (*p == '"') {
          p++;
        }
        *w++ = *p++;
      }
      if (*p == '"') {
        p++;
      }
    } else {
      while (*p && *p != ',' && *p != '\n' && *p != '\r') {
        *w++ = *p++;
      }
    }
    char *next = *p == ',' ? p + 1 : NULL;
    *w = '\0';
    f[n++] = start;
    p = next;
  }
  return n;
}

const char *kv_table_suggest(const kv_table *t, const char *name, char *buf, size_t n) {
  const char **list = malloc(((size_t)t->ncols + 1) * sizeof *list);
  buf[0] = '\0';
  if (list) {
    for (int c = 0; c < t->ncols; c++) {
      list[c] = t->names[c];
    }
    list[t->ncols] = NULL;
    kv_suggest_hint(name, list, buf, n);
    free(list);
  }
  return buf;
}

#define _POSIX_C_SOURCE 200809L /* getline, strdup */
#include "io/manifest.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/h5.h"
#include "io/table.h"
#include "io/textfile.h"

static const char *const status_names[] = {"pending", "done", "failed"};

const char *kv_case_status_name(int status) {
  return status >= 0 && status <= 2 ? status_names[status] : "?";
}

/* A CSV field, quoted when it holds a separator, a quote or a line break. */
static void csv_put(FILE *f, const char *s) {
  if (!strpbrk(s, ",\"\n\r")) {
    fputs(s, f);
    return;
  }
  fputc('"', f);
  for (; *s; s++) {
    if (*s == '"') {
      fputc('"', f);
    }
    fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
  }
  fputc('"', f);
}

static int write_csv(const char *path, const kv_manifest *m) {
  char tmp[4400];
  FILE *f = kv_textfile_begin(path, ",status,wall_time_s,", "the sweep manifest", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  fputs("case", f);
  for (int v = 0; v < m->nvars; v++) {
    fputc(',', f);
    csv_put(f, m->vars[v]);
  }
  fputs(",status,wall_time_s,output", f);
  for (int k = 0; k < m->nresp; k++) {
    fputc(',', f);
    csv_put(f, m->resp[k]);
  }
  fputs(",error\n", f);
  for (long r = 0; r < m->nrows; r++) {
    const kv_case_record *rec = &m->recs[r];
    fprintf(f, "%ld", m->ids[r]);
    for (int v = 0; v < m->nvars; v++) {
      fputc(',', f);
      csv_put(f, m->values[r * m->nvars + v]);
    }
    fprintf(f, ",%s,%.3f,", kv_case_status_name(rec->status), rec->wall);
    csv_put(f, m->outputs[r]);
    for (int k = 0; k < m->nresp; k++) {
      if (rec->status == KV_CASE_DONE && !isnan(rec->resp[k])) {
        fprintf(f, ",%.17g", rec->resp[k]);
      } else {
        fputc(',', f);
      }
    }
    fputc(',', f);
    csv_put(f, rec->status == KV_CASE_FAILED ? rec->error : "");
    fputc('\n', f);
  }
  /* Renamed after a complete write: a killed process leaves the old manifest or the new one,
   * never a mix. (No fsync per case: it would cost milliseconds per case and guards only
   * against the whole machine failing, which the --resume file check covers anyway.) */
  return kv_textfile_commit(f, tmp, path);
}

/* A value of a blank-separated table: blanks in a text become '_'. */
static void tab_put(FILE *f, const char *s) {
  for (; *s; s++) {
    fputc(*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r' ? '_' : *s, f);
  }
}

int kv_manifest_write_dakota(const char *path, const kv_manifest *m) {
  char tmp[4400];
  FILE *f =
      kv_textfile_begin(path, "%eval_id interface", "the Dakota tabular results", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  fputs("%eval_id interface", f);
  for (int v = 0; v < m->nvars; v++) {
    fputc(' ', f);
    tab_put(f, m->vars[v]);
  }
  for (int k = 0; k < m->nresp; k++) {
    fputc(' ', f);
    tab_put(f, m->resp[k]);
  }
  fputc('\n', f);
  for (long r = 0; r < m->nrows; r++) {
    if (m->recs[r].status != KV_CASE_DONE) {
      continue;
    }
    fprintf(f, "%ld NO_ID", m->ids[r] + 1);
    for (int v = 0; v < m->nvars; v++) {
      fputc(' ', f);
      tab_put(f, m->values[r * m->nvars + v]);
    }
    for (int k = 0; k < m->nresp; k++) {
      fprintf(f, " %.17g", m->recs[r].resp[k]);
    }
    fputc('\n', f);
  }
  return kv_textfile_commit(f, tmp, path);
}

int kv_manifest_write(const char *stem, const kv_manifest *m, int with_h5) {
  char path[4200];
  snprintf(path, sizeof path, "%s.csv", stem);
  KV_CHECK(write_csv(path, m));
  if (!with_h5) {
    return KV_OK;
  }
  int ncols = m->nvars + 4 + m->nresp;
  kv_h5_column *cols = calloc((size_t)ncols, sizeof *cols);
  double *num =
      malloc(((size_t)m->nvars + 1 + (size_t)m->nresp) * ((size_t)m->nrows + 1) * sizeof *num);
  const char **text = malloc(((size_t)m->nvars + 3) * ((size_t)m->nrows + 1) * sizeof *text);
  if (!cols || !num || !text) {
    free(cols);
    free(num);
    free(text);
    return KV_ERROR(KV_ERR_NOMEM, "manifest: out of memory");
  }
  /* A varied key is a number column when every value is a number, a text column otherwise. */
  for (int v = 0; v < m->nvars; v++) {
    double *col = num + (size_t)v * (size_t)m->nrows;
    const char **tcol = text + (size_t)v * (size_t)m->nrows;
    int numeric = 1;
    for (long r = 0; r < m->nrows; r++) {
      char *end;
      const char *x = m->values[r * m->nvars + v];
      col[r] = strtod(x, &end);
      numeric &= end != x && *end == '\0';
      tcol[r] = x;
    }
    cols[v] = (kv_h5_column){m->vars[v], NULL, "varied configuration key", numeric ? col : NULL,
                             numeric ? NULL : tcol};
  }
  double *wall = num + (size_t)m->nvars * (size_t)m->nrows;
  const char **st = text + (size_t)m->nvars * (size_t)m->nrows, **out = st + m->nrows,
             **err = out + m->nrows;
  for (long r = 0; r < m->nrows; r++) {
    wall[r] = m->recs[r].wall;
    st[r] = kv_case_status_name(m->recs[r].status);
    out[r] = m->outputs[r];
    err[r] = m->recs[r].status == KV_CASE_FAILED ? m->recs[r].error : "";
  }
  cols[m->nvars] = (kv_h5_column){"status", NULL, "done | failed | pending", NULL, st};
  cols[m->nvars + 1] = (kv_h5_column){"wall_time", "s", "wall-clock time of the case", wall, NULL};
  cols[m->nvars + 2] = (kv_h5_column){"output", NULL, "output file of the case", NULL, out};
  for (int k = 0; k < m->nresp; k++) {
    double *col = num + ((size_t)m->nvars + 1 + (size_t)k) * (size_t)m->nrows;
    for (long r = 0; r < m->nrows; r++) {
      col[r] = m->recs[r].status == KV_CASE_DONE ? m->recs[r].resp[k] : NAN;
    }
    cols[m->nvars + 3 + k] =
        (kv_h5_column){m->resp[k], NULL, "response of the case (NaN: not done)", col, NULL};
  }
  cols[ncols - 1] = (kv_h5_column){"error", NULL, "why the case failed", NULL, err};
  snprintf(path, sizeof path, "%s.h5", stem);
  int rc = kv_h5_write_table(path, m->title, "case", m->ids, m->nrows, cols, ncols);
  free(cols);
  free(num);
  free(text);
  return rc;
}

void kv_manifest_table_free(kv_manifest_table *t) {
  if (!t) {
    return;
  }
  for (int c = 0; c < t->ncols && t->cols; c++) {
    free(t->cols[c]);
  }
  for (long i = 0; i < t->nrows * t->ncols && t->cells; i++) {
    free(t->cells[i]);
  }
  free(t->cols);
  free(t->cells);
  free(t->lines);
  memset(t, 0, sizeof *t);
}

int kv_manifest_column(const kv_manifest_table *t, const char *name) {
  for (int c = 0; c < t->ncols; c++) {
    if (strcmp(t->cols[c], name) == 0) {
      return c;
    }
  }
  return -1;
}

const char *kv_manifest_cell(const kv_manifest_table *t, long row, int col) {
  return t->cells[row * t->ncols + col];
}

int kv_manifest_load(const char *csv_path, kv_manifest_table *t) {
  memset(t, 0, sizeof *t);
  FILE *fp = fopen(csv_path, "r");
  if (!fp) {
    return KV_ERROR(KV_ERR_IO, "cannot read '%s': %s", csv_path, strerror(errno));
  }
  enum { MAXF = 1024 };
  char *line = NULL, **f = malloc(MAXF * sizeof *f);
  size_t cap = 0;
  long rcap = 0;
  int lineno = 0, rc = f ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "manifest: out of memory");
  while (rc == KV_OK && getline(&line, &cap, fp) >= 0) {
    lineno++;
    int n = kv_table_split_line(line, f, MAXF);
    if (lineno == 1) {
      t->ncols = n;
      t->cols = calloc((size_t)n, sizeof *t->cols);
      for (int c = 0; t->cols && c < n; c++) {
        t->cols[c] = strdup(f[c]);
      }
      if (!t->cols) {
        rc = KV_ERROR(KV_ERR_NOMEM, "manifest: out of memory");
        break;
      }
      t->icase = kv_manifest_column(t, "case");
      t->istatus = kv_manifest_column(t, "status");
      t->iwall = kv_manifest_column(t, "wall_time_s");
      t->ioutput = kv_manifest_column(t, "output");
      t->ierror = kv_manifest_column(t, "error");
      if (t->icase != 0 || t->istatus < 0 || t->iwall < 0 || t->ioutput < 0 || t->ierror < 0) {
        rc = KV_ERROR(KV_ERR_FORMAT,
                      "%s:1: not a kelvin manifest (no case, status, "
                      "wall_time_s, output and error columns)",
                      csv_path);
      }
      continue;
    }
    if (n != t->ncols) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: %d fields, the header has %d", csv_path, lineno, n,
                    t->ncols);
      break;
    }
    if (t->nrows == rcap) {
      rcap = rcap ? 2 * rcap : 64;
      char **nc = realloc(t->cells, (size_t)rcap * (size_t)t->ncols * sizeof *nc);
      int *nl = nc ? realloc(t->lines, (size_t)rcap * sizeof *nl) : NULL;
      if (nc) {
        t->cells = nc;
      }
      if (nl) {
        t->lines = nl;
      }
      if (!nc || !nl) {
        rc = KV_ERROR(KV_ERR_NOMEM, "manifest: out of memory");
        break;
      }
    }
    for (int c = 0; c < n; c++) {
      t->cells[t->nrows * t->ncols + c] = strdup(f[c]);
    }
    t->lines[t->nrows++] = lineno;
  }
  free(line);
  free(f);
  fclose(fp);
  if (rc == KV_OK && t->ncols == 0) {
    rc = KV_ERROR(KV_ERR_FORMAT, "%s: empty (not a kelvin manifest)", csv_path);
  }
  if (rc != KV_OK) {
    kv_manifest_table_free(t);
  }
  return rc;
}

int kv_manifest_status(const char *name) {
  for (int k = 0; k < 3; k++) {
    if (strcmp(name, status_names[k]) == 0) {
      return k;
    }
  }
  return -1;
}

int kv_manifest_read(const char *csv_path, long ncases, int nresp, const char *const *resp,
                     kv_case_record *recs, char *found) {
  kv_manifest_table t;
  KV_CHECK(kv_manifest_load(csv_path, &t));
  int rc = KV_OK, rcol[KV_MANIFEST_RESP];
  for (int k = 0; k < nresp && k < KV_MANIFEST_RESP; k++) {
    rcol[k] = kv_manifest_column(&t, resp[k]);
  }
  for (long r = 0; rc == KV_OK && r < t.nrows; r++) {
    const char *cs = kv_manifest_cell(&t, r, t.icase), *ss = kv_manifest_cell(&t, r, t.istatus);
    char *end;
    long id = strtol(cs, &end, 10);
    int st = kv_manifest_status(ss);
    if (*end || end == cs || st < 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: bad case id '%s' or status '%s'", csv_path, t.lines[r],
                    cs, ss);
      break;
    }
    if (id < 0 || id >= ncases) {
      continue;
    }
    recs[id].status = st;
    recs[id].wall = strtod(kv_manifest_cell(&t, r, t.iwall), NULL);
    snprintf(recs[id].error, sizeof recs[id].error, "%s", kv_manifest_cell(&t, r, t.ierror));
    for (int k = 0; k < nresp && k < KV_MANIFEST_RESP; k++) {
      const char *cell = rcol[k] >= 0 ? kv_manifest_cell(&t, r, rcol[k]) : "";
      char *e;
      recs[id].resp[k] = strtod(cell, &e);
      if (e == cell || *e) {
        recs[id].resp[k] = NAN;
      }
    }
    if (found) {
      found[id] = 1;
    }
  }
  kv_manifest_table_free(&t);
  return rc;
}

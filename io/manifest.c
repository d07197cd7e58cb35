#include "io/manifest.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/h5.h"
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
    if (*s == '"') fputc('"', f);
    fputc(*s == '\n' || *s == '\r' ? ' ' : *s, f);
  }
  fputc('"', f);
}

static int write_csv(const char *path, const kv_manifest *m) {
  char tmp[4400];
  FILE *f = kv_textfile_begin(path, tmp, sizeof tmp);
  if (!f) return KV_ERR_IO;
  fputs("case", f);
  for (int v = 0; v < m->nvars; v++) {
    fputc(',', f);
    csv_put(f, m->vars[v]);
  }
  fputs(",status,wall_time_s,output,error\n", f);
  for (long r = 0; r < m->nrows; r++) {
    const kv_case_record *rec = &m->recs[r];
    fprintf(f, "%ld", m->ids[r]);
    for (int v = 0; v < m->nvars; v++) {
      fputc(',', f);
      csv_put(f, m->values[r * m->nvars + v]);
    }
    fprintf(f, ",%s,%.3f,", kv_case_status_name(rec->status), rec->wall);
    csv_put(f, m->outputs[r]);
    fputc(',', f);
    csv_put(f, rec->status == KV_CASE_FAILED ? rec->error : "");
    fputc('\n', f);
  }
  /* Renamed after a complete write: a killed process leaves the old manifest or the new one,
   * never a mix. (No fsync per case: it would cost milliseconds per case and guards only
   * against the whole machine failing, which the --resume file check covers anyway.) */
  return kv_textfile_commit(f, tmp, path);
}

int kv_manifest_write(const char *stem, const kv_manifest *m, int with_h5) {
  char path[4200];
  snprintf(path, sizeof path, "%s.csv", stem);
  KV_CHECK(write_csv(path, m));
  if (!with_h5) {
    return KV_OK;
  }
  int ncols = m->nvars + 4;
  kv_h5_column *cols = calloc((size_t)ncols, sizeof *cols);
  double *num = malloc(((size_t)m->nvars + 1) * ((size_t)m->nrows + 1) * sizeof *num);
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
  cols[m->nvars + 3] = (kv_h5_column){"error", NULL, "why the case failed", NULL, err};
  snprintf(path, sizeof path, "%s.h5", stem);
  int rc = kv_h5_write_table(path, m->title, "case", m->ids, m->nrows, cols, ncols);
  free(cols);
  free(num);
  free(text);
  return rc;
}

int kv_csv_split(char *line, char **f, int max) {
  int n = 0;
  char *p = line;
  while (p && n < max) {
    char *w = p, *start = p;
    if (*p == '"') {
      p++;
      start = w = p;
      while (*p && !(*p == '"' && p[1] != '"')) {
        if (*p == '"') p++;
        *w++ = *p++;
      }
      if (*p == '"') p++;
    } else {
      while (*p && *p != ',' && *p != '\n' && *p != '\r') *w++ = *p++;
    }
    char *next = *p == ',' ? p + 1 : NULL;
    *w = '\0';
    f[n++] = start;
    p = next;
  }
  return n;
}

int kv_manifest_read(const char *csv_path, long ncases, kv_case_record *recs, char *found) {
  FILE *fp = fopen(csv_path, "r");
  if (!fp) {
    return KV_ERROR(KV_ERR_IO, "cannot read '%s': %s", csv_path, strerror(errno));
  }
  enum { MAXF = 1024 };
  char *line = malloc(65536), **f = malloc(MAXF * sizeof *f);
  int rc = line && f ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "manifest: out of memory");
  int ic = -1, is = -1, iw = -1, ie = -1, nh = 0, lineno = 0;
  while (rc == KV_OK && fgets(line, 65536, fp)) {
    lineno++;
    int n = kv_csv_split(line, f, MAXF);
    if (lineno == 1) {
      nh = n;
      for (int i = 0; i < n; i++) {
        if (strcmp(f[i], "case") == 0) ic = i;
        if (strcmp(f[i], "status") == 0) is = i;
        if (strcmp(f[i], "wall_time_s") == 0) iw = i;
        if (strcmp(f[i], "error") == 0) ie = i;
      }
      if (ic < 0 || is < 0 || iw < 0 || ie < 0) {
        rc = KV_ERROR(KV_ERR_FORMAT, "%s:1: not a kelvin manifest (no case, status, "
                      "wall_time_s and error columns)", csv_path);
      }
      continue;
    }
    if (n != nh) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: %d fields, the header has %d", csv_path, lineno, n, nh);
      break;
    }
    char *end;
    long id = strtol(f[ic], &end, 10);
    int st = -1;
    for (int k = 0; k < 3; k++) {
      if (strcmp(f[is], status_names[k]) == 0) st = k;
    }
    if (*end || end == f[ic] || st < 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "%s:%d: bad case id '%s' or status '%s'", csv_path, lineno,
                    f[ic], f[is]);
      break;
    }
    if (id < 0 || id >= ncases) {
      continue;
    }
    recs[id].status = st;
    recs[id].wall = strtod(f[iw], NULL);
    snprintf(recs[id].error, sizeof recs[id].error, "%s", f[ie]);
    if (found) found[id] = 1;
  }
  free(line);
  free(f);
  fclose(fp);
  return rc;
}

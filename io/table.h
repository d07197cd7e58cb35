/* kelvin — numeric tables (training data, prediction inputs): a header row of names, one row of
 * numbers per line; comma-separated (CSV), or separated by blanks (a whitespace table, Dakota's
 * annotated tabular format "%eval_id interface x1 ... f ...", whose interface column is dropped).
 * Every cell is checked: a missing, non-numeric or non-finite value is an error naming the file,
 * line and column.
 */
#ifndef KV_TABLE_H
#define KV_TABLE_H

#include <stddef.h>

typedef struct {
  int ncols;
  long nrows;
  char **names; /* ncols column names                    */
  double *v;    /* nrows x ncols, row-major              */
  long *line;   /* the file line of each row (messages)  */
} kv_table;

/* Read path (the separator is told by the first line: commas, else blanks; a leading '%' is
 * Dakota's). Blank lines and lines starting with '#' are skipped. Not collective. */
int kv_table_read_csv(const char *path, kv_table *t);

/* Column index of name, or -1. */
int kv_table_column(const kv_table *t, const char *name);

/* Free the contents (the struct itself is the caller's); NULL and a zeroed table are no-ops. */
void kv_table_free(kv_table *t);

/* Trim white space at both ends of s in place; returns the first non-space character. */
char *kv_table_trim(char *s);

/* Split one CSV line in place into at most max fields (RFC 4180 quoting: "a, b" is one field,
 * "" inside quotes is a quote); a line break ends an unquoted field. Returns the count. The one
 * CSV splitter of kelvin (tables, manifests, sweep case lists). */
int kv_table_split_line(char *line, char **fields, int max);

/* " (did you mean X?)" for the column of t closest to name, or "", into buf (size n). */
const char *kv_table_suggest(const kv_table *t, const char *name, char *buf, size_t n);

#endif

/* Unit tests of io/table (numeric CSV tables and the one CSV line splitter) and of the manifest
 * reader io/manifest: quoting, comments and blank lines, every bad cell named by file, line and
 * column, and manifests written and read back (the table whole, and the case records). */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/manifest.h"
#include "io/table.h"
#include "tests/unit/check.h"

static char g_dir[1024];

static const char *write_file(const char *name, const char *text) {
  static char path[1200];
  snprintf(path, sizeof path, "%s/%s", g_dir, name);
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
  return path;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  snprintf(g_dir, sizeof g_dir, "%s", getenv("OUT") ? getenv("OUT") : "/tmp");
  /* The splitter. */
  char line[] = "a,\"b, c\",\"say \"\"hi\"\"\",,last\n";
  char *f[8];
  int n = kv_table_split_line(line, f, 8);
  CHECK(n == 5 && !strcmp(f[0], "a") && !strcmp(f[1], "b, c") && !strcmp(f[2], "say \"hi\"") &&
            !strcmp(f[3], "") && !strcmp(f[4], "last"),
        "split: quoted separators, doubled quotes, empty fields, the line break (%d fields)", n);
  char two[] = "x,y,z";
  CHECK(kv_table_split_line(two, f, 2) == 2, "split: at most max fields");
  /* A good table. */
  kv_table t;
  const char *p = write_file("table_ok.csv", "# comment\nx, y ,z\n\n1,2,3\n4.5,-1e3, 7\n");
  int rc = kv_table_read_csv(p, &t);
  CHECK(rc == KV_OK && t.ncols == 3 && t.nrows == 2 && kv_table_column(&t, "y") == 1 &&
            kv_table_column(&t, "w") == -1 && t.v[4] == -1e3 && t.line[1] == 5,
        "read: header trimmed, comments and blank lines skipped, values and their lines");
  kv_table_free(&t);
  kv_table_free(&t); /* freeing twice (a zeroed table) is harmless */
  kv_table_free(NULL);
  /* Bad tables: the file, line and column. */
  const struct {
    const char *name, *text, *frag;
  } bad[] = {
      {"t_text.csv", "a,b\n1,2\n3,abc\n", "t_text.csv:3: column 'b': 'abc' is not a number"},
      {"t_nan.csv", "a,b\n1,nan\n", "t_nan.csv:2: column 'b': 'nan' is not a finite number"},
      {"t_ragged.csv", "a,b\n1,2,3\n", "t_ragged.csv:2: 3 values, the header has 2 columns"},
      {"t_dup.csv", "a,a\n1,2\n", "column 'a' appears twice"},
      {"t_empty.csv", "", "is empty"},
      {"t_norows.csv", "a,b\n", "has a header but no rows"},
      {"t_noname.csv", "a,,b\n1,2,3\n", "column 2 has no name"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    p = write_file(bad[i].name, bad[i].text);
    rc = kv_table_read_csv(p, &t);
    CHECK(rc == KV_ERR_FORMAT && strstr(kv_error_message(), bad[i].frag), "read refuses %s: %s",
          bad[i].name, kv_error_message());
  }
  rc = kv_table_read_csv("/nonexistent/t.csv", &t);
  CHECK(rc == KV_ERR_IO && strstr(kv_error_message(), "/nonexistent/t.csv"),
        "a missing table is an I/O error naming it");
  /* Manifests: write, read whole, read the case records. */
  const char *vars[] = {"heat.kappa", "label"};
  const char *values[] = {"0.5", "plain", "2", "with, comma"};
  const char *outputs[] = {"case_0000.h5", "case_0001.h5"};
  long ids[] = {0, 1};
  kv_case_record recs[2] = {{KV_CASE_DONE, 0, 1.25, "", {0.1, -3.5}},
                            {KV_CASE_FAILED, 0, 0.5, "it \"broke\"", {7.0, 8.0}}};
  const char *resp[] = {"f", "g"};
  kv_manifest m = {2, vars, 2, ids, values, outputs, recs, "test", 2, resp};
  char stem[1200], csv[1300];
  snprintf(stem, sizeof stem, "%s/test_manifest", g_dir);
  snprintf(csv, sizeof csv, "%s.csv", stem);
  rc = kv_manifest_write(stem, &m, 1);
  kv_manifest_table mt;
  if (rc == KV_OK) {
    rc = kv_manifest_load(csv, &mt);
  }
  CHECK(rc == KV_OK && mt.nrows == 2 && mt.ncols == 9 && mt.icase == 0 && mt.istatus == 3 &&
            kv_manifest_column(&mt, "f") == 6 && kv_manifest_column(&mt, "g") == 7 &&
            mt.ierror == 8 && !strcmp(kv_manifest_cell(&mt, 0, 6), "0.10000000000000001") &&
            !strcmp(kv_manifest_cell(&mt, 1, 7), "") && kv_manifest_column(&mt, "label") == 2 &&
            !strcmp(kv_manifest_cell(&mt, 1, 2), "with, comma") &&
            !strcmp(kv_manifest_cell(&mt, 1, mt.ierror), "it \"broke\"") &&
            !strcmp(kv_manifest_cell(&mt, 0, mt.ioutput), "case_0000.h5") &&
            kv_manifest_status(kv_manifest_cell(&mt, 1, mt.istatus)) == KV_CASE_FAILED,
        "a manifest written (CSV + HDF5) reads back whole: columns, quoted values, status");
  if (rc == KV_OK) {
    kv_manifest_table_free(&mt);
  }
  kv_case_record back[3];
  char found[3] = {0, 0, 0};
  memset(back, 0, sizeof back);
  rc = kv_manifest_read(csv, 3, 2, resp, back, found);
  CHECK(rc == KV_OK && found[0] && found[1] && !found[2] && back[0].status == KV_CASE_DONE &&
            back[0].wall == 1.25 && back[1].status == KV_CASE_FAILED &&
            !strcmp(back[1].error, "it \"broke\"") && back[0].resp[0] == 0.1 &&
            back[0].resp[1] == -3.5 && isnan(back[1].resp[0]),
        "the case records read back (status, wall time, error, responses exactly; none for a "
        "failed case)");
  p = write_file("m_bad.csv", "case,a,status,wall_time_s,output,error\n0,1,done,1,x.h5,\n1,2\n");
  rc = kv_manifest_load(p, &mt);
  CHECK(rc == KV_ERR_FORMAT && strstr(kv_error_message(), "m_bad.csv:3"),
        "a ragged manifest row is named by line (%s)", kv_error_message());
  p = write_file("m_nohdr.csv", "a,b\n1,2\n");
  rc = kv_manifest_load(p, &mt);
  CHECK(rc == KV_ERR_FORMAT && strstr(kv_error_message(), "not a kelvin manifest"),
        "a CSV without the manifest columns is refused (%s)", kv_error_message());
  p = write_file("m_status.csv", "case,a,status,wall_time_s,output,error\n0,1,finished,1,x.h5,\n");
  rc = kv_manifest_read(p, 1, 0, NULL, back, NULL);
  CHECK(rc == KV_ERR_FORMAT && strstr(kv_error_message(), "m_status.csv:2") &&
            strstr(kv_error_message(), "finished"),
        "an unknown status is named with its line (%s)", kv_error_message());
  MPI_Finalize();
  return kv_test_failed;
}

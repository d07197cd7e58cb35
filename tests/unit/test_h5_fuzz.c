/* Fuzz: a reference output with random bytes overwritten, 400 times. Every reader (probe,
 * describe, list, read) must return a status code: never crash, never hang. The HDF5 library
 * itself crashes on some corruptions; kv_h5_probe must catch those in its child process so that
 * the reads below are only attempted on files it can read. A crash here kills this test, which
 * tests/run.sh counts as a failure. */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/status.h"
#include "io/h5.h"
#include "tests/unit/check.h"

#define REF "tests/ref/heat2d_periodic.h5"
#define OUTDIR "tests/out"
#define MUT OUTDIR "/fuzz.h5"
#define NTRIES 400

static int valid_code(int rc) {
  return rc == KV_OK || rc == KV_ERR_FORMAT || rc == KV_ERR_IO || rc == KV_ERR_NOMEM;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  FILE *fp = fopen(REF, "rb");
  if (!fp) {
    CHECK(0, "reference %s readable", REF);
    MPI_Finalize();
    return 1;
  }
  fseek(fp, 0, SEEK_END);
  long n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *ref = malloc((size_t)n), *buf = malloc((size_t)n);
  if (fread(ref, 1, (size_t)n, fp) != (size_t)n) {
    n = 0;
  }
  fclose(fp);
  srand(12345);
  int counts[KV_NCODES] = {0}, crashes_caught = 0, bad_codes = 0, tries = 0;
  FILE *null = fopen("/dev/null", "w");
  for (int t = 0; t < NTRIES && n > 0; t++) {
    memcpy(buf, ref, (size_t)n);
    int flips = 1 << (rand() % 6); /* 1..32 bytes */
    for (int k = 0; k < flips; k++) {
      buf[rand() % n] = (unsigned char)(rand() % 256);
    }
    FILE *out = fopen(MUT, "wb");
    fwrite(buf, 1, (size_t)n, out);
    fclose(out);
    tries++;
    kv_error_clear();
    int rc = kv_h5_probe(MUT, 1);
    if (rc != KV_OK) {
      crashes_caught += strstr(kv_error_message(), "crashed") != NULL;
      counts[rc]++;
      bad_codes += !valid_code(rc);
      continue;
    }
    /* The probe survived: the real reads must too, and return codes. */
    int r1 = kv_h5_describe(MUT, null);
    char *names = NULL;
    int r2 = kv_h5_list_datasets(MUT, &names);
    bad_codes += !valid_code(r1) + !valid_code(r2);
    if (r2 == KV_OK) {
      for (char *p = names; *p;) {
        char *nl = strchr(p, '\n');
        *nl = '\0';
        kv_h5_array a;
        int r3 = kv_h5_read_array(MUT, p, &a);
        bad_codes += !valid_code(r3);
        counts[r3]++;
        if (r3 == KV_OK) {
          kv_h5_array_free(&a);
        }
        p = nl + 1;
      }
    }
    free(names);
  }
  fclose(null);
  CHECK(tries == NTRIES, "%d corrupted copies of %s read without a crash", tries, REF);
  CHECK(bad_codes == 0, "every failure is a format, I/O or memory error (%d others)", bad_codes);
  CHECK(counts[KV_OK] > 0 && counts[KV_ERR_FORMAT] > 0,
        "some copies still read (%d datasets), others are refused (%d format errors)",
        counts[KV_OK], counts[KV_ERR_FORMAT]);
  printf("# HDF5 library crashes caught by the probe: %d\n", crashes_caught);
  free(ref);
  free(buf);
  MPI_Finalize();
  return kv_test_failed;
}

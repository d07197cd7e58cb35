/* Fuzz: 3000 mutations of a valid configuration (bytes replaced, inserted, deleted; lines
 * duplicated, truncated, lengthened). Parsing, validation and the heat parameters must either
 * succeed or fail with KV_ERR_CONFIG and a message that starts with the file name; never crash. */
#include <mpi.h>
#include <stdlib.h>

#include "core/status.h"
#include "drivers/run.h"
#include "io/config.h"
#include "solvers/heat/heat.h"
#include "tests/unit/check.h"

static const char base[] =
    "[run]\nmodel = heat\noutput = o.h5\nt_end = 0.5\ncfl = 0.5\n[heat]\ndims = 2\n"
    "n = 32, 16\nlength = 2.0, 1.0\nbc = dirichlet\nbc.xlo = neumann\nbc_value.xlo = 1\n"
    "initial = gaussian(0.5, 0.5, 0.05, 100)\nsource = sine(1, 2)\nkappa = 0.5\n";

static const char *const tokens[] = {"=",
                                     "[",
                                     "]",
                                     ",",
                                     "(",
                                     ")",
                                     ";",
                                     "#",
                                     "\n",
                                     " ",
                                     ":/",
                                     "1e999",
                                     "-1",
                                     "nan",
                                     "inf",
                                     "heat.",
                                     "periodic",
                                     "0x10",
                                     "9999999999999999999999",
                                     "\t",
                                     "\\",
                                     "\"",
                                     "[heat]"};

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  srand(4242);
  const int ntries = 3000;
  int ok = 0, config_errors = 0, other = 0, unnamed = 0;
  char buf[4096];
  for (int t = 0; t < ntries; t++) {
    size_t n = strlen(base);
    memcpy(buf, base, n + 1);
    int edits = 1 + rand() % 4;
    for (int e = 0; e < edits; e++) {
      size_t pos = n ? (size_t)rand() % n : 0;
      int kind = rand() % 5;
      if (kind == 0) { /* replace a byte, printable or not (no NUL: text files) */
        buf[pos] = (char)(1 + rand() % 255);
      } else if (kind == 1 && n > 1) { /* delete */
        memmove(buf + pos, buf + pos + 1, n - pos);
        n--;
      } else if (kind == 2) { /* insert a token */
        const char *tok = tokens[rand() % (int)(sizeof tokens / sizeof tokens[0])];
        size_t tl = strlen(tok);
        if (n + tl < sizeof buf - 1) {
          memmove(buf + pos + tl, buf + pos, n - pos + 1);
          memcpy(buf + pos, tok, tl);
          n += tl;
        }
      } else if (kind == 3) { /* a long run of one character */
        size_t len = 50 + (size_t)(rand() % 300);
        if (n + len < sizeof buf - 1) {
          memmove(buf + pos + len, buf + pos, n - pos + 1);
          memset(buf + pos, 'a' + rand() % 26, len);
          n += len;
        }
      } else { /* duplicate a prefix line */
        const char *nl = strchr(buf + pos, '\n');
        size_t len = nl ? (size_t)(nl - (buf + pos)) + 1 : 0;
        if (len && n + len < sizeof buf - 1) {
          memmove(buf + pos + len, buf + pos, n - pos + 1);
          n += len;
        }
      }
      buf[n] = '\0';
    }
    kv_config *cfg = NULL;
    kv_error_clear();
    int rc = kv_config_parse_string(buf, "fuzz.ini", &cfg);
    if (rc == KV_OK) {
      rc = kv_run_validate(cfg);
    }
    if (rc == KV_OK) {
      kv_heat_params p;
      rc = kv_heat_params_from_config(cfg, &p);
    }
    if (rc == KV_OK) {
      char *text = NULL;
      rc = kv_config_to_text(cfg, &text); /* the resolved text must serialise */
      free(text);
    }
    kv_config_free(cfg);
    if (rc == KV_OK) {
      ok++;
    } else if (rc == KV_ERR_CONFIG) {
      config_errors++;
      const char *m = kv_error_message();
      unnamed += strncmp(m, "fuzz.ini", 8) != 0;
      if (strncmp(m, "fuzz.ini", 8) != 0 && unnamed < 5) {
        printf("# unnamed: %s\n", m);
      }
    } else {
      other++;
      if (other < 5) {
        printf("# status %d: %s\n", rc, kv_error_message());
      }
    }
  }
  CHECK(ok + config_errors + other == ntries, "%d mutated configurations handled without a crash",
        ntries);
  CHECK(other == 0, "every refusal is a configuration error (%d others)", other);
  CHECK(unnamed == 0, "every message starts with the file name (%d do not)", unnamed);
  CHECK(ok > 0 && config_errors > 0, "%d still valid, %d refused", ok, config_errors);
  MPI_Finalize();
  return kv_test_failed;
}

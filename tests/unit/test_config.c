/* Unit tests: INI parsing, typed getters, overrides, serialisation, and the messages of config
 * mistakes (each must name the file, the line, the key and what was expected). */
#include <mpi.h>
#include <stdlib.h>

#include "core/status.h"
#include "drivers/run.h"
#include "io/config.h"
#include "solvers/heat/heat.h"
#include "tests/unit/check.h"

static const char good[] = "; a comment\n"
                           "[run]\n"
                           "model = heat\n"
                           "output = runs/t.h5\n"
                           "t_end = 0.5   ; inline comment\n"
                           "\n"
                           "[heat]\n"
                           "dims = 2\n"
                           "n = 32, 16\n"
                           "length = 2.0, 1.0\n"
                           "bc = dirichlet\n"
                           "bc.xlo = neumann\n"
                           "initial = gaussian(0.5, 0.5, 0.05, 100)\n"
                           "kappa = data/k.h5:/kappa\n";

/* Parse + validate text; return status. */
static int load(const char *text, kv_config **cfg) {
  int rc = kv_config_parse_string(text, "case.ini", cfg);
  if (rc == KV_OK) {
    rc = kv_run_validate(*cfg);
  }
  return rc;
}

/* A mistake: the status is KV_ERR_CONFIG and the message contains each fragment. */
static void mistake(const char *what, const char *text, const char *const *frags) {
  kv_config *cfg = NULL;
  kv_error_clear();
  int rc = load(text, &cfg);
  if (rc == KV_OK) {
    kv_heat_params p;
    rc = kv_heat_params_from_config(cfg, &p);
  }
  CHECK(rc == KV_ERR_CONFIG && kv_test_msg_has(kv_error_message(), frags), "%s -> \"%s\"", what,
        kv_error_message());
  kv_config_free(cfg);
}

#define FRAGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define HEAD "[run]\nmodel = heat\noutput = o.h5\nt_end = 1\n[heat]\n"

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  kv_config *cfg = NULL;
  int rc = load(good, &cfg);
  CHECK(rc == KV_OK, "a good file parses and validates (%s)", kv_error_message());
  long dims = 0;
  CHECK(kv_config_get_int(cfg, "heat.dims", 1, 3, &dims) == KV_OK && dims == 2, "int getter");
  long n[4];
  int cnt = 0;
  CHECK(kv_config_get_int_list(cfg, "heat.n", n, 4, &cnt) == KV_OK && cnt == 2 && n[0] == 32 &&
            n[1] == 16,
        "int list getter");
  double len[4];
  CHECK(kv_config_get_double_list(cfg, "heat.length", len, 4, &cnt) == KV_OK && cnt == 2 &&
            len[0] == 2.0,
        "double list getter");
  double t;
  CHECK(kv_config_get_double(cfg, "run.t_end", 0, 10, &t) == KV_OK && t == 0.5,
        "double getter strips inline comments");
  int e = -1;
  CHECK(kv_config_get_enum(cfg, "heat.bc.xlo", "dirichlet|neumann|periodic", &e) == KV_OK && e == 1,
        "enum getter");
  kv_config_func f;
  CHECK(kv_config_get_func(cfg, "heat.initial", &f) == KV_OK && strcmp(f.name, "gaussian") == 0 &&
            f.nargs == 4 && f.args[2] == 0.05 && f.args[3] == 100.0,
        "function-like value gaussian(0.5, 0.5, 0.05, 100)");
  CHECK(kv_config_get_func(cfg, "heat.kappa", &f) == KV_OK && strcmp(f.name, "file") == 0 &&
            strcmp(f.path, "data/k.h5") == 0 && strcmp(f.dataset, "/kappa") == 0,
        "file reference data/k.h5:/kappa");
  double cfl;
  CHECK(kv_config_get_double(cfg, "run.cfl", 0, 1, &cfl) == KV_OK && cfl == 0.9,
        "validation records defaults (run.cfl = 0.9)");
  int ow = 1;
  CHECK(kv_config_get_bool(cfg, "run.overwrite", &ow) == KV_OK && ow == 0, "bool default false");
  /* Overrides. */
  CHECK(kv_config_override(cfg, "heat.n=64, 8") == KV_OK &&
            kv_config_get_int_list(cfg, "heat.n", n, 4, &cnt) == KV_OK && n[0] == 64 && n[1] == 8,
        "command-line override replaces a value");
  CHECK(kv_config_override(cfg, "run.dt = 0.001") == KV_OK &&
            kv_config_get_double(cfg, "run.dt", 0, 1, &t) == KV_OK && t == 0.001,
        "command-line override adds a key");
  kv_error_clear();
  rc = kv_config_override(cfg, "kappa=3");
  CHECK(rc == KV_ERR_USAGE && strstr(kv_error_message(), "section.key=value"),
        "malformed override is refused -> \"%s\"", kv_error_message());
  /* Round trip through text. */
  char *text = NULL;
  CHECK(kv_config_to_text(cfg, &text) == KV_OK && strstr(text, "[heat]") &&
            strstr(text, "n = 64, 8   ; command line") && strstr(text, "cfl = 0.9   ; default"),
        "resolved configuration serialises with defaults and overrides marked");
  kv_config *again = NULL;
  rc = text ? kv_config_parse_string(text, "resolved", &again) : KV_ERR_INVALID;
  CHECK(rc == KV_OK && kv_config_get_int_list(again, "heat.n", n, 4, &cnt) == KV_OK && n[0] == 64 &&
            kv_config_get_double(again, "run.dt", 0, 1, &t) == KV_OK && t == 0.001,
        "serialised text parses back to the same values");
  kv_config_free(again);
  free(text);
  kv_config_free(cfg);

  /* Mistakes: each names file:line, key and expectation. */
  mistake("unknown section", HEAD "n = 4\n[heet]\nx = 1\n",
          FRAGS("case.ini:8", "unknown section [heet]", "[run]", "[heat]"));
  mistake("unknown key with suggestion", HEAD "n = 4\nkapa = 2\n",
          FRAGS("case.ini:7", "unknown key heat.kapa", "did you mean heat.kappa"));
  mistake("wrong type (integer)", HEAD "dims = two\nn = 4\n",
          FRAGS("case.ini:6", "heat.dims = 'two'", "expected an integer in [1, 3]"));
  mistake("out of range", HEAD "dims = 4\nn = 4\n",
          FRAGS("case.ini:6", "heat.dims = '4'", "expected an integer in [1, 3]"));
  mistake(
      "not in enumeration", HEAD "n = 4\nbc = dirichlett\n",
      FRAGS("case.ini:7", "heat.bc = 'dirichlett'", "expected one of dirichlet|neumann|periodic"));
  mistake("bad list item", HEAD "dims = 2\nn = 64, x\n",
          FRAGS("case.ini:7", "heat.n = '64, x'", "comma-separated list of integers"));
  mistake("list of the wrong length", HEAD "dims = 2\nn = 64\n",
          FRAGS("case.ini:7", "heat.n", "expected 2 cell counts"));
  mistake("syntax error", HEAD "n = 4\nthis line has no equals sign\n",
          FRAGS("case.ini:7", "syntax error"));
  mistake("duplicate key", HEAD "n = 4\nn = 8\n",
          FRAGS("case.ini:7", "given twice", "heat.n", "line 6"));
  mistake("bad function arguments", HEAD "n = 4\ninitial = gaussian(0.5)\n",
          FRAGS("case.ini:7", "heat.initial", "gaussian", "sigma > 0"));
  mistake("malformed function", HEAD "n = 4\ninitial = sine(1,\n",
          FRAGS("case.ini:7", "heat.initial = 'sine(1,'", "expected"));
  mistake("missing required key", HEAD "dims = 1\n",
          FRAGS("case.ini", "missing key heat.n", "required"));
  mistake("negative conductivity", HEAD "n = 4\nkappa = -1\n",
          FRAGS("case.ini:7", "heat.kappa = '-1'", "positive"));
  mistake("bad boolean", "[run]\noutput = o.h5\nt_end = 1\noverwrite = maybe\n[heat]\nn = 4\n",
          FRAGS("case.ini:4", "run.overwrite = 'maybe'", "true or false"));
  mistake("negative end time", "[run]\noutput = o.h5\nt_end = -1\n[heat]\nn = 4\n",
          FRAGS("case.ini:3", "run.t_end = '-1'", "expected a number >= 0"));
  mistake("periodic on one face only", HEAD "n = 4\nbc.xlo = periodic\n",
          FRAGS("case.ini:7", "heat.bc.xlo", "both faces"));
  mistake("face that does not exist in 1D", HEAD "n = 4\nbc.ylo = neumann\n",
          FRAGS("case.ini:7", "heat.bc.ylo", "does not exist in 1D"));
  mistake("key outside a section", "t_end = 1\n[run]\noutput = o.h5\n",
          FRAGS("case.ini:1", "outside any [section]"));
  {
    char line[400];
    memset(line, 'x', sizeof line);
    line[sizeof line - 1] = '\0';
    char longtext[600];
    snprintf(longtext, sizeof longtext, HEAD "n = 4\nsource = %s\n", line);
    mistake("over-long line", longtext, FRAGS("case.ini:7", "line too long"));
  }
  /* Missing file is an I/O error naming the file. */
  kv_error_clear();
  rc = kv_config_load(MPI_COMM_WORLD, "no/such/file.ini", &cfg);
  CHECK(rc == KV_ERR_IO && strstr(kv_error_message(), "no/such/file.ini"),
        "missing config file -> \"%s\"", kv_error_message());
  /* A continuation line extends the previous value. */
  rc = kv_config_parse_string("[heat]\nn = 4,\n    8\n", "c.ini", &cfg);
  CHECK(rc == KV_OK && kv_config_get_int_list(cfg, "heat.n", n, 4, &cnt) == KV_OK && cnt == 2 &&
            n[1] == 8,
        "indented continuation line joins the value");
  kv_config_free(cfg);
  MPI_Finalize();
  return kv_test_failed;
}

/* kelvin compare A.h5 B.h5 [--rtol R] [--atol A] [--var NAME ...] */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "core/status.h"
#include "io/h5.h"

#define DEFAULT_RTOL 1e-9
#define DEFAULT_ATOL 1e-12
#define MAX_VARS 64

static const char help[] =
    "usage: kelvin compare A.h5 B.h5 [--rtol R] [--atol A] [--var NAME ...]\n"
    "\n"
    "Compare every numeric dataset the two files have in common (or only the --var ones;\n"
    "repeatable) and print, per dataset, the largest absolute and relative difference.\n"
    "Values match when |a - b| <= atol + rtol * |b| (B is the reference), NaN matches NaN.\n"
    "Datasets marked volatile (wall-clock times) are skipped.\n"
    "\n"
    "  --rtol R   relative tolerance (default 1e-9)\n"
    "  --atol A   absolute tolerance (default 1e-12)\n"
    "\n"
    "exit status: 0 all within tolerance, 1 differences, missing datasets or shapes differ,\n"
    "2 a file cannot be read\n";

static int parse_tol(const char *opt, const char *s, double *out) {
  char *end;
  errno = 0;
  *out = s ? strtod(s, &end) : 0.0;
  if (!s || end == s || *end || errno || !(*out >= 0.0)) {
    return KV_ERROR(KV_ERR_USAGE, "compare: %s expects a non-negative number", opt);
  }
  return KV_OK;
}

/* Compare one dataset; *differs set on mismatch. */
static int compare_one(const char *a, const char *b, const char *name, double rtol, double atol,
                       int *differs) {
  kv_h5_array x, y;
  KV_CHECK(kv_h5_read_array(a, name, &x));
  int rc = kv_h5_read_array(b, name, &y);
  if (rc != KV_OK) {
    kv_h5_array_free(&x);
    return rc;
  }
  int same_shape = x.rank == y.rank;
  for (int i = 0; same_shape && i < x.rank; i++) {
    same_shape = x.dims[i] == y.dims[i];
  }
  if (x.is_volatile || y.is_volatile) {
    printf("  %-28s skipped (volatile)\n", name);
  } else if (!same_shape) {
    printf("  %-28s SHAPE DIFFERS (", name);
    for (int i = 0; i < x.rank; i++) {
      printf("%s%ld", i ? ", " : "", x.dims[i]);
    }
    printf(") vs (");
    for (int i = 0; i < y.rank; i++) {
      printf("%s%ld", i ? ", " : "", y.dims[i]);
    }
    printf(")\n");
    *differs = 1;
  } else {
    double maxabs = 0.0, maxrel = 0.0;
    long nbad = 0, worst = -1;
    for (long i = 0; i < x.count; i++) {
      double u = x.data[i], v = y.data[i];
      if (isnan(u) && isnan(v)) {
        continue;
      }
      double d = fabs(u - v);
      if (isnan(d)) {
        d = INFINITY;
      }
      if (d > maxabs) {
        maxabs = d;
        worst = i;
      }
      if (v != 0.0 && d / fabs(v) > maxrel) {
        maxrel = d / fabs(v);
      }
      if (!(d <= atol + rtol * fabs(v))) {
        nbad++;
      }
    }
    printf("  %-28s max|a-b| %-11.4g max rel %-11.4g %s", name, maxabs, maxrel,
           nbad ? "DIFFERS" : "ok");
    if (nbad) {
      printf(" (%ld of %ld values out of tolerance; worst at flat index %ld)", nbad, x.count,
             worst);
      *differs = 1;
    }
    printf("\n");
  }
  kv_h5_array_free(&x);
  kv_h5_array_free(&y);
  return KV_OK;
}

static int in_list(const char *names, const char *name) {
  size_t n = strlen(name);
  for (const char *p = names; (p = strstr(p, name)); p += n) {
    if ((p == names || p[-1] == '\n') && p[n] == '\n') {
      return 1;
    }
  }
  return 0;
}

static int compare_root(int argc, char **argv) {
  const char *files[2] = {NULL, NULL};
  const char *vars[MAX_VARS];
  int nvars = 0, nfiles = 0;
  double rtol = DEFAULT_RTOL, atol = DEFAULT_ATOL;
  for (int i = 1; i < argc; i++) {
    if (kv_cli_is_help(argv[i])) {
      fputs(help, stdout);
      return KV_OK;
    } else if (strcmp(argv[i], "--rtol") == 0) {
      KV_CHECK(parse_tol("--rtol", i + 1 < argc ? argv[++i] : NULL, &rtol));
    } else if (strcmp(argv[i], "--atol") == 0) {
      KV_CHECK(parse_tol("--atol", i + 1 < argc ? argv[++i] : NULL, &atol));
    } else if (strcmp(argv[i], "--var") == 0) {
      if (i + 1 >= argc || nvars == MAX_VARS) {
        return KV_ERROR(KV_ERR_USAGE, "compare: --var expects a dataset name");
      }
      vars[nvars++] = argv[++i][0] == '/' ? argv[i] + 1 : argv[i];
    } else if (argv[i][0] == '-') {
      static const char *const known[] = {"--rtol", "--atol", "--var", "--help", NULL};
      return kv_cli_unknown_option("compare", argv[i], known);
    } else if (nfiles < 2) {
      files[nfiles++] = argv[i];
    } else {
      return KV_ERROR(KV_ERR_USAGE, "compare: expected two files, got a third: '%s'", argv[i]);
    }
  }
  if (nfiles != 2) {
    return KV_ERROR(KV_ERR_USAGE,
                    "compare: expected two files A.h5 B.h5 (see kelvin compare --help)");
  }
  KV_CHECK(kv_h5_probe(files[0], 1));
  KV_CHECK(kv_h5_probe(files[1], 1));
  char *na = NULL, *nb = NULL;
  KV_CHECK(kv_h5_list_datasets(files[0], &na));
  int rc = kv_h5_list_datasets(files[1], &nb);
  if (rc != KV_OK) {
    free(na);
    return rc;
  }
  printf("compare %s with %s (rtol %g, atol %g)\n", files[0], files[1], rtol, atol);
  int differs = 0, compared = 0;
  if (nvars > 0) {
    for (int v = 0; v < nvars && rc == KV_OK; v++) {
      int ina = in_list(na, vars[v]), inb = in_list(nb, vars[v]);
      if (!ina || !inb) {
        printf("  %-28s MISSING in %s\n", vars[v], !ina ? files[0] : files[1]);
        differs = 1;
        continue;
      }
      rc = compare_one(files[0], files[1], vars[v], rtol, atol, &differs);
      compared++;
    }
  } else {
    for (char *p = na; *p && rc == KV_OK;) {
      char *nl = strchr(p, '\n');
      *nl = '\0';
      if (in_list(nb, p)) {
        rc = compare_one(files[0], files[1], p, rtol, atol, &differs);
        compared++;
      } else {
        printf("  %-28s MISSING in %s\n", p, files[1]);
        differs = 1;
      }
      *nl = '\n';
      p = nl + 1;
    }
    for (char *p = nb; *p;) {
      char *nl = strchr(p, '\n');
      *nl = '\0';
      if (!in_list(na, p)) {
        printf("  %-28s MISSING in %s\n", p, files[0]);
        differs = 1;
      }
      *nl = '\n';
      p = nl + 1;
    }
  }
  free(na);
  free(nb);
  KV_CHECK(rc);
  printf("%s: %d dataset%s compared\n", differs ? "DIFFERENT" : "SAME", compared,
         compared == 1 ? "" : "s");
  return differs ? KV_ERR_MISMATCH : KV_OK;
}

int kv_cmd_compare(MPI_Comm comm, int argc, char **argv) {
  return kv_cli_on_root(comm, compare_root, argc, argv);
}

/* kelvin info FILE.h5 | DIR */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli/cli.h"
#include "core/status.h"
#include "io/h5.h"
#include "io/manifest.h"

static const char help[] =
    "usage: kelvin info FILE.h5\n"
    "       kelvin info SWEEP_DIR\n"
    "       kelvin info --verify FILE.h5|DIR ...\n"
    "\n"
    "Print what is in an HDF5 file: root attributes, every dataset with its type, shape,\n"
    "dimension names, units and attributes, and the stored configuration. For a sweep\n"
    "directory: its design (method, varied keys and their ranges), how many cases are done,\n"
    "failed or pending (from manifest.csv, or the slice manifests of a Slurm array), and the\n"
    "models and validation files beside them.\n"
    "\n"
    "--verify reads every attribute and every value of each file (every .h5 file of a\n"
    "directory), so that each checksum kelvin stored is checked: the metadata checksums of\n"
    "the HDF5 format and the Fletcher32 checksum of every data chunk. It prints one line per\n"
    "file and exits 2 naming the first damaged object of each damaged file. Files written\n"
    "before kelvin stored checksums are read through and reported as unverifiable.\n";

/* One file: a line saying what was verified, or the damage (returned). */
static int verify_one(const char *path) {
  long nd = 0, na = 0;
  int checked = 0;
  int rc = kv_h5_verify(path, &nd, &na, &checked);
  if (rc != KV_OK) {
    fprintf(stderr, "kelvin: error: %s\n", kv_error_message());
    printf("%s: %s\n", path, rc == KV_ERR_IO ? "UNREADABLE" : "DAMAGED");
  } else if (!checked) {
    printf("%s: readable (%ld datasets, %ld attributes), but written without checksums: "
           "nothing to verify against\n",
           path, nd, na);
  } else {
    printf("%s: ok (%ld datasets, %ld attributes verified)\n", path, nd, na);
  }
  return rc;
}

static int name_cmp(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Every .h5 file of a directory, in name order. */
static int verify_dir(const char *dir) {
  DIR *d = opendir(dir);
  if (!d) {
    return KV_ERROR(KV_ERR_IO, "info --verify: cannot read the directory '%s'", dir);
  }
  char **names = NULL;
  size_t n = 0, cap = 0;
  for (struct dirent *e; (e = readdir(d));) {
    size_t l = strlen(e->d_name);
    if (l > 3 && !strcmp(e->d_name + l - 3, ".h5")) {
      if (n == cap) {
        cap = cap ? 2 * cap : 64;
        char **nn = realloc(names, cap * sizeof *nn);
        if (!nn) {
          break;
        }
        names = nn;
      }
      names[n++] = strdup(e->d_name);
    }
  }
  closedir(d);
  qsort(names, n, sizeof *names, name_cmp);
  int worst = KV_OK;
  for (size_t i = 0; i < n; i++) {
    char path[4400];
    snprintf(path, sizeof path, "%s/%s", dir, names[i] ? names[i] : "");
    int rc = names[i] ? verify_one(path) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    worst = worst == KV_OK ? rc : worst;
    free(names[i]);
  }
  free(names);
  if (n == 0) {
    printf("%s: no .h5 files\n", dir);
  }
  return worst;
}

static int verify_all(int argc, char **argv) {
  if (argc < 1) {
    return KV_ERROR(KV_ERR_USAGE,
                    "info --verify: expected FILE.h5 or DIR (see kelvin info --help)");
  }
  int worst = KV_OK, first_bad = -1;
  for (int i = 0; i < argc; i++) {
    struct stat st;
    int rc =
        stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode) ? verify_dir(argv[i]) : verify_one(argv[i]);
    if (rc != KV_OK && worst == KV_OK) {
      worst = rc;
      first_bad = i;
    }
  }
  if (worst != KV_OK) {
    /* main prints the last error: say how many files failed rather than repeat one */
    kv_error_clear();
    return KV_ERROR(worst,
                    "info --verify: a file is damaged or unreadable (first: '%s'); see above",
                    argv[first_bad]);
  }
  return KV_OK;
}

/* A sweep directory: the manifest's summary and what else is there. */
static int describe_dir(const char *dir) {
  char path[4200], title[1024] = "";
  snprintf(path, sizeof path, "%s/manifest.csv", dir);
  kv_manifest_table t = {0};
  int rc = kv_manifest_load(path, &t);
  const char *which = "manifest.csv";
  DIR *d = opendir(dir);
  if (rc != KV_OK && d) { /* a Slurm array not collected yet: the first slice says the design */
    struct dirent *e;
    while ((e = readdir(d))) {
      if (!strncmp(e->d_name, "manifest.slice-", 15) && strstr(e->d_name, ".csv")) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        kv_error_clear();
        rc = kv_manifest_load(path, &t);
        which = "a slice manifest (run kelvin sweep CONFIG --collect to merge)";
        break;
      }
    }
  }
  if (rc != KV_OK) {
    if (d) {
      closedir(d);
    }
    return KV_ERROR(KV_ERR_USAGE,
                    "info: %s is a directory without manifest.csv: not a sweep directory (kelvin "
                    "info takes an HDF5 file or a sweep directory)",
                    dir);
  }
  snprintf(path, sizeof path, "%s/manifest.h5", dir);
  if (kv_h5_read_root_text(path, "title", title, sizeof title) != KV_OK) {
    kv_error_clear();
  }
  long count[3] = {0, 0, 0};
  double wall = 0.0;
  for (long r = 0; r < t.nrows; r++) {
    int st = kv_manifest_status(kv_manifest_cell(&t, r, t.istatus));
    count[st >= 0 && st < 3 ? st : 0]++;
    wall += t.iwall >= 0 ? atof(kv_manifest_cell(&t, r, t.iwall)) : 0.0;
  }
  printf("sweep directory %s\n", dir);
  if (title[0]) {
    printf("  %s\n", title);
  }
  printf("  %ld cases in %s: %ld done, %ld failed, %ld pending; %.3g s of case wall time\n",
         t.nrows, which, count[KV_CASE_DONE], count[KV_CASE_FAILED], count[KV_CASE_PENDING], wall);
  printf("  varied:\n");
  for (int c = 0; c < t.ncols; c++) {
    if (c == t.icase || c == t.istatus || c == t.iwall || c == t.ioutput || c == t.ierror) {
      continue;
    }
    double lo = INFINITY, hi = -INFINITY;
    int numeric = 1;
    for (long r = 0; r < t.nrows; r++) {
      char *end;
      const char *v = kv_manifest_cell(&t, r, c);
      double x = strtod(v, &end);
      numeric &= end != v && !*end;
      lo = x < lo ? x : lo;
      hi = x > hi ? x : hi;
    }
    if (numeric && t.nrows) {
      printf("    %-28s %.6g .. %.6g\n", t.cols[c], lo, hi);
    } else {
      printf("    %-28s (%s)\n", t.cols[c], t.nrows ? kv_manifest_cell(&t, 0, c) : "");
    }
  }
  for (long r = 0, shown = 0; r < t.nrows && shown < 5; r++) {
    if (kv_manifest_status(kv_manifest_cell(&t, r, t.istatus)) == KV_CASE_FAILED) {
      printf("  failed: case %s: %s\n", kv_manifest_cell(&t, r, t.icase),
             t.ierror >= 0 ? kv_manifest_cell(&t, r, t.ierror) : "");
      shown++;
    }
  }
  kv_manifest_table_free(&t);
  if (d) { /* models, validation and predictions made from this sweep */
    rewinddir(d);
    struct dirent *e;
    while ((e = readdir(d))) {
      size_t l = strlen(e->d_name);
      if (l > 3 && !strcmp(e->d_name + l - 3, ".h5") && strncmp(e->d_name, "case_", 5) &&
          strncmp(e->d_name, "manifest", 8)) {
        char kind[64] = "";
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (kv_h5_read_root_text(path, "kind", kind, sizeof kind) == KV_OK) {
          printf("  model: %s (%s)\n", e->d_name, kind);
        } else {
          kv_error_clear();
          printf("  file: %s\n", e->d_name);
        }
      }
    }
    closedir(d);
  }
  return KV_OK;
}

static int info_root(int argc, char **argv) {
  if (argc >= 2 && kv_cli_is_help(argv[1])) {
    fputs(help, stdout);
    return KV_OK;
  }
  if (argc >= 2 && !strcmp(argv[1], "--verify")) {
    return verify_all(argc - 2, argv + 2);
  }
  if (argc != 2) {
    return KV_ERROR(KV_ERR_USAGE,
                    "info: expected one FILE.h5 or SWEEP_DIR (see kelvin info --help)");
  }
  struct stat st;
  if (stat(argv[1], &st) == 0 && S_ISDIR(st.st_mode)) {
    return describe_dir(argv[1]);
  }
  KV_CHECK(kv_h5_probe(argv[1], 0));
  return kv_h5_describe(argv[1], stdout);
}

int kv_cmd_info(MPI_Comm comm, int argc, char **argv) {
  return kv_cli_on_root(comm, info_root, argc, argv);
}

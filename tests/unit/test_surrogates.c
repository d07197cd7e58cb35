/* Every registered surrogate kind, through the interface only (as GSL's multimin test loops over
 * its minimizer types): fit on a small data set of the kind's data (scalar, field, scenarios or
 * snapshots), describe it, save, load, and predict bit-identically with the loaded model (or, for
 * a kind that does not predict, write the loaded model again and compare every dataset bit for
 * bit); refuse an unknown key and a key of another kind, data of the wrong kind, and a file that
 * is not a model. A new kind is tested by this file the moment it is registered. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/config.h"
#include "io/dataset.h"
#include "io/h5.h"
#include "surrogates/surrogate.h"
#include "tests/unit/check.h"

enum { NS = 24, D = 2, NP = 30, NY = 80, NLON = 6, NLAT = 4, NSN = 12 };

static char *g_names[D] = {"a", "b"};
static double g_lon[NLON], g_lat[NLAT], g_x[NP];

static double truth(double a, double b) {
  return sin(3.0 * a) + b * b - 0.5 * a * b;
}

/* A data set of the kind t trains on. Arrays are malloc'd; kv_dataset_free frees them (the
 * names are static: d is cleared before freeing). */
static void make_data(int kind, kv_dataset *ds) {
  memset(ds, 0, sizeof *ds);
  ds->kind = kind;
  snprintf(ds->source, sizeof ds->source, "synthetic");
  if (kind & (KV_DATA_SCALAR | KV_DATA_FIELD)) {
    ds->n = NS;
    ds->d = D;
    ds->names = g_names;
    ds->X = malloc(NS * D * sizeof *ds->X);
    ds->y = malloc(NS * sizeof *ds->y);
    for (int i = 0; i < NS; i++) {
      ds->X[i * D] = (i * 7 % NS + 0.5) / NS;
      ds->X[i * D + 1] = (i * 11 % NS + 0.5) / NS;
      ds->y[i] = truth(ds->X[i * D], ds->X[i * D + 1]);
    }
    snprintf(ds->yname, sizeof ds->yname, kind & KV_DATA_FIELD ? "T" : "y");
  }
  if (kind & KV_DATA_FIELD) {
    ds->npts = NP;
    ds->fields = malloc(NS * NP * sizeof *ds->fields);
    for (int i = 0; i < NS; i++) {
      for (int p = 0; p < NP; p++) {
        double x = g_x[p];
        ds->fields[i * NP + p] = ds->y[i] * sin(3.14159 * x) + ds->X[i * D] * x * x + 1.0;
      }
    }
    kv_field_layout *L = &ds->layout;
    snprintf(L->var, sizeof L->var, "T");
    snprintf(L->units, sizeof L->units, "K");
    L->ndims = 1;
    L->n[0] = NP;
    snprintf(L->axis_name[0], sizeof L->axis_name[0], "x");
    L->coord[0] = malloc(NP * sizeof(double));
    memcpy(L->coord[0], g_x, sizeof g_x);
  }
  if (kind & KV_DATA_SCENARIOS) {
    int ns = 2;
    long np = NLON * NLAT;
    ds->ngroups = ns;
    ds->groups = calloc(ns, sizeof *ds->groups);
    ds->members = calloc(ns, sizeof *ds->members);
    snprintf(ds->groups[0], sizeof ds->groups[0], "low");
    snprintf(ds->groups[1], sizeof ds->groups[1], "high");
    ds->members[0] = ds->members[1] = 1;
    ds->nt = NY;
    ds->year0 = 1850;
    ds->npts = np;
    ds->series = malloc((size_t)ns * NY * np * sizeof *ds->series);
    ds->forcing = malloc((size_t)ns * NY * KV_FORCING_COLS * sizeof *ds->forcing);
    for (int s = 0; s < ns; s++) {
      double g = 0.0;
      for (int t = 0; t < NY; t++) {
        double F = t < 50 ? 0.0 : (s + 1) * 0.08 * (t - 50);
        g += (0.8 * F - g) / 8.0; /* a one-box response */
        double *f = ds->forcing + ((size_t)s * NY + t) * KV_FORCING_COLS;
        f[KV_FORCING_TOTAL] = F;
        f[KV_FORCING_CO2] = 0.9 * F;
        f[KV_FORCING_AEROSOL] = 0.1 * F;
        for (long p = 0; p < np; p++) {
          double lat = g_lat[p / NLON];
          ds->series[((size_t)s * NY + t) * np + p] =
              288.0 - 0.5 * fabs(lat) + g * (1.0 + 0.02 * fabs(lat)) + 0.01 * sin(t + p);
        }
      }
    }
    kv_field_layout *L = &ds->layout;
    snprintf(L->var, sizeof L->var, "tas");
    L->ndims = 2;
    L->n[0] = NLON;
    L->n[1] = NLAT;
    snprintf(L->axis_name[0], sizeof L->axis_name[0], "lon");
    snprintf(L->axis_name[1], sizeof L->axis_name[1], "lat");
    L->coord[0] = malloc(NLON * sizeof(double));
    L->coord[1] = malloc(NLAT * sizeof(double));
    memcpy(L->coord[0], g_lon, sizeof g_lon);
    memcpy(L->coord[1], g_lat, sizeof g_lat);
  }
  if (kind & KV_DATA_SNAPSHOTS) {
    snprintf(ds->model, sizeof ds->model, "synthetic");
    ds->ndims = 1;
    ds->gn[0] = NP;
    ds->gn[1] = ds->gn[2] = 1;
    ds->N = NP;
    ds->m = ds->mf = NSN;
    ds->runs = 2;
    ds->S = malloc((size_t)NP * NSN * sizeof *ds->S);
    ds->F = malloc((size_t)NP * NSN * sizeof *ds->F);
    for (int j = 0; j < NSN; j++) {
      for (int p = 0; p < NP; p++) {
        double u = exp(-0.1 * j) * sin(3.14159 * g_x[p]) + 0.05 * j * g_x[p] * (1 - g_x[p]);
        ds->S[(size_t)j * NP + p] = u;
        ds->F[(size_t)j * NP + p] = -u * u * u + 0.3 * u;
      }
    }
  }
}

static void free_data(kv_dataset *ds) {
  ds->names = NULL; /* static */
  ds->d = 0;
  kv_dataset_free(ds);
}

/* Test inputs of a kind's data and their count. */
static double *test_inputs(const kv_surrogate_type *t, long *n) {
  if (t->data & KV_DATA_SCENARIOS) {
    *n = NY;
    double *X = malloc(NY * KV_SCENARIO_COLS * sizeof *X);
    for (int y = 0; y < NY; y++) {
      double F = y < 50 ? 0.0 : 0.12 * (y - 50);
      X[y * KV_SCENARIO_COLS + KV_FORCING_TOTAL] = F;
      X[y * KV_SCENARIO_COLS + KV_FORCING_CO2] = 0.9 * F;
      X[y * KV_SCENARIO_COLS + KV_FORCING_AEROSOL] = 0.1 * F;
      X[y * KV_SCENARIO_COLS + KV_SCENARIO_GLOBAL_TRUE] = NAN;
    }
    return X;
  }
  *n = 5;
  double *X = malloc(5 * D * sizeof *X);
  for (int i = 0; i < 5 * D; i++) {
    X[i] = 0.13 + 0.17 * i - 0.2 * (i % 3);
  }
  return X;
}

/* Every dataset of two model files equal bit for bit. */
static int same_files(const char *a, const char *b, int *count) {
  char *la = NULL, *lb = NULL;
  *count = 0;
  if (kv_h5_list_datasets(a, &la) != KV_OK || kv_h5_list_datasets(b, &lb) != KV_OK ||
      strcmp(la, lb) != 0) {
    free(la);
    free(lb);
    return 0;
  }
  int same = 1;
  for (char *tok = strtok(la, "\n"); tok && same; tok = strtok(NULL, "\n")) {
    kv_h5_array x = {0}, y = {0};
    same = kv_h5_read_array(a, tok, &x) == KV_OK && kv_h5_read_array(b, tok, &y) == KV_OK &&
           x.count == y.count && memcmp(x.data, y.data, (size_t)x.count * sizeof(double)) == 0;
    kv_h5_array_free(&x);
    kv_h5_array_free(&y);
    (*count)++;
  }
  free(la);
  free(lb);
  return same;
}

/* Validate "[surrogate] kind = t, extra" against the tables of its kind. */
static int validate(const kv_surrogate_type *t, const char *extra, kv_config **out) {
  char text[512];
  const kv_config_key *mine[4] = {t->keys[0], t->keys[1], t->keys[2], NULL};
  int gp = kv_config_key_find(mine, "surrogate.restarts") != NULL; /* one start: quick */
  snprintf(text, sizeof text, "[surrogate]\nkind = %s\n%s%s\n", t->name, gp ? "restarts = 0\n" : "",
           extra);
  KV_CHECK(kv_config_parse_string(text, "kinds.ini", out));
  const kv_config_key *tables[KV_SURROGATE_MAX_TABLES + 1];
  KV_CHECK(kv_surrogate_key_tables(*out, tables));
  return kv_config_validate(*out, tables);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  for (int i = 0; i < NLON; i++) {
    g_lon[i] = (i + 0.5) * 360.0 / NLON;
  }
  for (int j = 0; j < NLAT; j++) {
    g_lat[j] = -90.0 + (j + 0.5) * 180.0 / NLAT;
  }
  for (int p = 0; p < NP; p++) {
    g_x[p] = (p + 0.5) / NP;
  }
  const char *out = getenv("OUT") ? getenv("OUT") : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  int nk = 0;
  for (int i = 0; kv_surrogate_type_at(i); i++, nk++) {
    const kv_surrogate_type *t = kv_surrogate_type_at(i);
    kv_config *cfg = NULL;
    void *params = NULL;
    kv_dataset ds;
    kv_surrogate *s = NULL, *l = NULL;
    make_data(t->data, &ds);
    int rc = validate(t, "", &cfg);
    if (rc == KV_OK) {
      rc = kv_surrogate_params_create(t, cfg, &params);
    }
    if (rc == KV_OK) {
      rc = kv_surrogate_fit(t, &ds, params, "[surrogate]\nkind = test\n", &s);
    }
    CHECK(rc == KV_OK, "%s: fit on synthetic %s data (%s)", t->name,
          t->data & KV_DATA_SCALAR      ? "scalar"
          : t->data & KV_DATA_FIELD     ? "field"
          : t->data & KV_DATA_SCENARIOS ? "scenario"
                                        : "snapshot",
          rc ? kv_error_message() : "ok");
    if (rc != KV_OK) {
      free_data(&ds);
      kv_config_free(cfg);
      continue;
    }
    char desc[4096] = "";
    FILE *mf = fmemopen(desc, sizeof desc - 1, "w");
    rc = mf ? kv_surrogate_describe(s, mf) : KV_ERR_IO;
    if (mf) {
      fclose(mf);
    }
    CHECK(rc == KV_OK && strlen(desc) > 20, "%s: describe says what was fitted (%.*s ...)", t->name,
          (int)strcspn(desc, "\n"), desc);
    char p1[1200], p2[1200];
    snprintf(p1, sizeof p1, "%s/test_surrogates_%s.h5", out, t->name);
    snprintf(p2, sizeof p2, "%s/test_surrogates_%s_again.h5", out, t->name);
    rc = kv_surrogate_save(s, p1);
    if (rc == KV_OK) {
      rc = kv_surrogate_load(p1, &l);
    }
    /* A selecting kind (auto) writes its winner: the kind is the fitted model's. */
    CHECK(rc == KV_OK && strcmp(kv_surrogate_kind(l), kv_surrogate_kind(s)) == 0 &&
              (t->selects || strcmp(kv_surrogate_kind(s), t->name) == 0) &&
              kv_surrogate_ninputs(l) == kv_surrogate_ninputs(s) &&
              strcmp(kv_surrogate_output(l), kv_surrogate_output(s)) == 0 &&
              kv_surrogate_noutputs(l) == kv_surrogate_noutputs(s) &&
              strcmp(kv_surrogate_config(l), kv_surrogate_config(s)) == 0,
          "%s: save + load keep the kind, %d inputs, output '%s', %ld outputs per point and the "
          "configuration",
          t->name, kv_surrogate_ninputs(s), kv_surrogate_output(s), kv_surrogate_noutputs(s));
    if (rc == KV_OK && kv_surrogate_type_get(s)->predict) {
      long n;
      double *X = test_inputs(t, &n);
      long no = kv_surrogate_noutputs(s);
      double *m1 = malloc(n * no * sizeof *m1), *v1 = malloc(n * no * sizeof *v1);
      double *m2 = malloc(n * no * sizeof *m2), *v2 = malloc(n * no * sizeof *v2);
      int r1 = kv_surrogate_predict(s, n, X, m1, v1), r2 = kv_surrogate_predict(l, n, X, m2, v2);
      int finite = 1;
      for (long q = 0; q < n * no; q++) {
        finite &= isfinite(m1[q]) && v1[q] >= 0.0;
      }
      CHECK(r1 == KV_OK && r2 == KV_OK && finite && memcmp(m1, m2, n * no * sizeof *m1) == 0 &&
                memcmp(v1, v2, n * no * sizeof *v1) == 0,
            "%s: the loaded model predicts %ld points bit-identically (means finite, variances "
            ">= 0)",
            t->name, n);
      if (t->data & KV_DATA_SCALAR) {
        double err = 0.0;
        for (int q = 0; q < NS && r1 == KV_OK; q++) {
          double m, v;
          kv_surrogate_predict(s, 1, ds.X + q * D, &m, &v);
          err = fmax(err, fabs(m - ds.y[q]));
        }
        CHECK(err < 0.05, "%s: reproduces its training outputs (largest error %.2e)", t->name, err);
      }
      free(X);
      free(m1);
      free(v1);
      free(m2);
      free(v2);
    } else if (rc == KV_OK) {
      double m = 0.0;
      int cnt = 0, r = kv_surrogate_predict(s, 1, &m, &m, NULL);
      rc = kv_surrogate_save(l, p2);
      CHECK(r == KV_ERR_UNSUPPORTED && rc == KV_OK && same_files(p1, p2, &cnt) && cnt > 2,
            "%s: does not predict (refused clearly); the loaded model writes the same %d datasets "
            "bit for bit",
            t->name, cnt);
      remove(p2);
    }
    remove(p1);
    /* Bad keys: an unknown one, and one of another kind this kind does not take. */
    kv_config *bad = NULL;
    rc = validate(t, "bogus = 1", &bad);
    CHECK(rc == KV_ERR_CONFIG && strstr(kv_error_message(), "surrogate.bogus") &&
              strstr(kv_error_message(), "kinds.ini:"),
          "%s: an unknown key is refused with file:line and key (%s)", t->name, kv_error_message());
    kv_config_free(bad);
    const char *foreign = NULL;
    for (int j = 0; kv_surrogate_type_at(j) && !foreign; j++) {
      const kv_surrogate_type *o = kv_surrogate_type_at(j);
      for (int k = 0; k < 3 && o->keys[k] && !foreign; k++) {
        for (const kv_config_key *e = o->keys[k]; e->key && !foreign; e++) {
          const kv_config_key *mine[4] = {t->keys[0], t->keys[1], t->keys[2], NULL};
          if (!kv_config_key_find(mine, e->key) &&
              !kv_config_key_find(
                  (const kv_config_key *const[]){kv_surrogate_keys, kv_dataset_keys, NULL},
                  e->key)) {
            foreign = e->key;
          }
        }
      }
    }
    if (foreign) {
      char extra[128];
      snprintf(extra, sizeof extra, "%s = 1", foreign + strlen("surrogate."));
      rc = validate(t, extra, &bad);
      CHECK(rc == KV_ERR_CONFIG && strstr(kv_error_message(), foreign),
            "%s: %s (another kind's key) is refused (%s)", t->name, foreign, kv_error_message());
      kv_config_free(bad);
    }
    /* Data of another kind. */
    kv_dataset other;
    make_data(t->data & KV_DATA_SCALAR ? KV_DATA_SNAPSHOTS : KV_DATA_SCALAR, &other);
    kv_surrogate *x = NULL;
    rc = kv_surrogate_fit(t, &other, params, NULL, &x);
    CHECK(rc == KV_ERR_INVALID && x == NULL, "%s: data of another kind is refused", t->name);
    free_data(&other);
    kv_surrogate_params_free(t, params);
    kv_surrogate_free(s);
    kv_surrogate_free(l);
    free_data(&ds);
    kv_config_free(cfg);
  }
  CHECK(nk >= 4, "%d kinds registered and tested", nk);
  kv_surrogate *z = NULL;
  int rc = kv_surrogate_load("/nonexistent/model.h5", &z);
  CHECK(rc != KV_OK && z == NULL, "loading a missing file is an error (%s)", kv_error_message());
  MPI_Finalize();
  return kv_test_failed;
}

/* The training snapshots of a ROM basis (kelvin fit with surrogate.kind = pod): states from the
 * records of run files, tendencies F from the model's residual hook, the split N = F - L u. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "io/h5.h"
#include "solvers/rom/rom_impl.h"

void kv_rom_snapshots_free(kv_rom_snapshots *s) {
  if (!s) {
    return;
  }
  free(s->S);
  free(s->F);
  free(s->uref);
  memset(s, 0, sizeof *s);
}

/* Append the nrec x N array v to the column-major snapshot matrix *S of *m columns. */
static int append_snapshots(double **S, long *m, long N, const double *v, long nrec) {
  double *t = realloc(*S, ((size_t)(*m + nrec) * (size_t)N + 1) * sizeof *t);
  if (!t) {
    return KV_ERROR(KV_ERR_NOMEM, "rom: out of memory for %ld snapshots of %ld cells", *m + nrec,
                    N);
  }
  memcpy(t + (size_t)*m * N, v, (size_t)nrec * (size_t)N * sizeof *v);
  *S = t;
  *m += nrec;
  return KV_OK;
}

/* The configuration stored in a run file, validated, and its model type. */
static int case_config(const char *file, kv_config **out, const kv_model_type **type) {
  KV_CHECK(kv_h5_probe(file, 0));
  kv_h5_store *s = NULL;
  char *text = NULL;
  kv_config *c = NULL;
  int rc = kv_h5_store_open(file, &s);
  if (rc == KV_OK) {
    rc = kv_h5_store_get_text(s, "/", "config", &text);
  }
  if (s) {
    int rc2 = kv_h5_store_close(s, 0);
    if (rc == KV_OK) {
      rc = rc2;
    }
  }
  if (rc == KV_OK) {
    rc = kv_config_parse_string(text, file, &c);
  }
  if (rc == KV_OK) {
    rc = kv_model_config_validate(c);
  }
  free(text);
  if (rc == KV_OK) {
    rc = kv_model_type_of(c, type);
  }
  if (rc == KV_OK && (!(*type)->residual || (*type)->wraps_key)) {
    rc = KV_ERROR(KV_ERR_UNSUPPORTED,
                  "'%s': a POD ROM is built for a model with reduced-order "
                  "hooks (%s), this file is of model %s",
                  file, kv_model_reducible_choices, (*type)->name);
  }
  if (rc != KV_OK) {
    kv_config_free(c);
    return rc;
  }
  *out = c;
  return KV_OK;
}

/* Snapshots of a model without stored instantaneous states (the ebm records annual means): run
 * the case again on this process and keep the state and F of every `every`-th step, the initial
 * state first. */
static int resimulate(const kv_config *c, const kv_model_type *t, const char *file, long every,
                      long *N, int *nd, long *n, double **S, long *m, double **SF, long *mf) {
  kv_model *md = NULL;
  kv_field *f = NULL;
  kv_model_info in;
  double *buf = NULL;
  int rc = kv_model_create(t, MPI_COMM_SELF, c, &md);
  if (rc == KV_OK) {
    rc = kv_model_info_get(md, &in);
  }
  if (rc == KV_OK) {
    rc = kv_field_create(in.grid, &f);
  }
  if (rc != KV_OK) {
    goto done;
  }
  *nd = kv_grid_ndims(in.grid);
  for (int d = 0; d < 3; d++) {
    n[d] = kv_grid_global_n(in.grid)[d];
  }
  long cells = kv_grid_global_count(in.grid);
  if (*N > 0 && cells != *N) {
    rc = KV_ERROR(KV_ERR_INVALID,
                  "'%s' is on another grid than the first run: one basis needs "
                  "one grid",
                  file);
    goto done;
  }
  *N = cells;
  buf = malloc((size_t)cells * sizeof *buf);
  if (!buf) {
    rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    goto done;
  }
  long total = in.nsteps - in.step0, tick = total / 10 > 0 ? total / 10 : 1;
  for (long k = in.step0; rc == KV_OK && k <= in.nsteps; k++) {
    if ((k - in.step0) % every == 0) {
      const kv_field *u;
      rc = t->state(md, &u);
      if (rc == KV_OK) {
        kv_field_pack(u, buf);
        rc = append_snapshots(S, m, cells, buf, 1);
      }
      if (rc == KV_OK) {
        rc = t->residual(md, k, u, f);
      }
      if (rc == KV_OK) {
        kv_field_pack(f, buf);
        rc = append_snapshots(SF, mf, cells, buf, 1);
      }
    }
    double tt;
    if (rc == KV_OK && k < in.nsteps) {
      rc = kv_model_step(md, &tt);
    }
    if (rc == KV_OK && (k - in.step0 + 1) % tick == 0 && k < in.nsteps) {
      kv_info("fit: %s: step %ld of %ld re-simulated", file, k - in.step0 + 1, total);
    }
  }
done:
  free(buf);
  kv_field_free(f);
  kv_model_free(md);
  return rc;
}

/* The steps of the records of a run file (/diagnostics/step), or 0 for each when absent. */
static void record_steps(const char *file, long nrec, long *steps) {
  kv_h5_array a = {0};
  int have = kv_h5_read_array(file, "diagnostics/step", &a) == KV_OK && a.count == nrec;
  for (long j = 0; j < nrec; j++) {
    steps[j] = have ? lround(a.data[j]) : 0;
  }
  kv_h5_array_free(&a);
  kv_error_clear();
}

static int hooks_model(const kv_model_type *t, const kv_config *c, kv_model **m) {
  return t->create_hooks ? t->create_hooks(MPI_COMM_SELF, c, m) : t->create(MPI_COMM_SELF, c, m);
}

/* The records of the state of one run and, for a nonlinear model, F at each. */
static int record_snapshots(const char *file, const kv_model_type *t, kv_model *md,
                            const kv_model_info *in, kv_rom_snapshots *o, int nonlinear) {
  kv_h5_array a = {0};
  kv_field *u = NULL, *f = NULL;
  long *steps = NULL;
  double *fr = NULL;
  int rc = kv_h5_read_array(file, t->state_var, &a);
  long N = o->N;
  if (rc == KV_OK && (a.count % N != 0 || a.count == 0)) {
    rc = KV_ERROR(KV_ERR_FORMAT, "'%s': %s has %ld values, not whole fields of %ld cells", file,
                  t->state_var, a.count, N);
  }
  long nrec = rc == KV_OK ? a.count / N : 0;
  if (rc == KV_OK) {
    rc = append_snapshots(&o->S, &o->m, N, a.data, nrec);
  }
  if (rc == KV_OK && nonlinear) {
    steps = malloc(((size_t)nrec + 1) * sizeof *steps);
    fr = malloc(((size_t)N + 1) * sizeof *fr);
    rc = steps && fr ? kv_field_create(in->grid, &u) : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
    if (rc == KV_OK) {
      rc = kv_field_create(in->grid, &f);
    }
    if (rc == KV_OK) {
      record_steps(file, nrec, steps);
    }
    for (long j = 0; rc == KV_OK && j < nrec; j++) {
      kv_field_unpack(a.data + (size_t)j * N, u);
      rc = t->residual(md, steps[j], u, f);
      if (rc == KV_OK) {
        kv_field_pack(f, fr);
        rc = append_snapshots(&o->F, &o->mf, N, fr, 1);
      }
    }
  }
  free(steps);
  free(fr);
  kv_field_free(u);
  kv_field_free(f);
  kv_h5_array_free(&a);
  return rc;
}

/* A nonlinear run whose F snapshots are turned into N = F - L u once u_ref is known. */
typedef struct {
  kv_config *cfg;
  const kv_model_type *type;
  const char *file;
  long s0, f0, nrec; /* its first columns in S and F, and its records */
} split_case;

/* N = F - L u for the columns of every split case, L the Jacobian of F at uref (the mean of all
 * state snapshots): the ROM then projects L exactly and interpolates only N. */
static int split_tendencies(kv_rom_snapshots *o, split_case *sc, long nsc, double eps) {
  long N = o->N;
  o->uref = calloc((size_t)N + 1, sizeof *o->uref);
  double *tmp = malloc(((size_t)N + 1) * sizeof *tmp), *Lu = malloc(((size_t)N + 1) * sizeof *Lu);
  long *steps = NULL;
  int rc = o->uref && tmp && Lu ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  for (long j = 0; rc == KV_OK && j < o->m; j++) {
    cblas_daxpy((int)N, 1.0 / (double)o->m, o->S + (size_t)j * N, 1, o->uref, 1);
  }
  for (long q = 0; rc == KV_OK && q < nsc; q++) {
    kv_model *md = NULL;
    kv_model_info in;
    kv_field *u = NULL, *f = NULL;
    rc = hooks_model(sc[q].type, sc[q].cfg, &md);
    if (rc == KV_OK) {
      rc = kv_model_info_get(md, &in);
    }
    if (rc == KV_OK) {
      rc = kv_field_create(in.grid, &u);
    }
    if (rc == KV_OK) {
      rc = kv_field_create(in.grid, &f);
    }
    if (rc == KV_OK) {
      free(steps);
      steps = malloc(((size_t)sc[q].nrec + 1) * sizeof *steps);
      if (!steps) {
        rc = KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
      } else {
        record_steps(sc[q].file, sc[q].nrec, steps);
      }
    }
    for (long j = 0; rc == KV_OK && j < sc[q].nrec; j++) {
      rc = kv_rom_jacobian_apply(md, steps[j], MPI_COMM_SELF, N, o->uref,
                                 o->S + (size_t)(sc[q].s0 + j) * N, eps, u, f, tmp, Lu);
      if (rc == KV_OK) {
        cblas_daxpy((int)N, -1.0, Lu, 1, o->F + (size_t)(sc[q].f0 + j) * N, 1);
      }
    }
    kv_field_free(u);
    kv_field_free(f);
    kv_model_free(md);
  }
  free(steps);
  free(tmp);
  free(Lu);
  return rc;
}

int kv_rom_snapshots_collect(char *const *files, long nfiles, long every, kv_rom_snapshots *o) {
  memset(o, 0, sizeof *o);
  if (nfiles < 1) {
    return KV_ERROR(KV_ERR_INVALID, "rom: no training runs");
  }
  kv_rom_params defaults;
  kv_rom_params_default(&defaults);
  split_case *sc = calloc((size_t)nfiles + 1, sizeof *sc);
  long nsc = 0;
  const kv_model_type *t0 = NULL;
  int linear = 1, rc = sc ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  o->n[0] = o->n[1] = o->n[2] = 1;
  for (long i = 0; rc == KV_OK && i < nfiles; i++) {
    kv_config *c = NULL;
    const kv_model_type *t = NULL;
    kv_model *md = NULL;
    kv_model_info in;
    memset(&in, 0, sizeof in);
    rc = case_config(files[i], &c, &t);
    if (rc != KV_OK) {
      break;
    }
    if (i == 0) {
      snprintf(o->model, sizeof o->model, "%s", t->name);
      t0 = t;
    } else if (t != t0) {
      rc = KV_ERROR(KV_ERR_INVALID, "'%s' is a run of model %s, '%s' of %s: one basis, one model",
                    files[i], t->name, files[0], o->model);
    }
    if (rc == KV_OK) {
      rc = hooks_model(t, c, &md);
    }
    if (rc == KV_OK) {
      rc = kv_model_info_get(md, &in);
    }
    if (rc == KV_OK && in.record_means) {
      /* Its records are means, not states: run it again for the states. */
      kv_model_free(md);
      md = NULL;
      linear = 0;
      rc = resimulate(c, t, files[i], every, &o->N, &o->ndims, o->n, &o->S, &o->m, &o->F, &o->mf);
      kv_config_free(c);
      continue;
    }
    if (rc == KV_OK) {
      long cells = kv_grid_global_count(in.grid);
      if (i == 0) {
        o->N = cells;
        o->ndims = kv_grid_ndims(in.grid);
        for (int d = 0; d < 3; d++) {
          o->n[d] = kv_grid_global_n(in.grid)[d];
        }
      } else if (cells != o->N) {
        rc = KV_ERROR(KV_ERR_INVALID,
                      "'%s' is on another grid than '%s': one basis needs one "
                      "grid",
                      files[i], files[0]);
      }
      if (rc == KV_OK && !t->state_var) {
        rc = KV_ERROR(KV_ERR_UNSUPPORTED, "model %s does not record its state", t->name);
      }
    }
    int nonlinear = !(in.linear && t->linear_part);
    long s0 = o->m, f0 = o->mf;
    if (rc == KV_OK) {
      rc = record_snapshots(files[i], t, md, &in, o, nonlinear);
    }
    kv_model_free(md);
    if (rc == KV_OK && nonlinear && !in.linear_implicit) {
      sc[nsc] = (split_case){c, t, files[i], s0, f0, o->m - s0};
      nsc++;
      c = NULL;
    }
    linear &= !nonlinear;
    kv_config_free(c);
  }
  if (rc == KV_OK && nsc > 0) {
    rc = split_tendencies(o, sc, nsc, defaults.jacobian_eps);
  }
  for (long q = 0; q < nsc; q++) {
    kv_config_free(sc[q].cfg);
  }
  free(sc);
  o->linear = linear;
  o->runs = nfiles;
  if (rc == KV_OK && linear) {
    free(o->F);
    o->F = NULL;
    o->mf = 0;
  }
  if (rc != KV_OK) {
    kv_rom_snapshots_free(o);
  }
  return rc;
}

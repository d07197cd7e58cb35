#include "core/comm.h"
#include "drivers/validate_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "core/status.h"
#include "drivers/fit.h"
#include "io/manifest.h"
#include "io/safefile.h"
#include "solvers/model.h"
#include "solvers/rom/rom.h"

const char *const kv_metric_names[KV_M_COUNT] = {
    "rmse",         "mae",         "max_abs",    "rel_l2", "r2",     "nrmse_spatial",
    "nrmse_global", "nrmse_total", "coverage95", "msll",   "speedup"};

/* r2, coverage95 and speedup are better when larger: their tolerance is a minimum. */
static int lower_bound(int m) {
  return m == KV_M_R2 || m == KV_M_COVERAGE95 || m == KV_M_SPEEDUP;
}

#define TOL(name, doc)                                                                             \
  { "validate.tolerance." name, KV_CFG_DOUBLE, NULL, NULL, KV_CFG_NORANGE, doc }
const kv_config_key kv_validate_keys[] = {
    {"validate.samples", KV_CFG_INT, NULL, NULL, 1, 100000000,
     "scalar and field kinds (gp, pcagp): held-out cases, new LHS points over the sweep's ranges"},
    {"validate.seed", KV_CFG_INT, "99", NULL, 0, 4294967295.0, "seed of the held-out design"},
    {"validate.scenarios", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "scenario kinds (pattern): held-out scenarios (the truth is their ensemble mean)"},
    {"validate.members", KV_CFG_INT, "1", NULL, 1, 100000,
     "scenario kinds: members per held-out scenario"},
    {"validate.members_study", KV_CFG_INT_LIST, NULL, NULL, 1, 100000,
     "scenario kinds: refit on ensemble means of this many members each and score each refit (the "
     "internal-variability noise floor)"},
    {"validate.vary", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "ROM bases (pod): held-out cases as a grid, like sweep.vary (e.g. heat.source_scale = 1.3|3); "
     "else "
     "validate.samples new LHS points"},
    {"validate.rom_tolerance", KV_CFG_DOUBLE, "1e-3", NULL, 0.0, INFINITY,
     "ROM bases: rom.tolerance of the ROM runs"},
    {"validate.rom_adaptive", KV_CFG_BOOL, "true", NULL, KV_CFG_NORANGE,
     "ROM bases: rom.adaptive of the ROM runs (false: the indicator only watches)"},
    {"validate.dir", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "where validation.h5/.md and the held-out runs go (default: the sweep directory)"},
    {"validate.years", KV_CFG_STRING, "2080:2100", NULL, KV_CFG_NORANGE,
     "climate fields: the evaluation window, first:last year"},
    {"validate.files", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "a model of files (surrogate.data = files): the held-out field files, glob patterns"},
    {"validate.inputs_table", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "their inputs, one row per file in name order"},
    TOL("rmse", "fail (exit 1) above this RMSE"),
    TOL("mae", "fail above this mean absolute error"),
    TOL("max_abs", "fail above this largest error"),
    TOL("rel_l2", "fail above this relative L2 error"),
    TOL("r2", "fail below this R^2"),
    TOL("nrmse_spatial", "fail above this ClimateBench spatial NRMSE"),
    TOL("nrmse_global", "fail above this ClimateBench global NRMSE"),
    TOL("nrmse_total", "fail above this ClimateBench total NRMSE"),
    TOL("coverage95", "fail below this fraction of truths in the 95 % interval"),
    TOL("msll", "fail above this mean standardised log loss (gp)"),
    TOL("speedup", "fail below this speed-up over the full solver"),
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

void kv_validation_add(kv_validation *v, int m, double x, double weight) {
  v->value[m] += weight * x;
  v->have[m] = 1;
}

int kv_validate_params_from_config(const kv_config *cfg, kv_validate_params *p) {
  memset(p, 0, sizeof *p);
  long seed;
  const char *yr, *v;
  int n = 0;
  if (kv_config_has(cfg, "validate.samples")) {
    KV_CHECK(kv_config_get_int(cfg, "validate.samples", 1, 100000000, &p->samples));
  }
  KV_CHECK(kv_config_get_int(cfg, "validate.seed", 0, 4294967295L, &seed));
  p->seed = (unsigned long)seed;
  KV_CHECK(kv_config_get_int(cfg, "validate.members", 1, 100000, &p->members));
  if (kv_config_has(cfg, "validate.members_study")) {
    KV_CHECK(kv_config_get_int_list(cfg, "validate.members_study", p->study, 64, &p->nstudy));
  }
  if ((v = kv_config_value(cfg, "validate.scenarios"))) {
    snprintf(p->scenarios, sizeof p->scenarios, "%s", v);
  }
  if ((v = kv_config_value(cfg, "validate.vary"))) {
    snprintf(p->vary, sizeof p->vary, "%s", v);
  }
  if ((v = kv_config_value(cfg, "validate.dir"))) {
    snprintf(p->dir, sizeof p->dir, "%s", v);
  }
  if ((v = kv_config_value(cfg, "validate.files"))) {
    snprintf(p->files, sizeof p->files, "%s", v);
  }
  if ((v = kv_config_value(cfg, "validate.inputs_table"))) {
    snprintf(p->inputs_table, sizeof p->inputs_table, "%s", v);
  }
  if ((v = kv_config_value(cfg, "surrogate.files"))) {
    snprintf(p->set_dir, sizeof p->set_dir, "%s", v);
  }
  KV_CHECK(kv_config_get_double(cfg, "validate.rom_tolerance", 0.0, INFINITY, &p->rom_tolerance));
  if (!(p->rom_tolerance > 0.0)) {
    return kv_config_errorf(cfg, "validate.rom_tolerance", "expected a positive tolerance");
  }
  KV_CHECK(kv_config_get_bool(cfg, "validate.rom_adaptive", &p->rom_adaptive));
  KV_CHECK(kv_config_get_string(cfg, "validate.years", &yr));
  if (sscanf(yr, "%d:%d%n", &p->year_first, &p->year_last, &n) != 2 || yr[n] ||
      p->year_last < p->year_first) {
    return kv_config_errorf(cfg, "validate.years", "expected FIRST:LAST (e.g. 2080:2100)");
  }
  for (int m = 0; m < KV_M_COUNT; m++) {
    char key[64];
    snprintf(key, sizeof key, "validate.tolerance.%s", kv_metric_names[m]);
    if (kv_config_has(cfg, key)) {
      KV_CHECK(kv_config_get_double(cfg, key, -INFINITY, INFINITY, &p->tol[m]));
      p->has_tol[m] = 1;
    }
  }
  return KV_OK;
}

/* The mean wall time of the done cases of a sweep (manifest). */
static int sweep_wall(const kv_sweep *s, double *wall) {
  long n = kv_sweep_ncases(s);
  kv_case_record *recs = calloc((size_t)n + 1, sizeof *recs);
  char path[4300];
  snprintf(path, sizeof path, "%s/manifest.csv", kv_sweep_dir(s));
  int rc = recs ? kv_manifest_read(path, n, 0, NULL, recs, NULL)
                : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  *wall = 0.0;
  for (long c = 0; rc == KV_OK && c < n; c++) {
    *wall += recs[c].wall / n;
  }
  free(recs);
  return rc;
}

/* ------------------------------------------------------------------ the command */

static int tolerances(const kv_config *cfg, const kv_validate_params *vp, kv_validation *v) {
  v->nfailed = 0;
  for (int m = 0; m < KV_M_COUNT; m++) {
    if (!vp->has_tol[m]) {
      continue;
    }
    if (!v->have[m]) {
      char key[64];
      snprintf(key, sizeof key, "validate.tolerance.%s", kv_metric_names[m]);
      return kv_config_errorf(cfg, key, "this surrogate has no %s", kv_metric_names[m]);
    }
    double tol = vp->tol[m];
    v->has_tol[m] = 1;
    v->tol[m] = tol;
    v->failed[m] = lower_bound(m) ? !(v->value[m] >= tol) : !(v->value[m] <= tol);
    v->nfailed += v->failed[m];
  }
  return KV_OK;
}

/* Tolerances, then the report (what holds the text before the maps, then the maps). */
static int finish(const kv_config *cfg, const kv_validate_params *vp, kv_validation *v,
                  char *what) {
  KV_CHECK(tolerances(cfg, vp, v));
  char *maps = strstr(what, "\n\n![");
  if (maps) {
    *maps++ = '\0';
  }
  return kv_validate_write_report(v, what, maps ? maps + 1 : "");
}

/* validation.h5 and validation.md are one unit: the old report goes before the new data are
 * written, so an interrupted validation leaves the new data without a report (or the old data
 * alone), never a report that describes other data. Only a report kelvin wrote is removed. */
static void retire_report(const kv_validation *v) {
  char path[4200];
  snprintf(path, sizeof path, "%s/validation.md", v->dir);
  if (kv_safefile_replaceable(path, "# kelvin validation", "the validation report") == KV_OK) {
    remove(path);
  }
  kv_error_clear();
}

static int score(const kv_config *cfg, const kv_validate_params *vp, const kv_sweep *hs,
                 const char *model, kv_validation *v) {
  kv_surrogate *s = NULL;
  KV_CHECK(kv_surrogate_load(model, &s));
  double wall = 0.0;
  char *what = calloc(16384, 1);
  int rc = what ? sweep_wall(hs, &wall) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
  if (rc == KV_OK) {
    retire_report(v);
    rc = kv_surrogate_type_get(s)->data & KV_DATA_SCENARIOS
             ? kv_validate_score_scenarios(cfg, vp, hs, s, wall, v, what, 16384)
             : kv_validate_score_points(cfg, vp, hs, s, wall, v, what, 16384);
  }
  if (rc == KV_OK) {
    rc = finish(cfg, vp, v, what);
  }
  free(what);
  kv_surrogate_free(s);
  return rc;
}

/* The held-out cases: a copy of the training configuration whose [sweep] makes them. */
static int holdout_config(const kv_config *cfg, const kv_validate_params *vp,
                          const kv_surrogate_type *t, const char *hdir, kv_config **out) {
  kv_config *h = NULL;
  char num[32];
  KV_CHECK(kv_config_clone(cfg, &h));
  kv_config_remove_section(h, "surrogate");
  kv_config_remove_section(h, "validate");
  int rc = kv_config_set_tagged(h, "sweep.dir", hdir, "validate");
  int rom = (t->data & KV_DATA_SNAPSHOTS) != 0;
  snprintf(num, sizeof num, "%lu", vp->seed);
  if (rc == KV_OK && rom && vp->vary[0]) {
    /* Chosen held-out cases (a grid), typically outside the training range too. */
    kv_config_unset(h, "sweep.samples");
    kv_config_unset(h, "sweep.cases");
    rc = kv_config_set_tagged(h, "sweep.method", "grid", "validate");
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.vary", vp->vary, "validate");
    }
  } else if (rc == KV_OK && !(t->data & KV_DATA_SCENARIOS)) {
    const char *m = kv_config_value(cfg, "sweep.method");
    if (vp->samples == 0) {
      rc = kv_config_errorf(cfg, rom ? "validate.vary" : "validate.samples",
                            rom ? "the held-out cases are needed (validate.vary, or "
                                  "validate.samples new points of an lhs or sobol sweep)"
                                : "the number of held-out cases is needed");
    } else if (strcmp(m, "lhs") && strcmp(m, "sobol")) {
      rc = kv_config_errorf(cfg, "sweep.method",
                            "held-out points are drawn over the ranges of "
                            "an lhs or sobol sweep");
    }
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.method", "lhs", "validate");
    }
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.samples", kv_config_value(cfg, "validate.samples"),
                                "validate");
    }
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.seed", num, "validate");
    }
  } else if (rc == KV_OK) {
    if (!vp->scenarios[0]) {
      rc = kv_config_errorf(cfg, "validate.scenarios",
                            "a scenario surrogate is validated on "
                            "held-out scenarios (e.g. ssp245)");
    }
    kv_config_unset(h, "sweep.vary");
    kv_config_unset(h, "sweep.samples");
    kv_config_unset(h, "sweep.cases");
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.method", "ensemble", "validate");
    }
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.scenarios", vp->scenarios, "validate");
    }
    snprintf(num, sizeof num, "%ld", vp->members);
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.members", num, "validate");
    }
    /* Members other than the training ones: their internal variability is new. */
    snprintf(num, sizeof num, "%lu", vp->seed + 100000);
    if (rc == KV_OK) {
      rc = kv_config_set_tagged(h, "sweep.seed", num, "validate");
    }
  }
  if (rc != KV_OK) {
    kv_config_free(h);
    return rc;
  }
  *out = h;
  return KV_OK;
}

/* The same cases by the ROM of the model the training runs used. */
static int rom_config(const kv_validate_params *vp, const kv_config *h, const char *model,
                      const char *rdir, kv_config **out) {
  kv_config *hr = NULL;
  KV_CHECK(kv_config_clone(h, &hr));
  int rc = kv_rom_config_set(hr, model, vp->rom_tolerance, vp->rom_adaptive, "validate");
  if (rc == KV_OK) {
    rc = kv_config_set_tagged(hr, "sweep.dir", rdir, "validate");
  }
  if (rc != KV_OK) {
    kv_config_free(hr);
    return rc;
  }
  *out = hr;
  return KV_OK;
}

/* Run a sweep's cases (resuming); a failed case is an error. Collective. */
static int run_cases(MPI_Comm comm, const kv_sweep *s, const char *what) {
  kv_sweep_options o = {1, 0, 0, NULL};
  kv_sweep_summary sum;
  int rc = kv_sweep_run(comm, s, &o, &sum);
  if (rc == KV_OK && sum.failed > 0) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "validate: %ld %s case%s failed (see %s/manifest.csv)",
                  sum.failed, what, sum.failed == 1 ? "" : "s", kv_sweep_dir(s));
  }
  return rc;
}

/* A model of files kelvin did not write: scored on held-out files (field kinds: validate.files;
 * scenario kinds: validate.scenarios of the set), with no solver to run. Collective. */
static int validate_files(MPI_Comm comm, const kv_config *cfg, const kv_surrogate_type *t,
                          const kv_validate_params *vp, kv_validation *out) {
  char model[4096];
  int rc = kv_fit_model_path(cfg, t, "files", model, sizeof model);
  int scen = (t->data & KV_DATA_SCENARIOS) != 0;
  if (rc == KV_OK && !scen && (!vp->files[0] || !vp->inputs_table[0])) {
    rc = kv_config_errorf(cfg, vp->files[0] ? "validate.inputs_table" : "validate.files",
                          "a model of files is validated on held-out files and their inputs "
                          "(validate.files, validate.inputs_table)");
  }
  if (rc == KV_OK && scen && !vp->scenarios[0]) {
    rc = kv_config_errorf(cfg, "validate.scenarios",
                          "a scenario surrogate is validated on held-out scenarios of the set");
  }
  if (rc == KV_OK) {
    const char *slash = strrchr(model, '/');
    snprintf(out->dir, sizeof out->dir, "%s", vp->dir[0] ? vp->dir : slash ? model : ".");
    if (!vp->dir[0] && slash) {
      out->dir[slash - model] = '\0';
    }
  }
  if (rc == KV_OK && kv_comm_rank(comm) == 0) {
    kv_surrogate *s = NULL;
    char *what = calloc(16384, 1);
    rc = what ? kv_surrogate_load(model, &s) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
    if (rc == KV_OK) {
      retire_report(out);
      rc = scen ? kv_validate_score_scenarios(cfg, vp, NULL, s, 0.0, out, what, 16384)
                : kv_validate_score_points(cfg, vp, NULL, s, 0.0, out, what, 16384);
    }
    if (rc == KV_OK) {
      rc = finish(cfg, vp, out, what);
    }
    free(what);
    kv_surrogate_free(s);
  }
  rc = kv_status_agree(comm, rc);
  kv_comm_bcast(out, (int)sizeof *out, MPI_BYTE, 0, comm);
  return rc;
}

int kv_validate(MPI_Comm comm, const kv_config *cfg, kv_validation *out) {
  memset(out, 0, sizeof *out);
  int rank;
  rank = kv_comm_rank(comm);
  const kv_surrogate_type *t;
  kv_validate_params vp;
  KV_CHECK(kv_surrogate_type_of(cfg, &t));
  KV_CHECK(kv_validate_params_from_config(cfg, &vp));
  const char *data = kv_config_value(cfg, "surrogate.data");
  if (data && !strcmp(data, "files")) {
    return validate_files(comm, cfg, t, &vp, out);
  }
  if (!kv_config_has(cfg, "sweep.method")) {
    return kv_config_errorf(cfg, "sweep.method",
                            "kelvin validate builds its held-out cases from "
                            "the [sweep] the surrogate was trained on");
  }
  int rom = (t->data & KV_DATA_SNAPSHOTS) != 0;
  kv_sweep *train = NULL, *hs = NULL, *rs = NULL;
  kv_config *h = NULL, *hr = NULL;
  KV_CHECK(kv_sweep_create(cfg, &train));
  char model[4096], hdir[4200], rdir[4300];
  int rc = kv_fit_model_path(cfg, t, kv_sweep_dir(train), model, sizeof model);
  snprintf(out->dir, sizeof out->dir, "%s", vp.dir[0] ? vp.dir : kv_sweep_dir(train));
  snprintf(hdir, sizeof hdir, "%s/holdout", out->dir);
  snprintf(rdir, sizeof rdir, "%s/holdout_rom", out->dir);
  if (rc == KV_OK) {
    rc = holdout_config(cfg, &vp, t, hdir, &h);
  }
  if (rc == KV_OK) {
    rc = kv_sweep_create(h, &hs);
  }
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK) {
    if (rank == 0) {
      kv_info("validate: %ld held-out case%s by the full solver in %s", kv_sweep_ncases(hs),
              kv_sweep_ncases(hs) == 1 ? "" : "s", hdir);
    }
    rc = run_cases(comm, hs, "held-out");
  }
  if (rc == KV_OK && rom) {
    rc = rom_config(&vp, h, model, rdir, &hr);
    if (rc == KV_OK) {
      rc = kv_sweep_create(hr, &rs);
    }
    rc = kv_status_agree(comm, rc);
    if (rc == KV_OK) {
      if (rank == 0) {
        kv_info("validate: the same cases by the ROM (%s) in %s", model, rdir);
      }
      rc = run_cases(comm, rs, "ROM");
    }
  }
  if (rc == KV_OK) {
    if (rank == 0 && rom) {
      double fw = 0.0, rw = 0.0;
      char *what = calloc(16384, 1);
      rc = what ? sweep_wall(hs, &fw) : KV_ERROR(KV_ERR_NOMEM, "out of memory");
      if (rc == KV_OK) {
        rc = sweep_wall(rs, &rw);
      }
      if (rc == KV_OK) {
        const kv_model_type *mt = NULL;
        rc = kv_model_type_of(cfg, &mt);
        if (rc == KV_OK && !mt->state_var) {
          rc = KV_ERROR(KV_ERR_UNSUPPORTED, "validate: model %s records no state", mt->name);
        }
        if (rc == KV_OK) {
          retire_report(out);
          rc = kv_validate_score_rom(hs, rs, mt->state_var, fw, rw, out, what, 16384);
        }
      }
      if (rc == KV_OK) {
        rc = finish(cfg, &vp, out, what);
      }
      free(what);
    } else if (rank == 0) {
      rc = score(cfg, &vp, hs, model, out);
    }
    rc = kv_status_agree(comm, rc);
    kv_comm_bcast(out, (int)sizeof *out, MPI_BYTE, 0, comm);
  }
  kv_sweep_free(train);
  kv_sweep_free(hs);
  kv_sweep_free(rs);
  kv_config_free(h);
  kv_config_free(hr);
  return rc;
}

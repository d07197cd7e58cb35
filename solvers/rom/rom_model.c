/* The ROM as a model: its keys and parameters, creation from a basis file, the step, outputs. */
#include <cblas.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "numerics/deim.h"
#include "solvers/rom/rom_impl.h"

const kv_config_key kv_rom_keys[] = {
    {"rom.basis", KV_CFG_STRING, NULL, NULL, KV_CFG_NORANGE,
     "the POD model file of kelvin fit (surrogate.kind = pod), fit on this model and grid"},
    {"rom.model", KV_CFG_ENUM, kv_model_default_name, kv_model_reducible_choices, KV_CFG_NORANGE,
     "the full model reduced (its section configures the case)"},
    {"rom.tolerance", KV_CFG_DOUBLE, "1e-3", NULL, 0.0, INFINITY,
     "error-indicator threshold (> 0): a step above it is redone by the full solver and updates "
     "the basis (with rom.adaptive)"},
    {"rom.adaptive", KV_CFG_BOOL, "true", NULL, KV_CFG_NORANGE,
     "take full-solver steps and update the basis when the indicator exceeds rom.tolerance"},
    {"rom.modes", KV_CFG_INT, "0", NULL, 0, 100000,
     "use the leading this many modes of the basis (0: all)"},
    {"rom.max_modes", KV_CFG_INT, "0", NULL, 0, 100000,
     "adaptive: stop growing the basis at this many modes (0: no limit)"},
    {"rom.indicator_points", KV_CFG_INT, "64", NULL, 1, 100000,
     "random cells where the indicator evaluates the full residual"},
    {"rom.seed", KV_CFG_INT, "1", NULL, 0, 4294967295.0, "seed of the indicator's cells"},
    {"rom.check_every", KV_CFG_INT, "0", NULL, 0, 1000000000,
     "every this many steps also take the full solver's step from the same state and record the "
     "ROM step's true error beside its indicator (rom/local_error, rom/checked_indicator): how "
     "well the indicator tracks the error; one full step each (0: never)"},
    {"rom.output", KV_CFG_ENUM, "fields", "fields|coefficients", KV_CFG_NORANGE,
     "what each record holds: the lifted fields (the full model's output), or only the reduced "
     "coefficients rom/coefficients (time, mode) -- the field of a record is then the basis "
     "modes (rom.basis, /rom/modes) times them; rom.adaptive = false only (the basis is fixed)"},
    {"rom.newton_maxit", KV_CFG_INT, "50", NULL, 1, 100000,
     "nonlinear ROMs: reduced Newton iterations per step at most (beyond: not converged; the "
     "adaptive ROM then takes a full step)"},
    {"rom.newton_rtol", KV_CFG_DOUBLE, "1e-11", NULL, 0.0, 1.0,
     "nonlinear ROMs: Newton has converged when its update is below this fraction of the state"},
    {NULL, 0, NULL, NULL, KV_CFG_NORANGE, NULL},
};

int kv_rom_config_set(kv_config *cfg, const char *basis, double tolerance, int adaptive,
                      const char *tag) {
  const char *full = kv_config_value(cfg, "run.model");
  char num[64];
  snprintf(num, sizeof num, "%.17g", tolerance);
  char model[64];
  snprintf(model, sizeof model, "%s", full ? full : kv_model_default_name);
  KV_CHECK(kv_config_set_tagged(cfg, "run.model", kv_rom_type.name, tag));
  KV_CHECK(kv_config_set_tagged(cfg, "rom.model", model, tag));
  KV_CHECK(kv_config_set_tagged(cfg, "rom.basis", basis, tag));
  KV_CHECK(kv_config_set_tagged(cfg, "rom.tolerance", num, tag));
  return kv_config_set_tagged(cfg, "rom.adaptive", adaptive ? "true" : "false", tag);
}

void kv_rom_params_default(kv_rom_params *p) {
  memset(p, 0, sizeof *p);
  snprintf(p->model, sizeof p->model, "%s", kv_model_default_name);
  snprintf(p->checkpoint, sizeof p->checkpoint, "kelvin.checkpoint.h5");
  p->tolerance = 1e-3;
  p->adaptive = 1;
  p->indicator_points = 64;
  p->seed = 1;
  p->newton_maxit = 50;
  p->newton_rtol = 1e-11;
  p->newton_stall = 1e-8;
  p->fd_eps = 1e-7;
  p->jacobian_eps = 1e-4;
  p->armijo = 1e-4;
  p->backtracks = 12;
  p->add_tol = 1e-10;
}

int kv_rom_params_from_config(const kv_config *cfg, kv_rom_params *p) {
  kv_rom_params_default(p);
  const char *basis, *model;
  long modes, maxm, npts, seed, maxit;
  if (!kv_config_has(cfg, "rom.basis")) {
    return kv_config_errorf(cfg, "rom.basis",
                            "run.model = rom needs the basis file (kelvin fit "
                            "with surrogate.kind = pod)");
  }
  KV_CHECK(kv_config_get_string(cfg, "rom.basis", &basis));
  KV_CHECK(kv_config_get_string(cfg, "rom.model", &model));
  KV_CHECK(kv_config_get_double(cfg, "rom.tolerance", 0.0, INFINITY, &p->tolerance));
  if (!(p->tolerance > 0.0)) {
    return kv_config_errorf(cfg, "rom.tolerance",
                            "expected a positive indicator threshold "
                            "(got %g)",
                            p->tolerance);
  }
  KV_CHECK(kv_config_get_bool(cfg, "rom.adaptive", &p->adaptive));
  KV_CHECK(kv_config_get_int(cfg, "rom.modes", 0, 100000, &modes));
  KV_CHECK(kv_config_get_int(cfg, "rom.max_modes", 0, 100000, &maxm));
  KV_CHECK(kv_config_get_int(cfg, "rom.indicator_points", 1, 100000, &npts));
  KV_CHECK(kv_config_get_int(cfg, "rom.seed", 0, 4294967295L, &seed));
  KV_CHECK(kv_config_get_int(cfg, "rom.check_every", 0, 1000000000L, &p->check_every));
  KV_CHECK(kv_config_get_int(cfg, "rom.newton_maxit", 1, 100000, &maxit));
  KV_CHECK(kv_config_get_enum(cfg, "rom.output", "fields|coefficients", &p->coefficients));
  if (p->coefficients && p->adaptive) {
    return kv_config_errorf(cfg, "rom.output",
                            "coefficients need a fixed basis: set rom.adaptive = false (an "
                            "adaptive ROM's basis changes with its updates)");
  }
  KV_CHECK(kv_config_get_double(cfg, "rom.newton_rtol", 0.0, 1.0, &p->newton_rtol));
  snprintf(p->basis, sizeof p->basis, "%s", basis);
  snprintf(p->model, sizeof p->model, "%s", model);
  p->modes = (int)modes;
  p->max_modes = (int)maxm;
  p->indicator_points = (int)npts;
  p->seed = (unsigned long)seed;
  p->newton_maxit = (int)maxit;
  const char *output = kv_config_value(cfg, "run.output");
  kv_model_checkpoint_path(output ? output : "kelvin.h5", p->checkpoint, sizeof p->checkpoint);
  return KV_OK;
}

/* ------------------------------------------------------------------ the model */

static void rom_free(kv_model *m) {
  kv_rom *r = (kv_rom *)m;
  if (!r) {
    return;
  }
  kv_model_free(r->full);
  kv_pod_free(r->V);
  kv_pod_free(r->W);
  free(r->gidx);
  free(r->A);
  free(r->c);
  free(r->M);
  free(r->Gr);
  free(r->a_sum);
  free(r->a_out);
  free(r->sloc);
  free(r->P);
  free(r->D);
  free(r->E);
  free(r->sten);
  free(r->VS);
  free(r->a);
  free(r->a0);
  free(r->FP);
  free(r->FE);
  free(r->uE);
  free(r->vals);
  free(r->fv);
  free(r->Jw);
  free(r->uref);
  free(r->Lt);
  kv_field_free(r->u);
  kv_field_free(r->u2);
  free(r->uloc);
  free(r->floc);
  if (r->comm != MPI_COMM_NULL) {
    kv_comm_free(&r->comm);
  }
  free(r);
}

static int rom_step(kv_model *m, double *t) {
  return kv_rom_step_reduced((kv_rom *)m, t);
}

static int rom_create(MPI_Comm comm, const kv_config *cfg, kv_model **out) {
  kv_rom_params prm;
  int rc = kv_rom_params_from_config(cfg, &prm);
  KV_CHECK(kv_status_agree(comm, rc));
  const kv_model_type *ft = kv_model_type_find(prm.model);
  kv_rom *r = calloc(1, sizeof *r);
  rc = r ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  KV_CHECK(kv_status_agree(comm, rc));
  r->base.type = &kv_rom_type;
  r->comm = MPI_COMM_NULL;
  r->prm = prm;
  r->tol = prm.tolerance;
  r->adaptive = prm.adaptive;
  r->max_modes = prm.max_modes;
  r->check_every = prm.check_every;
  r->chk_err = r->chk_eta = NAN;
  snprintf(r->chk, sizeof r->chk, "%s", prm.checkpoint);
  KV_TRY(kv_comm_dup(comm, &r->comm));
  KV_TRY(kv_model_create(ft, comm, cfg, &r->full));
  KV_TRY(kv_model_info_get(r->full, &r->finfo));
  if (!ft->residual || !ft->residual_at || !ft->stencil || !ft->set_state ||
      (r->finfo.linear_implicit && (!ft->solve || !ft->implicit_at))) {
    rc = KV_ERROR(KV_ERR_UNSUPPORTED, "rom: model %s has no reduced-order hooks", ft->name);
    goto cleanup;
  }
  r->li = r->finfo.linear_implicit;
  r->means = r->finfo.record_means;
  r->grid = r->finfo.grid;
  r->theta = r->finfo.theta;
  r->dt = r->finfo.dt;
  r->step = r->finfo.step0;
  r->t = r->finfo.t0;
  r->t_origin = r->finfo.t0 - (double)r->finfo.step0 * r->dt;
  r->N = kv_grid_global_count(r->grid);
  r->nloc = kv_grid_local_count(r->grid);
  r->ne = (int)(prm.indicator_points < r->N ? prm.indicator_points : r->N);
  r->gidx = malloc(((size_t)r->nloc + 1) * sizeof *r->gidx);
  if (r->gidx) {
    kv_grid_global_rows(r->grid, r->gidx);
  }
  r->uloc = malloc(((size_t)r->nloc + 1) * sizeof *r->uloc);
  r->floc = malloc(((size_t)r->nloc + 1) * sizeof *r->floc);
  r->sloc = malloc(((size_t)r->nloc + 1) * sizeof *r->sloc);
  r->E = malloc(((size_t)r->ne + 1) * sizeof *r->E);
  r->FE = malloc(((size_t)r->ne + 1) * sizeof *r->FE);
  r->uE = malloc(((size_t)r->ne + 1) * sizeof *r->uE);
  rc = r->gidx && r->uloc && r->floc && r->sloc && r->E && r->FE && r->uE
           ? kv_field_create(r->grid, &r->u)
           : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  if (rc == KV_OK) {
    rc = kv_field_create(r->grid, &r->u2);
  }
  KV_TRY(kv_status_agree(comm, rc));
  KV_TRY(kv_rom_load_basis(r, cfg));
  if (r->W) {
    r->P = malloc(((size_t)kv_pod_nmodes(r->W) + 1) * sizeof *r->P);
    KV_TRY(kv_status_agree(comm, r->P ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory")));
    KV_TRY(
        kv_deim_points(r->comm, r->nloc, r->gidx, kv_pod_modes(r->W), kv_pod_nmodes(r->W), r->P));
  }
  kv_rom_indicator_cells(r, prm.seed);
  r->k = kv_pod_nmodes(r->V);
  if (r->linear) {
    KV_TRY(kv_rom_assemble_linear(r));
  }
  KV_TRY(kv_rom_operators(r));
  memset(r->a_sum, 0, (size_t)r->k * sizeof *r->a_sum);
  /* The initial state: the projection of the full model's. */
  const kv_field *u0;
  KV_TRY(ft->state(r->full, &u0));
  kv_field_pack(u0, r->uloc);
  KV_TRY(kv_pod_project(r->V, r->uloc, r->a));
  KV_TRY(kv_rom_refresh_point_values(r));
  kv_info("rom: %s basis of %d modes%s%s, %d indicator cells, tolerance %g%s", prm.basis, r->k,
          r->linear ? " with reduced operators (the model's own, projected exactly)" : "",
          r->W ? ", DEIM" : "", r->ne, prm.tolerance,
          prm.adaptive ? " (adaptive)" : " (not adaptive)");
  if (r->W) {
    kv_info("rom: %d DEIM points", kv_pod_nmodes(r->W));
  }
cleanup:
  if (rc != KV_OK) {
    rom_free(&r->base);
    return rc;
  }
  *out = &r->base;
  return KV_OK;
}

static int rom_state(const kv_model *m, const kv_field **out) {
  kv_rom *r = (kv_rom *)m;
  kv_rom_lift(r, r->a);
  *out = r->u;
  return KV_OK;
}

static int rom_outputs(kv_model *m, kv_output_list *out) {
  kv_rom *r = (kv_rom *)m;
  if (r->prm.coefficients) {
    /* Only the reduced state: lifting and writing a 512^2 field per record would cost more
     * than the whole reduced run. */
    const double *a = r->a;
    if (r->means && r->nsum > 0) {
      cblas_dscal(r->k, 1.0 / (double)r->nsum, r->a_sum, 1);
      memcpy(r->a_out, r->a_sum, (size_t)r->k * sizeof *r->a_out);
      memset(r->a_sum, 0, (size_t)r->k * sizeof *r->a_sum);
      r->nsum = 0;
      a = r->a_out;
    }
    KV_CHECK(kv_output_add_vector(out, "rom/coefficients", "1",
                                  "reduced coefficients: the record's field is sum_j "
                                  "coefficients[j] modes[j] (rom.basis /rom/modes)",
                                  "mode", r->k, a));
    KV_CHECK(kv_output_add_scalar(out, "rom/modes", "1", "modes of the basis", (double)r->k));
    r->eta_max = 0.0;
    return KV_OK;
  }
  if (r->means && r->nsum > 0) {
    /* The mean of the lifted states is the lift of the mean. */
    cblas_dscal(r->k, 1.0 / (double)r->nsum, r->a_sum, 1);
    kv_rom_lift(r, r->a_sum);
    memset(r->a_sum, 0, (size_t)r->k * sizeof *r->a_sum);
    r->nsum = 0;
  } else {
    kv_rom_lift(r, r->a);
  }
  KV_CHECK(r->full->type->set_state(r->full, r->u, r->step));
  KV_CHECK(r->full->type->outputs(r->full, out));
  KV_CHECK(kv_output_add_scalar(out, "rom/indicator", "1",
                                "largest error indicator since the previous record", r->eta_max));
  KV_CHECK(kv_output_add_scalar(out, "rom/updates", "1", "full-solver steps (basis updates) so far",
                                (double)r->updates));
  KV_CHECK(kv_output_add_scalar(out, "rom/modes", "1", "modes of the basis", (double)r->k));
  if (r->check_every > 0) {
    KV_CHECK(kv_output_add_scalar(out, "rom/local_error", "1",
                                  "true error of the last checked ROM "
                                  "step, relative to its change (rom.check_every; NaN: none)",
                                  r->chk_err));
    KV_CHECK(kv_output_add_scalar(out, "rom/checked_indicator", "1",
                                  "error indicator of the same step", r->chk_eta));
    r->chk_err = r->chk_eta = NAN;
  }
  KV_CHECK(kv_output_add_scalar(out, "rom/deim_points", "1", "DEIM points",
                                r->W ? (double)kv_pod_nmodes(r->W) : 0.0));
  r->eta_max = 0.0;
  return KV_OK;
}

static int rom_info(const kv_model *m, kv_model_info *out) {
  const kv_rom *r = (const kv_rom *)m;
  *out = r->finfo;
  out->step0 = r->step;
  out->t0 = r->t;
  out->title = "kelvin reduced-order model (POD-Galerkin, DEIM, adaptive)";
  return KV_OK;
}

/* The wrapped model's responses, computed from the lifted fields the ROM writes; none when its
 * records are only reduced coefficients. */
static int rom_responses(const kv_config *cfg, char *buf, size_t n) {
  buf[0] = '\0';
  int coefficients = 0;
  const char *inner = kv_config_value(cfg, "rom.model");
  if (kv_config_has(cfg, "rom.output")) {
    KV_CHECK(kv_config_get_enum(cfg, "rom.output", "fields|coefficients", &coefficients));
  }
  const kv_model_type *t = kv_model_type_find(inner ? inner : kv_model_default_name);
  if (coefficients || !t || !t->responses || t->wraps_key) {
    return KV_OK;
  }
  return t->responses(cfg, buf, n);
}

const kv_model_type kv_rom_type = {
    .name = "rom",
    .keys = kv_rom_keys,
    .size_keys = "rom.modes (and the basis)",
    .wraps_key = "rom.model",
    .create = rom_create,
    .step = rom_step,
    .state = rom_state,
    .outputs = rom_outputs,
    .info = rom_info,
    .restart = kv_rom_restart,
    .checkpoint = kv_rom_checkpoint,
    .responses = rom_responses,
    .free = rom_free,
};

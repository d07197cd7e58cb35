#include "drivers/run.h"
#include "core/comm.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/history.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/progress.h"
#include "core/status.h"
#include "core/timer.h"
#include "io/h5.h"
#include "solvers/model.h"

int kv_run_validate(kv_config *cfg) {
  return kv_model_config_validate(cfg);
}

static int append_record(kv_h5_writer *w, kv_model *m, double t, long step, double wall, double cfl,
                         int checkpoint) {
  kv_output_list l;
  KV_CHECK(checkpoint ? kv_model_checkpoint(m, &l) : kv_model_outputs(m, &l));
  if (l.has_time) {
    t = l.time;
  }
  KV_CHECK(kv_output_add_scalar(&l, "diagnostics/step", "1", "time step number", (double)step));
  KV_CHECK(kv_output_add_scalar(&l, "diagnostics/wall_time", "s",
                                "wall-clock seconds since the start of the run", wall));
  l.scalars[l.nscalars - 1].is_volatile = 1;
  KV_CHECK(kv_output_add_scalar(&l, "diagnostics/cfl", "1",
                                "time step over the explicit stability limit", cfl));
  return kv_h5_writer_append(w, t, &l);
}

/* A sweep case's number and varied values as scalar variables (text values as attributes). */
static int write_case(kv_h5_writer *w, const kv_run_case *c) {
  KV_CHECK(kv_h5_writer_put_scalar(w, "case", "1", "sweep case number", (double)c->id));
  for (int v = 0; v < c->n; v++) {
    char *end;
    double x = strtod(c->value[v], &end);
    if (end != c->value[v] && !*end && !strchr(c->key[v], '/')) {
      KV_CHECK(kv_h5_writer_put_scalar(w, c->key[v], NULL, "varied configuration key", x));
    } else {
      KV_CHECK(kv_h5_writer_attr_text(w, c->key[v], c->value[v]));
    }
  }
  return KV_OK;
}

/* Write the current state as a one-record file, atomically replacing the previous checkpoint. */
static int write_checkpoint(const kv_model_info *info, kv_model *m, const char *path,
                            const char *model, const char *text, double t, long step, double wall) {
  kv_h5_writer *cw = NULL;
  /* Full precision, uncompressed: a restart must continue bit for bit. */
  kv_h5_writer_params cp = {path,
                            2, /* replaces the last checkpoint, never a file kelvin did not write */
                            model,
                            "kelvin checkpoint",
                            text,
                            info->coord_units,
                            info->time_units,
                            info->axes,
                            info->calendar,
                            0.0,
                            NULL,
                            0,
                            0};
  KV_CHECK(kv_h5_writer_create(info->grid, &cp, &cw));
  int rc = append_record(cw, m, t, step, wall, info->cfl, 1);
  if (rc == KV_OK) {
    rc = kv_h5_writer_attr_double(cw, "step", (double)step);
  }
  if (rc != KV_OK) {
    kv_h5_writer_free(cw);
    return rc;
  }
  return kv_h5_writer_close(cw, NULL, NULL, NULL, 0);
}

/* Steps between two checks for SIGINT/SIGTERM (each check is one small all-reduce). */
#define KV_INTERRUPT_EVERY 8

int kv_run(MPI_Comm comm, const kv_config *cfg, const kv_run_options *opts, kv_run_result *res) {
  kv_run_result local;
  if (!res) {
    res = &local;
  }
  memset(res, 0, sizeof *res);
  int rank;
  rank = kv_comm_rank(comm);
  const char *name, *output;
  long every, chk_every;
  int overwrite;
  int rc = kv_config_get_string(cfg, "run.model", &name);
  if (rc == KV_OK) {
    rc = kv_config_get_string(cfg, "run.output", &output);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "run.output_every", 1, 1000000000000000L, &every);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_bool(cfg, "run.overwrite", &overwrite);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "run.checkpoint_every", 0, 1000000000000000L, &chk_every);
  }
  long deflate = 0;
  int f32 = 0;
  if (rc == KV_OK) {
    rc = kv_config_get_int(cfg, "run.compress", 0, 9, &deflate);
  }
  if (rc == KV_OK) {
    rc = kv_config_get_enum(cfg, "run.precision", "float64|float32", &f32);
  }
  KV_CHECK(kv_status_agree(comm, rc));
  const kv_model_type *type;
  KV_CHECK(kv_model_type_of(cfg, &type));
  kv_timer total, stepping;
  kv_timer_reset(&total);
  kv_timer_reset(&stepping);
  kv_timer_start(&total);

  kv_model *m = NULL;
  kv_h5_writer *w = NULL;
  char *text = NULL;
  KV_TRY(kv_model_create(type, comm, cfg, &m));
  if (opts && opts->restart) {
    KV_TRY(kv_model_restart(m, opts->restart));
  }
  /* Deferred set-up (plans) before the step timing starts. */
  KV_TRY(kv_model_prepare(m));
  /* A SIGINT/SIGTERM during the set-up: stop before the first record (nothing to keep). */
  int early = kv_interrupt_agree(comm);
  if (early) {
    rc = KV_ERROR(KV_ERR_INTERRUPTED,
                  "stopped by signal %d during the set-up, before the first "
                  "step; nothing was written",
                  early);
    goto cleanup;
  }
  kv_model_info info;
  KV_TRY(kv_model_info_get(m, &info));
  char chk_path[4200];
  kv_model_checkpoint_path(output, chk_path, sizeof chk_path);
  KV_TRY(kv_status_agree(comm, kv_config_to_text(cfg, &text)));
  /* CF history: a restart continues the history of the file it starts from. */
  char old[8192] = "", history[12288];
  if (opts && opts->restart && kv_h5_read_root_text(opts->restart, "history", old, sizeof old)) {
    kv_error_clear();
    old[0] = '\0';
  }
  kv_history_line(old, history, sizeof history);
  double period = info.record_means && info.record_every > 0
                      ? info.dt * (double)info.record_every
                      : 0.0; /* records that are means over record_every steps */
  kv_h5_writer_params wp = {output,           overwrite,       name,      info.title,    text,
                            info.coord_units, info.time_units, info.axes, info.calendar, period,
                            history,          (int)deflate,    f32};
  if (info.record_every > 0) {
    every = info.record_every;
  }
  KV_TRY(kv_h5_writer_create(info.grid, &wp, &w));
  if (opts && opts->sweep_case) {
    KV_TRY(write_case(w, opts->sweep_case));
  }
  {
    const long *n = kv_grid_global_n(info.grid);
    const int *pr = kv_grid_procs(info.grid);
    int nd = kv_grid_ndims(info.grid), size;
    size = kv_comm_size(comm);
    char cells[96] = "", procs[64] = "";
    for (int d = 0; d < nd; d++) {
      size_t lc = strlen(cells), lp = strlen(procs);
      snprintf(cells + lc, sizeof cells - lc, "%s%ld", d ? " x " : "", n[d]);
      snprintf(procs + lp, sizeof procs - lp, "%s%d", d ? " x " : "", pr[d]);
    }
    /* In the model's own time units ("s", "days since 1850-01-01"); a CFL number only where the
     * scheme has one. */
    char unit[32] = "", cfl[48] = "";
    const char *tu = info.time_units ? info.time_units : "";
    snprintf(unit, sizeof unit, "%.*s", (int)strcspn(tu, " "), tu);
    if (info.cfl > 0) {
      snprintf(cfl, sizeof cfl, " (cfl %.3g)", info.cfl);
    }
    /* A calendar model's end as the year it completes ("days since 1850" of a run that starts
     * before 1850 would read as a large negative time). */
    double t_end = info.t0 + info.dt * (double)(info.nsteps - info.step0);
    int ref = 0;
    char end[160];
    if (info.calendar && !strcmp(info.calendar, "noleap") &&
        sscanf(tu, "days since %d", &ref) == 1) {
      snprintf(end, sizeof end, "the end of year %ld", (long)floor(ref + t_end / 365.0 + 1e-9) - 1);
    } else {
      snprintf(end, sizeof end, "t = %g %s", t_end, tu);
    }
    if (info.summary) {
      kv_info("%s: %s", name, info.summary);
    } else {
      kv_info("%s: %dD grid %s cells on %d rank%s (%s), dt = %.6g %s%s, %ld steps to %s", name, nd,
              cells, size, size > 1 ? "s" : "", procs, info.dt, unit, cfl, info.nsteps - info.step0,
              end);
    }
    if (info.step0 > 0) {
      kv_info("restarting from %s at step %ld, t = %g", opts->restart, info.step0, info.t0);
    }
  }
  {
    /* Every rank says which block it owns: the first thing to look at when ranks disagree. */
    const long *nl = kv_grid_local_n(info.grid), *off = kv_grid_offset(info.grid);
    kv_log_all(KV_LOG_DEBUG, "block offset (%ld, %ld, %ld), cells (%ld, %ld, %ld)", off[0], off[1],
               off[2], nl[0], nl[1], nl[2]);
  }
  double t = info.t0;
  if (!info.skip_initial) {
    KV_TRY(append_record(w, m, t, info.step0, kv_timer_elapsed(&total), info.cfl, 0));
  }
  kv_progress prog;
  kv_progress_start(&prog, name, info.nsteps - info.step0, rank == 0 && !(opts && opts->quiet));
  long step;
  int interrupted = 0;
  for (step = info.step0 + 1; step <= info.nsteps; step++) {
    kv_timer_start(&stepping);
    rc = kv_model_step(m, &t);
    kv_timer_stop(&stepping);
    if (rc != KV_OK) {
      break;
    }
    if (step % every == 0 || step == info.nsteps) {
      KV_TRY(append_record(w, m, t, step, kv_timer_elapsed(&total), info.cfl, 0));
    }
    if (chk_every > 0 && step % chk_every == 0 && step < info.nsteps) {
      KV_TRY(write_checkpoint(&info, m, chk_path, name, text, t, step, kv_timer_elapsed(&total)));
    }
    kv_progress_update(&prog, step - info.step0);
    if ((step % KV_INTERRUPT_EVERY == 0 || step == info.nsteps) && step < info.nsteps &&
        (interrupted = kv_interrupt_agree(comm)) != 0) {
      break;
    }
  }
  kv_progress_finish(&prog);
  res->steps = (rc == KV_OK ? info.nsteps : step) - info.step0;
  res->dt = info.dt;
  res->wall_steps = stepping.total;
  res->cell_updates = (double)kv_grid_global_count(info.grid) * (double)(res->steps);
  if (rc == KV_OK && interrupted) {
    /* Stopped by SIGINT/SIGTERM between two steps, on every rank: save the state where a restart
     * finds it, keep the records (the last one is this state) and say how to go on. */
    res->steps = step - info.step0;
    if (step % every != 0 && info.record_every == 0) {
      KV_TRY(append_record(w, m, t, step, kv_timer_elapsed(&total), info.cfl, 0));
    }
    KV_TRY(write_checkpoint(&info, m, chk_path, name, text, t, step, kv_timer_elapsed(&total)));
    char why[256], kept[4096];
    snprintf(why, sizeof why, "interrupted by signal %d at step %ld", interrupted, step);
    res->records = kv_h5_writer_records(w);
    rc = kv_h5_writer_close(w, why, "interrupted", kept, sizeof kept);
    w = NULL;
    if (rc == KV_OK) {
      snprintf(res->output, sizeof res->output, "%s", kept);
      char cmd[4096];
      snprintf(cmd, sizeof cmd, "%s%s", opts && opts->again ? "" : "kelvin run ",
               opts && opts->again ? opts->again : kv_config_source(cfg));
      rc = KV_ERROR(KV_ERR_INTERRUPTED,
                    "%s (t = %g); the records so far are in %s and the state in "
                    "%s; continue with: %s --restart %s",
                    why, t, kept, chk_path, cmd, chk_path);
    }
    goto cleanup;
  }
  if (rc == KV_ERR_NUMERIC || rc == KV_ERR_NOT_CONVERGED) {
    /* Keep what was written: the file is consistent, only incomplete. */
    char why[1024], kept[4096];
    snprintf(why, sizeof why, "failed: %s", kv_error_message());
    int code = rc;
    res->records = kv_h5_writer_records(w);
    rc = kv_h5_writer_close(w, why, "failed", kept, sizeof kept);
    w = NULL;
    if (rc == KV_OK) {
      snprintf(res->output, sizeof res->output, "%s", kept);
      rc = KV_ERROR(code, "%s; the %ld record%s written before it %s kept in %s", why + 8,
                    res->records, res->records == 1 ? "" : "s", res->records == 1 ? "is" : "are",
                    kept);
    }
    goto cleanup;
  }
  if (rc != KV_OK) {
    goto cleanup;
  }
  res->records = kv_h5_writer_records(w);
  KV_TRY(kv_h5_writer_attr_double(w, "dt", info.dt));
  KV_TRY(kv_h5_writer_attr_double(w, "steps", (double)info.nsteps));
  rc = kv_h5_writer_close(w, NULL, NULL, res->output, sizeof res->output);
  w = NULL;
  KV_TRY(rc);
  res->wall_total = kv_timer_stop(&total);
  kv_info("%ld steps in %.3f s stepping (%.4g cell updates/s), %.3f s in all; %ld records",
          res->steps, res->wall_steps,
          res->wall_steps > 0 ? res->cell_updates / res->wall_steps : 0.0, res->wall_total,
          res->records);
cleanup:
  kv_h5_writer_free(w);
  kv_model_free(m);
  free(text);
  return rc;
}

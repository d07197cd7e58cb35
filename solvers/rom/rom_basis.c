/* The ROM's files: the basis of kelvin fit, the bases updated during a run (saved beside its
 * checkpoints), checkpoints and restarts. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/alloc.h"
#include "core/comm.h"
#include "core/status.h"
#include "io/h5.h"
#include "solvers/rom/rom_impl.h"

/* ------------------------------------------------------------------ basis file */

/* The leading k modes of a (modes, grid...) dataset into this rank's rows U (nloc x k): one read
 * on rank 0, broadcast in blocks of modes, each rank keeping its rows. Collective. */
int kv_rom_read_modes(kv_rom *r, const char *path, const char *name, int k, double *U) {
  int rank;
  rank = kv_comm_rank(r->comm);
  /* One rank holding the whole grid in file order: the modes go straight into U. */
  int whole = kv_comm_size(r->comm) == 1 && r->nloc == r->N;
  for (long i = 0; whole && i < r->nloc; i++) {
    whole = r->gidx[i] == i;
  }
  if (whole) {
    return kv_h5_read_into(path, name, (long)k * r->N, U);
  }
  kv_h5_array a = {0};
  int rc = KV_OK;
  if (rank == 0) {
    rc = kv_h5_read_array(path, name, &a);
    if (rc == KV_OK && a.count < (long)k * r->N) {
      rc = KV_ERROR(KV_ERR_FORMAT, "rom: '%s': /%s holds %ld values, not %d modes of %ld cells",
                    path, name, a.count, k, r->N);
    }
  }
  KV_CHECK(kv_status_agree(r->comm, rc));
  int bs = (int)(16777216L / (r->N > 0 ? r->N : 1)); /* modes per broadcast: 128 MiB at most */
  if (bs < 1) {
    bs = 1;
  }
  double *buf = rank == 0 ? a.data : malloc(((size_t)(bs < k ? bs : k) * r->N + 1) * sizeof *buf);
  rc = buf ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  rc = kv_status_agree(r->comm, rc);
  for (int j0 = 0; rc == KV_OK && j0 < k; j0 += bs) {
    int nb = k - j0 < bs ? k - j0 : bs;
    double *blk = rank == 0 ? a.data + (size_t)j0 * r->N : buf;
    kv_comm_bcast(blk, (int)((long)nb * r->N), MPI_DOUBLE, 0, r->comm);
    for (int j = 0; j < nb; j++) {
      for (long i = 0; i < r->nloc; i++) {
        U[(size_t)(j0 + j) * r->nloc + i] = blk[(size_t)j * r->N + r->gidx[i]];
      }
    }
  }
  if (rank != 0) {
    free(buf);
  }
  kv_h5_array_free(&a);
  return rc;
}

int kv_rom_load_basis(kv_rom *r, const kv_config *cfg) {
  const char *path = r->prm.basis;
  long use_modes = r->prm.modes;
  int rank;
  rank = kv_comm_rank(r->comm);
  const long *n = kv_grid_global_n(r->grid);
  int nd = kv_grid_ndims(r->grid);
  long hdr[3] = {0, 0, 0}; /* k, kf, has u_ref */
  int rc = KV_OK;
  kv_h5_array sig = {0}, sigf = {0};
  if (rank == 0) {
    kv_h5_store *s = NULL;
    rc = kv_h5_store_open(path, &s); /* which probes the file first */
    if (rc != KV_OK) {
      char why[512];
      snprintf(why, sizeof why, "%s", kv_error_message());
      rc = kv_config_errorf(cfg, "rom.basis", "cannot read the basis: %s", why);
    }
    char *model = NULL;
    kv_h5_array gn = {0};
    if (rc == KV_OK && !(kv_h5_store_has(s, "rom/modes") && kv_h5_store_has(s, "rom/n"))) {
      rc = kv_config_errorf(cfg, "rom.basis",
                            "'%s' is not a POD model file (kelvin fit with "
                            "surrogate.kind = pod writes one)",
                            path);
    }
    if (rc == KV_OK && kv_h5_store_get_text(s, "/", "model", &model) == KV_OK &&
        kv_model_type_find(model) != r->full->type) {
      rc = kv_config_errorf(cfg, "rom.basis", "'%s' was fit on model %s, this run is %s", path,
                            model, r->full->type->name);
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_get(s, "rom/n", &gn);
    }
    if (rc == KV_OK) {
      int same = gn.count == nd;
      for (int d = 0; same && d < nd; d++) {
        same = (long)gn.data[d] == n[d];
      }
      if (!same) {
        char a[96] = "", b[96] = "";
        for (long d = 0; d < gn.count && d < 3; d++) {
          snprintf(a + strlen(a), sizeof a - strlen(a), "%s%ld", d ? " x " : "", (long)gn.data[d]);
        }
        for (int d = 0; d < nd; d++) {
          snprintf(b + strlen(b), sizeof b - strlen(b), "%s%ld", d ? " x " : "", n[d]);
        }
        rc = kv_config_errorf(cfg, "rom.basis",
                              "'%s' is a basis on a %s grid, this run's grid "
                              "is %s: fit the basis on runs of this grid",
                              path, a, b);
      }
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_get(s, "rom/sigma", &sig);
    }
    if (rc == KV_OK) {
      hdr[0] = sig.count;
      if (kv_h5_store_has(s, "rom/deim_sigma")) {
        rc = kv_h5_store_get(s, "rom/deim_sigma", &sigf);
        hdr[1] = sigf.count;
      }
      hdr[2] = kv_h5_store_has(s, "rom/u_ref");
    }
    free(model);
    kv_h5_array_free(&gn);
    if (s) {
      int rc2 = kv_h5_store_close(s, 0);
      if (rc == KV_OK) {
        rc = rc2;
      }
    }
  }
  KV_CHECK(kv_status_agree(r->comm, rc));
  kv_comm_bcast(hdr, 3, MPI_LONG, 0, r->comm);
  int k = (int)hdr[0], kf = (int)hdr[1];
  if (use_modes > 0 && use_modes < k) {
    k = (int)use_modes;
  }
  /* A linear model is projected exactly (its reduced operators come from the model itself);
   * anything else needs the DEIM basis of its tendency. */
  r->linear = r->finfo.linear && r->full->type->linear_part != NULL;
  if (!r->linear && kf == 0) {
    rc = kv_config_errorf(cfg, "rom.basis",
                          "'%s' has no DEIM basis: it was fit on runs of a "
                          "linear problem, and this run's model is nonlinear (e.g. a conductivity "
                          "that depends on T): fit the basis on such runs",
                          path);
  }
  KV_CHECK(kv_status_agree(r->comm, rc));
  /* Each basis is read straight into the array its POD then owns: a 512^2 basis is 35 MB,
   * and every copy of it is a ROM's start-up. */
  double *U = kv_alloc_large(((size_t)r->nloc * (size_t)k + 1) * sizeof *U),
         *s = malloc(((size_t)(k > kf ? k : kf) + 1) * sizeof *s);
  rc = U && s ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  rc = kv_status_agree(r->comm, rc);
  if (rc == KV_OK) {
    rc = kv_rom_read_modes(r, path, "rom/modes", k, U);
  }
  if (rc == KV_OK) {
    if (rank == 0) {
      memcpy(s, sig.data, (size_t)k * sizeof *s);
    }
    kv_comm_bcast(s, k, MPI_DOUBLE, 0, r->comm);
    rc = kv_pod_adopt(r->comm, r->nloc, k, U, s, &r->V);
    U = NULL;
  }
  if (rc == KV_OK && !r->linear) {
    U = kv_alloc_large(((size_t)r->nloc * (size_t)kf + 1) * sizeof *U);
    rc = kv_status_agree(r->comm, U ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory"));
    if (rc == KV_OK) {
      rc = kv_rom_read_modes(r, path, "rom/deim_modes", kf, U);
    }
    if (rc == KV_OK) {
      if (rank == 0) {
        memcpy(s, sigf.data, (size_t)kf * sizeof *s);
      }
      kv_comm_bcast(s, kf, MPI_DOUBLE, 0, r->comm);
      rc = kv_pod_adopt(r->comm, r->nloc, kf, U, s, &r->W);
      U = NULL;
    }
    if (rc == KV_OK && hdr[2] && !r->li) {
      r->uref = malloc(((size_t)r->nloc + 1) * sizeof *r->uref);
      rc = kv_status_agree(r->comm, r->uref ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory"));
      if (rc == KV_OK) {
        rc = kv_rom_read_modes(r, path, "rom/u_ref", 1, r->uref);
      }
    }
  }
  free(U);
  free(s);
  kv_h5_array_free(&sig);
  kv_h5_array_free(&sigf);
  return kv_status_agree(r->comm, rc);
}

/* ------------------------------------------------------------------ checkpoint and restart */

/* The bases after `updates` updates, beside the checkpoint chk. */
static void basis_path(const char *chk, long updates, char *buf, size_t n) {
  snprintf(buf, n, "%s.basis-%ld.h5", chk, updates);
}

/* The modes of p in global cell order into a (k, grid...) dataset of s (rank 0). Collective. */
static int put_modes(kv_rom *r, kv_h5_store *s, const char *name, const kv_pod *p) {
  int rank, size;
  rank = kv_comm_rank(r->comm);
  size = kv_comm_size(r->comm);
  int k = kv_pod_nmodes(p), nl = (int)r->nloc;
  int *cnt = rank == 0 ? malloc((size_t)size * sizeof *cnt) : NULL;
  int *dsp = rank == 0 ? malloc((size_t)size * sizeof *dsp) : NULL;
  long *gi = rank == 0 ? malloc(((size_t)r->N + 1) * sizeof *gi) : NULL;
  double *col = rank == 0 ? malloc(((size_t)r->N + 1) * sizeof *col) : NULL;
  double *all = rank == 0 ? malloc(((size_t)r->N * k + 1) * sizeof *all) : NULL;
  int rc = rank != 0 || (cnt && dsp && gi && col && all)
               ? KV_OK
               : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory");
  rc = kv_status_agree(r->comm, rc);
  if (rc == KV_OK) {
    kv_comm_gather(&nl, 1, MPI_INT, cnt, 0, r->comm);
    if (rank == 0) {
      for (int q = 0, o = 0; q < size; q++, o += cnt[q - 1]) {
        dsp[q] = o;
      }
    }
    kv_comm_gatherv(r->gidx, nl, MPI_LONG, gi, cnt, dsp, 0, r->comm);
    for (int j = 0; j < k; j++) {
      kv_comm_gatherv(kv_pod_modes(p) + (size_t)j * r->nloc, nl, MPI_DOUBLE, col, cnt, dsp, 0,
                      r->comm);
      if (rank == 0) {
        for (long i = 0; i < r->N; i++) {
          all[(size_t)j * r->N + gi[i]] = col[i];
        }
      }
    }
    if (rank == 0) {
      const long *n = kv_grid_global_n(r->grid);
      int nd = kv_grid_ndims(r->grid);
      long dims[4] = {k, 0, 0, 0}, kk = k;
      for (int d = 0; d < nd; d++) {
        dims[1 + d] = n[nd - 1 - d];
      }
      char sn[64];
      snprintf(sn, sizeof sn, "%s_sigma", name);
      rc = kv_h5_store_put(s, name, nd + 1, dims, all);
      if (rc == KV_OK) {
        rc = kv_h5_store_put(s, sn, 1, &kk, kv_pod_sigma(p));
      }
    }
  }
  free(cnt);
  free(dsp);
  free(gi);
  free(col);
  free(all);
  return kv_status_agree(r->comm, rc);
}

/* The bases after `updates` updates, beside the checkpoint (atomically). Collective. */
static int save_bases(kv_rom *r) {
  char path[4300];
  basis_path(r->chk, r->updates, path, sizeof path);
  int rank;
  rank = kv_comm_rank(r->comm);
  kv_h5_store *s = NULL;
  int rc = rank == 0 ? kv_h5_store_create(path, &s) : KV_OK;
  rc = kv_status_agree(r->comm, rc);
  if (rc == KV_OK) {
    rc = put_modes(r, s, "rom/modes", r->V);
  }
  if (rc == KV_OK && r->W) {
    rc = put_modes(r, s, "rom/deim_modes", r->W);
  }
  if (rank == 0 && s) {
    if (rc == KV_OK) {
      rc = kv_h5_store_put_number(s, "/", "updates", (double)r->updates);
    }
    int rc2 = kv_h5_store_close(s, rc == KV_OK);
    if (rc == KV_OK) {
      rc = rc2;
    }
  }
  return kv_status_agree(r->comm, rc);
}

/* Everything a restart needs beyond the files' records: the lifted state and record sum, the
 * step and the number of updates; the updated bases go to <checkpoint>.basis-<updates>.h5 (the
 * one the checkpoint before this one names is kept until this one is written). Collective. */
int kv_rom_checkpoint(kv_model *m, kv_output_list *out) {
  kv_rom *r = (kv_rom *)m;
  if (r->updates > 0 && r->saved[1] != r->updates) {
    KV_CHECK(save_bases(r));
    int rank;
    rank = kv_comm_rank(r->comm);
    if (rank == 0 && r->saved[0] > 0 && r->saved[0] != r->updates && r->saved[0] != r->saved[1]) {
      char old[4300];
      basis_path(r->chk, r->saved[0], old, sizeof old);
      remove(old);
    }
    r->saved[0] = r->saved[1];
    r->saved[1] = r->updates;
  }
  kv_rom_lift(r, r->a_sum);
  KV_CHECK(kv_field_copy(r->u2, r->u));
  kv_rom_lift(r, r->a);
  out->has_time = 1;
  out->time = r->t;
  KV_CHECK(
      kv_output_add_field(out, "rom_state", "1", "the ROM's state V a (the model's units)", r->u));
  KV_CHECK(kv_output_add_field(out, "rom_sum", "1",
                               "sum of the states of the current record "
                               "period (rom_nsum of them)",
                               r->u2));
  KV_CHECK(kv_output_add_scalar(out, "rom_nsum", "1", "states in rom_sum", (double)r->nsum));
  KV_CHECK(kv_output_add_scalar(out, "rom_step", "1", "step index of the state", (double)r->step));
  return kv_output_add_scalar(out, "rom/updates", "1", "full-solver steps (basis updates) so far",
                              (double)r->updates);
}

/* Replace the bases by those of a file written by save_bases. Collective. */
static int load_saved_bases(kv_rom *r, const char *path) {
  int rank;
  rank = kv_comm_rank(r->comm);
  long hdr[2] = {0, 0};
  kv_h5_array sg[2] = {{0}, {0}};
  int rc = KV_OK;
  if (rank == 0) {
    rc = kv_h5_probe(path, 0);
    if (rc == KV_OK) {
      rc = kv_h5_read_array(path, "rom/modes_sigma", &sg[0]);
    }
    if (rc == KV_OK && r->W) {
      rc = kv_h5_read_array(path, "rom/deim_modes_sigma", &sg[1]);
    }
    hdr[0] = sg[0].count;
    hdr[1] = sg[1].count;
  }
  rc = kv_status_agree(r->comm, rc);
  if (rc != KV_OK) {
    char why[512];
    snprintf(why, sizeof why, "%s", kv_error_message());
    return KV_ERROR(KV_ERR_FORMAT,
                    "restart: the ROM's bases saved with the checkpoint cannot be "
                    "read: %s",
                    why);
  }
  kv_comm_bcast(hdr, 2, MPI_LONG, 0, r->comm);
  kv_pod *np[2] = {NULL, NULL};
  for (int b = 0; b < (r->W ? 2 : 1) && rc == KV_OK; b++) {
    int k = (int)hdr[b];
    double *U = malloc(((size_t)r->nloc * k + 1) * sizeof *U),
           *sv = malloc(((size_t)k + 1) * sizeof *sv);
    rc = kv_status_agree(r->comm, U && sv ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory"));
    if (rc == KV_OK) {
      rc = kv_rom_read_modes(r, path, b ? "rom/deim_modes" : "rom/modes", k, U);
    }
    if (rc == KV_OK) {
      if (rank == 0) {
        memcpy(sv, sg[b].data, (size_t)k * sizeof *sv);
      }
      kv_comm_bcast(sv, k, MPI_DOUBLE, 0, r->comm);
      rc = kv_pod_wrap(r->comm, r->nloc, k, U, sv, &np[b]);
    }
    free(U);
    free(sv);
  }
  kv_h5_array_free(&sg[0]);
  kv_h5_array_free(&sg[1]);
  if (rc != KV_OK) {
    kv_pod_free(np[0]);
    kv_pod_free(np[1]);
    return rc;
  }
  kv_pod_free(r->V);
  r->V = np[0];
  if (r->W) {
    kv_pod_free(r->W);
    r->W = np[1];
  }
  r->k = kv_pod_nmodes(r->V);
  if (r->linear) {
    KV_CHECK(kv_rom_assemble_linear(r));
  }
  return kv_rom_refresh(r);
}

/* Continue from a ROM checkpoint (state, record sum, updated bases: the run goes on as if never
 * stopped), or from an output file of the full model's layout (its last state, projected on the
 * basis). Collective. */
int kv_rom_restart(kv_model *m, const char *path) {
  kv_rom *r = (kv_rom *)m;
  int rank;
  rank = kv_comm_rank(r->comm);
  double v[3] = {0.0, 0.0, 0.0}; /* is a ROM checkpoint, step, updates; nsum below */
  double nsum = 0.0;
  int rc = KV_OK;
  if (rank == 0) {
    rc = kv_h5_probe(path, 0);
    if (rc == KV_OK) {
      kv_h5_store *s = NULL;
      rc = kv_h5_store_open(path, &s);
      if (rc == KV_OK) {
        v[0] = kv_h5_store_has(s, "rom_state");
      }
      int rc2 = kv_h5_store_close(s, 0);
      if (rc == KV_OK) {
        rc = rc2;
      }
    }
    if (rc == KV_OK && v[0]) {
      static const char *const names[] = {"rom_step", "rom/updates", "rom_nsum"};
      double *dst[] = {&v[1], &v[2], &nsum};
      for (int q = 0; q < 3 && rc == KV_OK; q++) {
        kv_h5_array a = {0};
        rc = kv_h5_read_array(path, names[q], &a);
        if (rc == KV_OK && a.count < 1) {
          rc = KV_ERROR(KV_ERR_FORMAT, "restart: '%s': /%s is empty", path, names[q]);
        }
        if (rc == KV_OK) {
          *dst[q] = a.data[a.count - 1];
        }
        kv_h5_array_free(&a);
      }
    }
  }
  KV_CHECK(kv_status_agree(r->comm, rc));
  double b[4] = {v[0], v[1], v[2], nsum};
  kv_comm_bcast(b, 4, MPI_DOUBLE, 0, r->comm);
  if (!b[0]) {
    if (r->means) {
      return KV_ERROR(KV_ERR_UNSUPPORTED,
                      "restart: '%s' is not a ROM checkpoint; a ROM of the %s "
                      "model restarts from the <output>.checkpoint.h5 that run.checkpoint_every or "
                      "an interrupt writes (its records are means)",
                      path, r->full->type->name);
    }
    /* A file of the full model's layout: its last state, projected on the basis. */
    KV_CHECK(kv_model_restart(r->full, path));
    kv_model_info fi;
    KV_CHECK(kv_model_info_get(r->full, &fi));
    const kv_field *u;
    KV_CHECK(r->full->type->state(r->full, &u));
    kv_field_pack(u, r->uloc);
    KV_CHECK(kv_pod_project(r->V, r->uloc, r->a));
    r->step = fi.step0;
    r->t = fi.t0;
    return kv_rom_refresh_point_values(r);
  }
  long step = lround(b[1]), updates = lround(b[2]);
  if (step < 0 || step >= r->finfo.nsteps) {
    return KV_ERROR(KV_ERR_CONFIG, "restart: '%s' is at step %ld, this run ends at step %ld", path,
                    step, r->finfo.nsteps);
  }
  if (updates > 0) {
    char bp[4300];
    basis_path(path, updates, bp, sizeof bp);
    KV_CHECK(load_saved_bases(r, bp));
  }
  r->updates = updates;
  r->saved[0] = r->saved[1] = updates;
  double *buf = malloc(((size_t)r->nloc + 1) * sizeof *buf);
  KV_CHECK(kv_status_agree(r->comm, buf ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "rom: out of memory")));
  rc = kv_rom_read_modes(r, path, "rom_state", 1, buf);
  if (rc == KV_OK) {
    rc = kv_pod_project(r->V, buf, r->a);
  }
  if (rc == KV_OK) {
    rc = kv_rom_read_modes(r, path, "rom_sum", 1, buf);
  }
  if (rc == KV_OK) {
    rc = kv_pod_project(r->V, buf, r->a_sum);
  }
  free(buf);
  KV_CHECK(rc);
  r->nsum = lround(b[3]);
  r->step = step;
  r->t = r->t_origin + (double)step * r->dt;
  return kv_rom_refresh_point_values(r);
}

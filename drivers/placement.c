#include "drivers/placement.h"

#include <gsl/gsl_rng.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/comm.h"
#include "core/log.h"
#include "core/status.h"
#include "drivers/evaluate.h"
#include "io/dataset.h"
#include "io/layout.h"
#include "io/plot.h"
#include "io/safefile.h"
#include "io/table.h"
#include "io/textfile.h"

int kv_placement_params_from_config(const kv_config *cfg, kv_placement_params *p) {
  memset(p, 0, sizeof *p);
  long k, v;
  const char *s;
  KV_CHECK(kv_config_get_int(cfg, "optimize.placement", 0, KV_PLACE_MAXK, &k));
  p->k = (int)k;
  KV_CHECK(kv_config_get_string(cfg, "optimize.place_key", &s));
  snprintf(p->key, sizeof p->key, "%s", s);
  KV_CHECK(kv_config_get_string(cfg, "optimize.place_field", &s));
  snprintf(p->field, sizeof p->field, "%s", s);
  double el[2];
  int n = 0;
  if (!kv_config_has(cfg, "optimize.element")) {
    return kv_config_errorf(cfg, "optimize.element",
                            "placement needs the element: sigma, amplitude (a Gaussian of that "
                            "width, in the field's coordinate units, and peak; negative: a sink)");
  }
  KV_CHECK(kv_config_get_double_list(cfg, "optimize.element", el, 2, &n));
  if (n != 2 || !(el[0] > 0.0) || el[1] == 0.0) {
    return kv_config_errorf(cfg, "optimize.element",
                            "expected sigma, amplitude with sigma > 0 and amplitude != 0");
  }
  p->sigma = el[0];
  p->amplitude = el[1];
  long sites[2] = {8, 8};
  KV_CHECK(kv_config_get_int_list(cfg, "optimize.sites", sites, 2, &n));
  if (n != 2 || sites[0] * sites[1] > KV_PLACE_MAXSITES || sites[0] * sites[1] <= p->k) {
    return kv_config_errorf(cfg, "optimize.sites",
                            "expected nx, ny: a lattice of more than optimize.placement = %d and "
                            "at most %d sites",
                            p->k, KV_PLACE_MAXSITES);
  }
  p->sites[0] = (int)sites[0];
  p->sites[1] = (int)sites[1];
  for (int j = 0; j < 4; j++) {
    p->region[j] = NAN;
  }
  if ((s = kv_config_value(cfg, "optimize.region"))) {
    if (sscanf(s, " %lf : %lf , %lf : %lf", &p->region[0], &p->region[1], &p->region[2],
               &p->region[3]) != 4 ||
        !(p->region[0] < p->region[1]) || !(p->region[2] < p->region[3])) {
      return kv_config_errorf(cfg, "optimize.region",
                              "expected x0:x1, y0:y1 with x0 < x1, y0 < y1");
    }
  }
  KV_CHECK(kv_config_get_enum(cfg, "optimize.region_stat", "mean|max", &p->stat));
  KV_CHECK(kv_config_get_enum(cfg, "optimize.goal", "minimize|maximize", &p->maximize));
  KV_CHECK(kv_config_get_int(cfg, "optimize.ils", 0, 100000000, &p->ils));
  KV_CHECK(kv_config_get_int(cfg, "optimize.random", 0, 100000, &p->random));
  KV_CHECK(kv_config_get_int(cfg, "optimize.confirm", 1, 1000, &p->confirm));
  KV_CHECK(kv_config_get_int(cfg, "optimize.seed", 0, 4294967295L, &v));
  p->seed = (unsigned long)v;
  s = kv_config_value(cfg, "optimize.dir");
  snprintf(p->dir, sizeof p->dir, "%s", s ? s : "runs/placement");
  return KV_OK;
}

/* ------------------------------------------------------------------ the surrogate */

typedef struct {
  const kv_config *cfg;
  const kv_placement_params *p;
  kv_field_layout L;
  long npts;
  int nsites;
  double *T0, *G; /* base field; nsites x npts effects                     */
  char *mask;     /* the region's points                                  */
  double *work;
  long moves;
} place;

/* The statistic of field F over the region, signed so that lower is better. */
static double stat(const place *pl, const double *F) {
  double v = pl->p->stat ? -INFINITY : 0.0;
  long n = 0;
  for (long i = 0; i < pl->npts; i++) {
    if (pl->mask[i]) {
      v = pl->p->stat ? fmax(v, F[i]) : v + F[i];
      n++;
    }
  }
  v = pl->p->stat ? v : v / (double)(n ? n : 1);
  return pl->p->maximize ? -v : v;
}

/* The surrogate objective of the k sites S. */
static double predict(place *pl, const int *S, int k) {
  memcpy(pl->work, pl->T0, (size_t)pl->npts * sizeof *pl->work);
  for (int e = 0; e < k; e++) {
    const double *g = pl->G + (long)S[e] * pl->npts;
    for (long i = 0; i < pl->npts; i++) {
      pl->work[i] += g[i];
    }
  }
  pl->moves++;
  return stat(pl, pl->work);
}

static int taken(const int *S, int k, int s) {
  for (int e = 0; e < k; e++) {
    if (S[e] == s) {
      return 1;
    }
  }
  return 0;
}

static void greedy(place *pl, int *S) {
  for (int e = 0; e < pl->p->k; e++) {
    double best = INFINITY;
    int bs = 0;
    for (int s = 0; s < pl->nsites; s++) {
      if (taken(S, e, s)) {
        continue;
      }
      S[e] = s;
      double v = predict(pl, S, e + 1);
      if (v < best) {
        best = v;
        bs = s;
      }
    }
    S[e] = bs;
  }
}

/* Hill-climb over one-site moves to a free neighbouring lattice site (first improvement). */
static double climb(place *pl, int *S, double v) {
  int k = pl->p->k, nx = pl->p->sites[0], ny = pl->p->sites[1];
  for (int improved = 1; improved;) {
    improved = 0;
    for (int e = 0; e < k; e++) {
      int sx = S[e] % nx, sy = S[e] / nx, old = S[e];
      for (int dy = -1; dy <= 1 && !improved; dy++) {
        for (int dx = -1; dx <= 1 && !improved; dx++) {
          int tx = sx + dx, ty = sy + dy, t = ty * nx + tx;
          if ((!dx && !dy) || tx < 0 || ty < 0 || tx >= nx || ty >= ny || taken(S, k, t)) {
            continue;
          }
          S[e] = t;
          double w = predict(pl, S, k);
          if (w < v - 1e-15 * fabs(v)) {
            v = w;
            improved = 1;
          } else {
            S[e] = old;
          }
        }
      }
    }
  }
  return v;
}

/* Iterated local search from S (in place: the best found). */
static double ils(place *pl, int *S, gsl_rng *r) {
  int k = pl->p->k, cur[KV_PLACE_MAXK], cand[KV_PLACE_MAXK];
  double best = climb(pl, S, predict(pl, S, k));
  memcpy(cur, S, (size_t)k * sizeof *cur);
  double vcur = best;
  int kick = k / 3 > 1 ? k / 3 : 1;
  for (long it = 0; it < pl->p->ils; it++) {
    memcpy(cand, cur, (size_t)k * sizeof *cand);
    for (int m = 0; m < kick; m++) {
      int e = (int)gsl_rng_uniform_int(r, (unsigned long)k), t;
      do {
        t = (int)gsl_rng_uniform_int(r, (unsigned long)pl->nsites);
      } while (taken(cand, k, t));
      cand[e] = t;
    }
    double v = climb(pl, cand, predict(pl, cand, k));
    if (v < vcur) {
      vcur = v;
      memcpy(cur, cand, (size_t)k * sizeof *cur);
    }
    if (v < best) {
      best = v;
      memcpy(S, cand, (size_t)k * sizeof *S);
    }
  }
  return best;
}

/* ------------------------------------------------------------------ runs */

/* The source field of the k sites S (k = 0: none) as a field file at path (rank 0). */
static int write_elements(const place *pl, const int *S, int k, const double *sx, const double *sy,
                          const char *path) {
  const kv_field_layout *L = &pl->L;
  double *q = calloc((size_t)pl->npts, sizeof *q);
  if (!q) {
    return KV_ERROR(KV_ERR_NOMEM, "placement: out of memory");
  }
  double s2 = 2.0 * pl->p->sigma * pl->p->sigma;
  for (long j = 0; j < L->n[1]; j++) {
    for (long i = 0; i < L->n[0]; i++) {
      double v = 0.0;
      for (int e = 0; e < k; e++) {
        double dx = L->coord[0][i] - sx[S[e]], dy = L->coord[1][j] - sy[S[e]];
        v += pl->p->amplitude * exp(-(dx * dx + dy * dy) / s2);
      }
      q[j * L->n[0] + i] = v;
    }
  }
  kv_field_layout Lq;
  int rc = kv_layout_copy(&Lq, L);
  if (rc == KV_OK) {
    snprintf(Lq.var, sizeof Lq.var, "q");
    snprintf(Lq.units, sizeof Lq.units, "K/s");
    snprintf(Lq.long_name, sizeof Lq.long_name, "placed elements");
    rc = kv_layout_write_field(&Lq, 1, NULL, q, NULL, path, NULL, NULL);
  }
  kv_layout_free(&Lq);
  free(q);
  return rc;
}

/* Run the placements sets (n x k sites; k = 0: one run without elements) in dir, the final
 * fields (n x npts) to F on rank 0. Collective. */
static int run_sets(MPI_Comm comm, place *pl, const char *dir, long n, int k, const int *sets,
                    const double *sx, const double *sy, double *F) {
  char(*cells)[4300] = malloc((size_t)n * sizeof *cells);
  const char **cp = malloc((size_t)n * sizeof *cp);
  int rc = cells && cp ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "placement: out of memory");
  int root = kv_comm_rank(comm) == 0;
  char sub[4200];
  snprintf(sub, sizeof sub, "%.4000s/elements", dir);
  if (rc == KV_OK && root) {
    rc = kv_safefile_mkdirs(sub);
  }
  for (long i = 0; rc == KV_OK && i < n; i++) {
    char path[4200];
    snprintf(path, sizeof path, "%.4100s/set_%04ld.h5", sub, i);
    snprintf(cells[i], sizeof cells[i], "%s:/q", path);
    cp[i] = k ? cells[i] : "none";
    if (root && k) {
      rc = write_elements(pl, sets + i * k, k, sx, sy, path);
    }
  }
  rc = kv_status_agree(comm, rc);
  const char *key = pl->p->key;
  long failed = 0;
  if (rc == KV_OK) {
    rc = kv_eval_cases(comm, pl->cfg, dir, 1, &key, n, cp, 0, NULL, NULL, &failed);
  }
  if (rc == KV_OK && failed) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "placement: %ld of %ld runs failed (see %s/manifest.csv)", failed,
                  n, dir);
  }
  for (long i = 0; rc == KV_OK && root && F && i < n; i++) {
    char path[4200];
    kv_h5_array a;
    long np = 0;
    kv_eval_case_path(dir, i, path, sizeof path);
    rc = kv_dataset_last_record(path, pl->p->field, &a, &np);
    if (rc == KV_OK && np != pl->npts && pl->npts > 0) {
      rc = KV_ERROR(KV_ERR_FORMAT, "placement: %s has %ld points, the base run %ld", path, np,
                    pl->npts);
    }
    if (rc == KV_OK) {
      memcpy(F + i * np, a.data + (a.count - np), (size_t)np * sizeof *F);
    }
    kv_h5_array_free(&a);
  }
  free(cells);
  free(cp);
  return kv_status_agree(comm, rc);
}

/* The base run: the layout, the base field and the region mask (rank 0). */
static int base(place *pl, const char *dir) {
  char path[4200];
  kv_eval_case_path(dir, 0, path, sizeof path);
  KV_CHECK(kv_layout_read(path, pl->p->field, &pl->L));
  if (pl->L.ndims != 2) {
    return KV_ERROR(KV_ERR_UNSUPPORTED, "placement: %s is %d-D; sites are placed on a 2-D field",
                    pl->p->field, pl->L.ndims);
  }
  kv_h5_array a;
  KV_CHECK(kv_dataset_last_record(path, pl->p->field, &a, &pl->npts));
  pl->T0 = malloc((size_t)pl->npts * sizeof *pl->T0);
  pl->work = malloc((size_t)pl->npts * sizeof *pl->work);
  pl->mask = malloc((size_t)pl->npts);
  int rc =
      pl->T0 && pl->work && pl->mask ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "placement: out of memory");
  if (rc == KV_OK) {
    memcpy(pl->T0, a.data + (a.count - pl->npts), (size_t)pl->npts * sizeof *pl->T0);
  }
  kv_h5_array_free(&a);
  long in = 0;
  const double *R = pl->p->region;
  for (long j = 0; rc == KV_OK && j < pl->L.n[1]; j++) {
    for (long i = 0; i < pl->L.n[0]; i++) {
      double x = pl->L.coord[0][i], y = pl->L.coord[1][j];
      int m = isnan(R[0]) || (x >= R[0] && x <= R[1] && y >= R[2] && y <= R[3]);
      pl->mask[j * pl->L.n[0] + i] = (char)m;
      in += m;
    }
  }
  if (rc == KV_OK && in == 0) {
    rc = KV_ERROR(KV_ERR_CONFIG, "optimize.region: no point of the field lies in it");
  }
  return rc;
}

/* placement.csv, and the single-element effect map as a PNG (rank 0). */
static int write_results(const place *pl, const kv_placement_result *r, long nsets, const int *sets,
                         const char *const *kind, const double *pred, const double *truth,
                         const double *effect) {
  char path[4200], tmp[4300];
  int k = pl->p->k;
  snprintf(path, sizeof path, "%s/placement.csv", r->dir);
  FILE *f = kv_textfile_begin(path, "set,kind", "the placement results", tmp, sizeof tmp);
  if (!f) {
    return KV_ERR_IO;
  }
  fputs("set,kind,sites,x,y,predicted,solver\n", f);
  for (long i = 0; i < nsets; i++) {
    fprintf(f, "%ld,%s,", i, kind[i]);
    for (int pass = 0; pass < 3; pass++) {
      for (int e = 0; e < k; e++) {
        int st = sets[i * k + e];
        if (pass == 0) {
          fprintf(f, "%s%d", e ? ";" : "", st);
        } else {
          fprintf(f, "%s%.6g", e ? ";" : "", pass == 1 ? r->site_x[st] : r->site_y[st]);
        }
      }
      fputc(',', f);
    }
    fprintf(f, "%.10g,%.10g\n", pred[i], truth[i]);
  }
  KV_CHECK(kv_textfile_commit(f, tmp, path));
  snprintf(path, sizeof path, "%s/effects.png", r->dir);
  kv_plot_opts o = {0, 0, "one element per site: effect", "change", "x", "y", 1};
  double xs[KV_PLACE_MAXSITES], ys[KV_PLACE_MAXSITES];
  for (int i = 0; i < pl->p->sites[0]; i++) {
    xs[i] = r->site_x[i];
  }
  for (int j = 0; j < pl->p->sites[1]; j++) {
    ys[j] = r->site_y[j * pl->p->sites[0]];
  }
  return kv_plot_map(effect, pl->p->sites[0], pl->p->sites[1], xs, ys, &o, path);
}

int kv_placement_run(MPI_Comm comm, const kv_config *cfg, kv_placement_result *out) {
  kv_placement_params p;
  memset(out, 0, sizeof *out);
  KV_CHECK(kv_placement_params_from_config(cfg, &p));
  place pl;
  memset(&pl, 0, sizeof pl);
  pl.cfg = cfg;
  pl.p = &p;
  int root = kv_comm_rank(comm) == 0, k = p.k, nx = p.sites[0], ny = p.sites[1];
  double sg = p.maximize ? -1.0 : 1.0; /* signed objective -> the user's */
  pl.nsites = out->nsites = nx * ny;
  out->k = k;
  snprintf(out->dir, sizeof out->dir, "%s", p.dir);
  char dir[4200];
  snprintf(dir, sizeof dir, "%s/base", p.dir);
  int rc = run_sets(comm, &pl, dir, 1, 0, NULL, NULL, NULL, NULL);
  if (rc == KV_OK && root) {
    rc = base(&pl, dir);
  }
  rc = kv_status_agree(comm, rc);
  /* Sites at the centres of an nx x ny lattice over the field's extent. */
  if (rc == KV_OK && root) {
    const kv_field_layout *L = &pl.L;
    double x0 = L->coord[0][0], x1 = L->coord[0][L->n[0] - 1];
    double y0 = L->coord[1][0], y1 = L->coord[1][L->n[1] - 1];
    for (int j = 0; j < ny; j++) {
      for (int i = 0; i < nx; i++) {
        out->site_x[j * nx + i] = x0 + (i + 0.5) * (x1 - x0) / nx;
        out->site_y[j * nx + i] = y0 + (j + 0.5) * (y1 - y0) / ny;
      }
    }
    out->objective_base = sg * stat(&pl, pl.T0);
  }
  int nsites = pl.nsites;
  int *ones = malloc((size_t)nsites * sizeof *ones);
  double *effect = malloc((size_t)nsites * sizeof *effect);
  if (rc == KV_OK && root) {
    pl.G = malloc((size_t)nsites * (size_t)pl.npts * sizeof *pl.G);
  }
  if (rc == KV_OK && (!ones || !effect || (root && !pl.G))) {
    rc = KV_ERROR(KV_ERR_NOMEM, "placement: out of memory for %d effect maps", nsites);
  }
  rc = kv_status_agree(comm, rc);
  for (int s = 0; rc == KV_OK && s < nsites; s++) {
    ones[s] = s;
  }
  if (rc == KV_OK) {
    kv_info("placement: %d single-element runs of the full solver (the effect maps)", nsites);
    snprintf(dir, sizeof dir, "%s/effects", p.dir);
    rc = run_sets(comm, &pl, dir, nsites, 1, ones, out->site_x, out->site_y, root ? pl.G : NULL);
  }
  if (rc == KV_OK && root) {
    for (int s = 0; s < nsites; s++) {
      double *g = pl.G + (long)s * pl.npts;
      effect[s] = sg * stat(&pl, g) - out->objective_base;
      for (long i = 0; i < pl.npts; i++) {
        g[i] -= pl.T0[i];
      }
    }
  }
  /* The search on the surrogate: greedy, then ILS restarts; random placements to compare. */
  long ncand = p.confirm, nsets = ncand + 1 + p.random;
  int *sets = calloc((size_t)nsets * (size_t)(k > 0 ? k : 1), sizeof *sets);
  double *pred = malloc((size_t)nsets * sizeof *pred),
         *truth = malloc((size_t)nsets * sizeof *truth);
  const char **kind = malloc((size_t)nsets * sizeof *kind);
  double *F = root ? malloc((size_t)nsets * (size_t)(pl.npts > 0 ? pl.npts : 1) * sizeof *F) : NULL;
  gsl_rng *r = gsl_rng_alloc(gsl_rng_mt19937);
  if (rc == KV_OK && (!sets || !pred || !truth || !kind || !r || (root && !F))) {
    rc = KV_ERROR(KV_ERR_NOMEM, "placement: out of memory");
  }
  rc = kv_status_agree(comm, rc);
  if (rc == KV_OK && root) {
    int *G0 = sets + ncand * k;
    greedy(&pl, G0);
    kind[ncand] = "greedy";
    for (long c = 0; c < ncand; c++) {
      gsl_rng_set(r, p.seed + 1000UL * (unsigned long)c);
      memcpy(sets + c * k, G0, (size_t)k * sizeof *sets);
      ils(&pl, sets + c * k, r);
      kind[c] = "search";
    }
    gsl_rng_set(r, p.seed + 7UL);
    for (long i = ncand + 1; i < nsets; i++) {
      int *S = sets + i * k;
      for (int e = 0; e < k; e++) {
        do {
          S[e] = (int)gsl_rng_uniform_int(r, (unsigned long)nsites);
        } while (taken(S, e, S[e]));
      }
      kind[i] = "random";
    }
    for (long i = 0; i < nsets; i++) {
      pred[i] = sg * predict(&pl, sets + i * k, k);
    }
    out->moves = pl.moves;
  }
  if (rc == KV_OK) {
    kv_info("placement: %ld placements re-run by the full solver", nsets);
    snprintf(dir, sizeof dir, "%s/confirm", p.dir);
    rc = run_sets(comm, &pl, dir, nsets, k, sets, out->site_x, out->site_y, F);
  }
  if (rc == KV_OK && root) {
    long ib = 0;
    double rsum = 0.0;
    out->random_best = NAN;
    for (long i = 0; i < nsets; i++) {
      truth[i] = sg * stat(&pl, F + i * pl.npts);
      if (i < ncand && sg * truth[i] < sg * truth[ib]) {
        ib = i;
      }
      if (i > ncand) {
        rsum += truth[i];
        out->random_best = isnan(out->random_best) || sg * truth[i] < sg * out->random_best
                               ? truth[i]
                               : out->random_best;
      }
    }
    memcpy(out->best, sets + ib * k, (size_t)k * sizeof *out->best);
    memcpy(out->greedy, sets + ncand * k, (size_t)k * sizeof *out->greedy);
    out->best_pred = pred[ib];
    out->best_true = truth[ib];
    out->greedy_pred = pred[ncand];
    out->greedy_true = truth[ncand];
    out->nrandom = p.random;
    out->random_mean = p.random ? rsum / (double)p.random : NAN;
    out->runs = 1 + nsites + nsets;
    rc = write_results(&pl, out, nsets, sets, kind, pred, truth, effect);
  }
  rc = kv_status_agree(comm, rc);
  gsl_rng_free(r);
  free(F);
  free(kind);
  free(pred);
  free(truth);
  free(sets);
  free(ones);
  free(effect);
  free(pl.G);
  free(pl.T0);
  free(pl.work);
  free(pl.mask);
  kv_layout_free(&pl.L);
  return rc;
}

void kv_placement_print(const kv_placement_result *r, const kv_placement_params *p, FILE *f) {
  const char *what = p->stat ? "max" : "mean";
  fprintf(f,
          "placement of %d element%s on %d sites (%ld runs of the full solver, %ld surrogate "
          "evaluations):\n",
          r->k, r->k == 1 ? "" : "s", r->nsites, r->runs, r->moves);
  fprintf(f, "  %s %s over the region without elements: %.6g\n", what, p->field, r->objective_base);
  fprintf(f, "  random placements (%ld, full solver): mean %.6g, best %.6g\n", r->nrandom,
          r->random_mean, r->random_best);
  fprintf(f, "  greedy start:      solver %.6g (surrogate %.6g)\n", r->greedy_true, r->greedy_pred);
  fprintf(f, "  search (ILS) best: solver %.6g (surrogate %.6g)\n", r->best_true, r->best_pred);
  fprintf(f, "  gain over the greedy start %.4g, over the mean random placement %.4g\n",
          p->maximize ? r->best_true - r->greedy_true : r->greedy_true - r->best_true,
          p->maximize ? r->best_true - r->random_mean : r->random_mean - r->best_true);
  fprintf(f, "  sites (x, y):");
  for (int e = 0; e < r->k; e++) {
    fprintf(f, " (%.4g, %.4g)", r->site_x[r->best[e]], r->site_y[r->best[e]]);
  }
  fputc('\n', f);
}

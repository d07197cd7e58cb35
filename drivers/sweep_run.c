/* The sweep task farm: groups of ranks take cases from a shared counter, run them with kv_run and
 * record the outcome in a table held in an MPI window on rank 0, from which the group that
 * finished a case rewrites the manifest.
 *
 * Why one-sided MPI: every rank computes (a dedicated master would idle one rank of two), so no
 * rank can wait in a receive loop; a passive-target fetch-and-add on rank 0's counter hands out
 * the next case without rank 0's participation, and an exclusive lock on the table serialises the
 * manifest updates of the groups (the manifest on disk always reflects the newest table).
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/comm.h"
#include "core/interrupt.h"
#include "core/log.h"
#include "core/status.h"
#include "drivers/run.h"
#include "drivers/sweep.h"
#include "io/dataset.h"
#include "io/h5.h"
#include "io/manifest.h"
#include "io/safefile.h"
#include "solvers/model.h"

typedef struct {
  const kv_sweep *s;
  long n;          /* cases in this run (the slice)          */
  long *ids;       /* their case numbers                     */
  char **outputs;  /* their file names, relative to the dir  */
  char stem[4200]; /* manifest path without extension        */
  double t0;
  long ran_before; /* done + failed when this run started    */
  int tty;
  char *reported;           /* rank 0: the cases it has reported        */
  int lock_dir, lock_slice; /* rank 0: the lock files held (-1: none)   */
  int nresp;                /* the model's scalar responses (columns)   */
  char resp[KV_MANIFEST_RESP][64];
  const char *respp[KV_MANIFEST_RESP];
} farm;

/* Seconds between two rewrites of the manifest while cases finish (and at the end). */
#define KV_MANIFEST_EVERY 0.1

static void farm_free(farm *f) {
  for (long i = 0; i < f->n && f->outputs; i++) {
    free(f->outputs[i]);
  }
  free(f->outputs);
  free(f->ids);
  free(f->reported);
  if (f->lock_slice >= 0) {
    close(f->lock_slice); /* closing releases the lock */
  }
  if (f->lock_dir >= 0) {
    close(f->lock_dir);
  }
  f->lock_dir = f->lock_slice = -1;
}

/* The responses the model records for every case (the manifest's response columns). */
static int farm_responses(farm *f) {
  kv_config *cc = NULL;
  const kv_model_type *t = NULL;
  char buf[KV_MANIFEST_RESP * 64] = "";
  int rc = kv_sweep_case_config(f->s, 0, &cc);
  if (rc == KV_OK) {
    rc = kv_model_type_of(cc, &t);
  }
  if (rc == KV_OK && t->responses) {
    rc = t->responses(cc, buf, sizeof buf);
  }
  kv_config_free(cc);
  char *save = NULL;
  for (char *w = strtok_r(buf, ",", &save); rc == KV_OK && w; w = strtok_r(NULL, ",", &save)) {
    if (f->nresp == KV_MANIFEST_RESP) {
      return KV_ERROR(KV_ERR_CONFIG, "sweep: at most %d responses per case", KV_MANIFEST_RESP);
    }
    snprintf(f->resp[f->nresp], sizeof f->resp[0], "%s", w);
    f->respp[f->nresp] = f->resp[f->nresp];
    f->nresp++;
  }
  return rc;
}

/* The responses of done case c from its file (NaN where one cannot be read: a warning). */
static void case_responses(const farm *f, long c, kv_case_record *rec) {
  char path[4200];
  kv_sweep_case_path(f->s, c, path, sizeof path);
  for (int k = 0; k < f->nresp; k++) {
    if (kv_dataset_case_qoi(path, f->resp[k], &rec->resp[k]) != KV_OK) {
      kv_warn("case %04ld: response %s: %s", c, f->resp[k], kv_error_message());
      rec->resp[k] = NAN;
    }
  }
}

static int farm_init(farm *f, const kv_sweep *s, int slice, int nslices) {
  memset(f, 0, sizeof *f);
  f->lock_dir = f->lock_slice = -1;
  f->s = s;
  long nc = kv_sweep_ncases(s);
  f->ids = malloc((size_t)nc * sizeof *f->ids);
  f->outputs = calloc((size_t)nc, sizeof *f->outputs);
  if (!f->ids || !f->outputs) {
    return KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
  }
  /* Round-robin slices: a stable partition that balances cases of growing cost. */
  for (long c = 0; c < nc; c++) {
    if (nslices > 0 && c % nslices != slice) {
      continue;
    }
    char path[4200];
    kv_sweep_case_path(s, c, path, sizeof path);
    const char *b = strrchr(path, '/');
    f->outputs[f->n] = strdup(b ? b + 1 : path);
    if (!f->outputs[f->n]) {
      return KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
    }
    f->ids[f->n++] = c;
  }
  KV_CHECK(farm_responses(f));
  if (nslices > 0) {
    snprintf(f->stem, sizeof f->stem, "%s/manifest.slice-%d-of-%d", kv_sweep_dir(s), slice,
             nslices);
  } else {
    snprintf(f->stem, sizeof f->stem, "%s/manifest", kv_sweep_dir(s));
  }
  return KV_OK;
}

/* with_h5: 0 the CSV, 1 the CSV and the HDF5 table, 2 Dakota's tabular results.dat instead. */
static int write_manifest(const farm *f, const char *stem, const kv_case_record *recs,
                          int with_h5) {
  const kv_sweep *s = f->s;
  int nv = kv_sweep_nvars(s);
  const char **vars = malloc(((size_t)nv + 1) * sizeof *vars);
  const char **vals = malloc(((size_t)f->n * (size_t)nv + 1) * sizeof *vals);
  if (!vars || !vals) {
    free(vars);
    free(vals);
    return KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
  }
  for (int v = 0; v < nv; v++) {
    vars[v] = kv_sweep_var(s, v);
  }
  for (long r = 0; r < f->n; r++) {
    for (int v = 0; v < nv; v++) {
      vals[r * nv + v] = kv_sweep_value(s, f->ids[r], v);
    }
  }
  char title[4400];
  snprintf(title, sizeof title, "kelvin sweep manifest (%s, method %s)", kv_sweep_source(s),
           kv_sweep_method(s));
  kv_manifest m = {nv,   vars,  f->n,     f->ids,  vals, (const char *const *)f->outputs,
                   recs, title, f->nresp, f->respp};
  char dat[4300];
  snprintf(dat, sizeof dat, "%s/results.dat", kv_sweep_dir(s));
  int rc = with_h5 == 2 ? kv_manifest_write_dakota(dat, &m) : kv_manifest_write(stem, &m, with_h5);
  free(vars);
  free(vals);
  return rc;
}

static void count(const kv_case_record *recs, long n, kv_sweep_summary *sum) {
  sum->total = n;
  sum->done = sum->failed = sum->pending = sum->skipped = 0;
  for (long i = 0; i < n; i++) {
    sum->done += recs[i].status == KV_CASE_DONE;
    sum->failed += recs[i].status == KV_CASE_FAILED;
    sum->pending += recs[i].status == KV_CASE_PENDING;
    sum->skipped += recs[i].status == KV_CASE_DONE && recs[i].skipped;
  }
}

static void hms(double s, char *buf, size_t n) {
  long t = (long)(s + 0.5);
  if (t >= 3600) {
    snprintf(buf, n, "%ld:%02ld:%02ld", t / 3600, t / 60 % 60, t % 60);
  } else {
    snprintf(buf, n, "%02ld:%02ld", t / 60, t % 60);
  }
}

/* One line per finished case in logs; one updating line on a terminal. */
static void report(const farm *f, const kv_case_record *recs, long idx) {
  kv_sweep_summary sm;
  count(recs, f->n, &sm);
  double el = kv_comm_wtime() - f->t0;
  long now = sm.done + sm.failed - f->ran_before;
  char e[32], eta[32] = "--:--";
  hms(el, e, sizeof e);
  if (now > 0) {
    hms(el / (double)now * (double)sm.pending, eta, sizeof eta);
  }
  const kv_case_record *r = &recs[idx];
  if (r->status == KV_CASE_FAILED) {
    kv_log_all(KV_LOG_WARN, "case %04ld failed after %.2f s: %s", f->ids[idx], r->wall, r->error);
  }
  if (f->tty) {
    fprintf(stderr, "\r\033[Ksweep: %ld/%ld done, %ld failed, elapsed %s, ETA %s", sm.done,
            sm.total, sm.failed, e, eta);
    fflush(stderr);
  } else if (r->status == KV_CASE_DONE) {
    kv_log_all(KV_LOG_INFO,
               "case %04ld done in %.2f s (%ld/%ld done, %ld failed, elapsed %s, "
               "ETA %s)",
               f->ids[idx], r->wall, sm.done, sm.total, sm.failed, e, eta);
  }
}

/* One writer per sweep directory. A POSIX record lock (fcntl) on a lock file in it: held while
 * the process lives, released by the kernel when it dies (so a lock left by a killed sweep is
 * taken over by the next), and honoured on NFS. A whole-directory run takes it exclusively; a
 * Slurm slice takes it shared plus its own slice's lock exclusively, so that the slices of an
 * array run side by side but never beside a whole run or a second copy of themselves. The lock
 * file names its holder for the refusal. Rank 0 only. */
static int take_lock(const char *dir, const char *name, int exclusive, int *fd_out) {
  char path[4300];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  int fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
  if (fd < 0) {
    return KV_ERROR(KV_ERR_IO, "sweep: cannot open the lock file '%s': %s", path, strerror(errno));
  }
  struct flock fl;
  memset(&fl, 0, sizeof fl);
  fl.l_type = exclusive ? F_WRLCK : F_RDLCK;
  fl.l_whence = SEEK_SET;
  if (fcntl(fd, F_SETLK, &fl) < 0) {
    char holder[256] = "";
    struct flock q = fl;
    ssize_t n = pread(fd, holder, sizeof holder - 1, 0);
    holder[n > 0 ? n : 0] = '\0';
    holder[strcspn(holder, "\n")] = '\0';
    int pid = fcntl(fd, F_GETLK, &q) == 0 && q.l_type != F_UNLCK ? (int)q.l_pid : 0;
    close(fd);
    if (!holder[0]) {
      snprintf(holder, sizeof holder, "%s", "the slices of a Slurm array (--slice)");
    }
    return KV_ERROR(KV_ERR_USAGE,
                    "sweep: %s is in use by another kelvin sweep (%s%s%.0d): two writers would "
                    "run each other's cases and spoil the manifest; wait for it to end or stop "
                    "it (a lock left by a process that died is released with it: %s)",
                    dir, holder, pid ? ", lock pid " : "", pid, path);
  }
  if (exclusive) {
    char host[128] = "?", when[64];
    gethostname(host, sizeof host - 1);
    time_t now = time(NULL);
    strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", localtime(&now));
    char text[400];
    int len = snprintf(text, sizeof text, "host %s pid %ld since %s\n", host, (long)getpid(), when);
    if (ftruncate(fd, 0) != 0 || pwrite(fd, text, (size_t)len, 0) != len) {
      /* the holder's description is only for messages: the lock itself stands */
    }
  }
  *fd_out = fd;
  return KV_OK;
}

static int lock_farm(farm *f, const kv_sweep_options *o) {
  const char *dir = kv_sweep_dir(f->s);
  KV_CHECK(kv_safefile_mkdirs(dir));
  KV_CHECK(take_lock(dir, ".kelvin-sweep.lock", o->nslices == 0, &f->lock_dir));
  if (o->nslices > 0) {
    char name[96];
    snprintf(name, sizeof name, ".kelvin-sweep.slice-%d-of-%d.lock", o->slice, o->nslices);
    KV_CHECK(take_lock(dir, name, 1, &f->lock_slice));
  }
  return KV_OK;
}

/* Rank 0 reports every case finished since it last looked: one stream of progress, in order of
 * what rank 0 has seen (the other groups write their records into its table). */
static void report_new(farm *f, const kv_case_record *recs) {
  for (long i = 0; f->reported && i < f->n; i++) {
    if (!f->reported[i] && recs[i].status != KV_CASE_PENDING) {
      report(f, recs, i);
      f->reported[i] = 1;
    }
  }
}

/* Whether case c's file exists (*exists) and is complete and written by this case's
 * configuration (*complete; when not, kv_error_message() says why). */
static int case_status(const kv_sweep *s, long c, int *exists, int *complete) {
  char path[4200], *text = NULL;
  kv_config *cc = NULL;
  kv_sweep_case_path(s, c, path, sizeof path);
  int rc = kv_sweep_case_config(s, c, &cc);
  if (rc == KV_OK) {
    rc = kv_config_to_text(cc, &text);
  }
  kv_config_free(cc);
  *exists = access(path, F_OK) == 0;
  *complete = rc == KV_OK && *exists && kv_h5_check_complete(path, text) == KV_OK;
  free(text);
  return rc;
}

/* Rank 0: what is already there. Without --resume, existing results are an error (nothing is
 * overwritten); with it, a case is done only if its file is complete and was written by this
 * case's configuration. */
static int survey(const farm *f, const kv_sweep_options *o, kv_case_record *recs) {
  const kv_sweep *s = f->s;
  char csv[4300];
  snprintf(csv, sizeof csv, "%s.csv", f->stem);
  long nc = kv_sweep_ncases(s);
  KV_CHECK(kv_safefile_mkdirs(kv_sweep_dir(s)));
  if (!o->resume) {
    const char *found = access(csv, F_OK) == 0 ? csv : NULL;
    char path[4200];
    for (long i = 0; i < f->n && !found; i++) {
      kv_sweep_case_path(s, f->ids[i], path, sizeof path);
      if (access(path, F_OK) == 0) {
        found = path;
      }
    }
    if (found) {
      return KV_ERROR(KV_ERR_USAGE,
                      "'%s' exists: %s holds results of an earlier sweep; continue "
                      "it with%s%s --resume (or remove the directory to start afresh)",
                      found, kv_sweep_dir(s), o->again ? ": " : "", o->again ? o->again : "");
    }
    return KV_OK;
  }
  /* Wall times of cases finished earlier come from the previous manifest, when there is one. */
  kv_case_record *old = calloc((size_t)nc, sizeof *old);
  char *seen = calloc((size_t)nc, 1);
  if (!old || !seen) {
    free(old);
    free(seen);
    return KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
  }
  if (access(csv, F_OK) == 0 && kv_manifest_read(csv, nc, f->nresp, f->respp, old, seen) != KV_OK) {
    kv_warn("%s (it is rebuilt from the case files)", kv_error_message());
  }
  int rc = KV_OK;
  for (long i = 0; i < f->n && rc == KV_OK; i++) {
    long c = f->ids[i];
    int exists, complete;
    rc = case_status(s, c, &exists, &complete);
    if (rc != KV_OK) {
      break;
    }
    if (exists) {
      if (complete) {
        recs[i].status = KV_CASE_DONE;
        recs[i].skipped = 1;
        int had = seen[c] && old[c].status == KV_CASE_DONE;
        recs[i].wall = had ? old[c].wall : 0.0;
        int known = had;
        for (int k = 0; k < f->nresp; k++) {
          known &= !isnan(old[c].resp[k]);
        }
        if (known) {
          memcpy(recs[i].resp, old[c].resp, sizeof recs[i].resp);
        } else {
          case_responses(f, c, &recs[i]);
        }
      } else {
        kv_warn("case %04ld: %s; running it again", c, kv_error_message());
      }
    }
  }
  free(old);
  free(seen);
  return rc;
}

/* Run one case on the group; fills rec. Returns KV_ERR_INTERRUPTED if a signal stopped it. */
static int run_case(MPI_Comm g, const farm *f, long c, kv_case_record *rec) {
  const kv_sweep *s = f->s;
  double t0 = kv_comm_wtime();
  kv_config *cc = NULL;
  int rc = kv_sweep_case_config(s, c, &cc);
  if (rc == KV_OK) {
    kv_run_case info = {c, 0, {0}, {0}};
    for (int v = 0; v < kv_sweep_nvars(s) && v < KV_RUN_CASE_VARS; v++) {
      info.key[info.n] = kv_sweep_var(s, v);
      info.value[info.n++] = kv_sweep_value(s, c, v);
    }
    kv_run_options ro = {NULL, 1, NULL, &info};
    kv_log_level lvl = kv_log_get_level();
    kv_log_set_level(lvl >= KV_LOG_DEBUG ? lvl : KV_LOG_WARN);
    const kv_model_type *t = NULL;
    rc = kv_model_type_of(cc, &t);
    if (rc == KV_OK && t->ranks_key && kv_comm_size(g) > 1) {
      /* A model whose program takes the group's cores itself (an MPI simulator): kelvin's part
       * runs on the group's first rank, the others hold their cores, asleep. */
      int grank0 = kv_comm_rank(g) == 0;
      if (grank0) {
        rc = kv_run(MPI_COMM_SELF, cc, &ro, NULL);
      }
      kv_comm_idle_barrier(g);
      kv_comm_bcast(&rc, 1, MPI_INT, 0, g);
    } else if (rc == KV_OK) {
      rc = kv_run(g, cc, &ro, NULL);
    }
    kv_log_set_level(lvl);
  }
  kv_config_free(cc);
  memset(rec, 0, sizeof *rec);
  rec->wall = kv_comm_wtime() - t0;
  if (rc == KV_OK) {
    rec->status = KV_CASE_DONE;
    /* Leftovers of an earlier, stopped attempt are superseded now. */
    char path[4200], old[4300];
    kv_sweep_case_path(s, c, path, sizeof path);
    size_t len = strlen(path) - 3;
    int grank;
    grank = kv_comm_rank(g);
    if (grank == 0) {
      case_responses(f, c, rec);
      snprintf(old, sizeof old, "%.*s.interrupted.h5", (int)len, path);
      remove(old);
      snprintf(old, sizeof old, "%.*s.failed.h5", (int)len, path);
      remove(old);
    }
  } else if (rc == KV_ERR_INTERRUPTED) {
    rec->status = KV_CASE_PENDING;
  } else {
    rec->status = KV_CASE_FAILED;
    snprintf(rec->error, sizeof rec->error, "%s", kv_error_message());
  }
  return rc == KV_ERR_INTERRUPTED ? rc : KV_OK;
}

int kv_sweep_run(MPI_Comm comm, const kv_sweep *s, const kv_sweep_options *o,
                 kv_sweep_summary *sum) {
  int rank, size;
  rank = kv_comm_rank(comm);
  size = kv_comm_size(comm);
  kv_sweep_options defaults = {0, 0, 0, NULL};
  if (!o) {
    o = &defaults;
  }
  memset(sum, 0, sizeof *sum);
  if (o->nslices > 0 && (o->slice < 0 || o->slice >= o->nslices)) {
    return KV_ERROR(KV_ERR_USAGE, "sweep: slice %d/%d: expected 0 <= I < K", o->slice, o->nslices);
  }
  int rpc = kv_sweep_ranks_per_case(s);
  if (rpc > size) {
    return KV_ERROR(KV_ERR_USAGE, "sweep.ranks_per_case = %d but the sweep has %d rank%s", rpc,
                    size, size == 1 ? "" : "s");
  }
  farm f;
  int rc = farm_init(&f, s, o->slice, o->nslices);
  f.t0 = kv_comm_wtime();
  f.tty = isatty(STDERR_FILENO);
  kv_case_record *recs = calloc((size_t)f.n + 1, sizeof *recs);
  if (rc == KV_OK && !recs) {
    rc = KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
  }
  if (rc == KV_OK && rank == 0) {
    rc = lock_farm(&f, o);
  }
  if (rc == KV_OK && rank == 0) {
    rc = survey(&f, o, recs);
  }
  if (rc == KV_OK && rank == 0) {
    rc = write_manifest(&f, f.stem, recs, 1);
  }
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    free(recs);
    farm_free(&f);
    return rc;
  }
  kv_comm_bcast(recs, (int)(f.n * (long)sizeof *recs), MPI_BYTE, 0, comm);
  long *todo = malloc(((size_t)f.n + 1) * sizeof *todo), ntodo = 0;
  for (long i = 0; todo && i < f.n; i++) {
    if (recs[i].status != KV_CASE_DONE) {
      todo[ntodo++] = i;
    }
  }
  count(recs, f.n, sum);
  f.ran_before = sum->done + sum->failed;
  if (rank == 0) {
    kv_info("sweep %s: %ld case%s (%s), %ld to run on %d rank%s in groups of %d; manifest %s.csv%s",
            kv_sweep_dir(s), f.n, f.n == 1 ? "" : "s", kv_sweep_method(s), ntodo, size,
            size == 1 ? "" : "s", rpc, f.stem,
            size > 1 ? " (progress is printed by rank 0: a case another group finishes shows "
                       "when rank 0 next updates the manifest)"
                     : "");
    f.reported = malloc((size_t)f.n + 1);
    for (long i = 0; f.reported && i < f.n; i++) {
      f.reported[i] = recs[i].status == KV_CASE_DONE; /* done before this run */
    }
  }

  /* Windows on rank 0: the next index into todo, and the table of records. */
  MPI_Win wcnt, wrec;
  long *cnt;
  kv_case_record *table;
  MPI_Win_allocate(rank == 0 ? (MPI_Aint)sizeof(long) : 0, sizeof(long), MPI_INFO_NULL, comm, &cnt,
                   &wcnt);
  MPI_Win_allocate(rank == 0 ? (MPI_Aint)((size_t)f.n * sizeof *recs) : 0, 1, MPI_INFO_NULL, comm,
                   &table, &wrec);
  if (rank == 0) {
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, wcnt);
    *cnt = 0;
    MPI_Win_unlock(0, wcnt);
    MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, wrec);
    memcpy(table, recs, (size_t)f.n * sizeof *recs);
    MPI_Win_unlock(0, wrec);
  }
  kv_comm_barrier(comm);

  MPI_Comm g;
  MPI_Comm_split(comm, rank / rpc, rank, &g);
  int grank;
  grank = kv_comm_rank(g);
  int interrupted = 0, io_rc = KV_OK;
  char io_msg[1024] = "";
  kv_case_record *snap = malloc(((size_t)f.n + 1) * sizeof *snap);
  double last_h5 = kv_comm_wtime(), last_csv = -1.0e30;
  for (;;) {
    long next[2] = {0, 0}; /* index, stop */
    if (kv_interrupt_agree(g)) {
      break;
    }
    if (grank == 0) {
      long one = 1;
      MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, wcnt);
      MPI_Fetch_and_op(&one, &next[0], MPI_LONG, 0, 0, MPI_SUM, wcnt);
      MPI_Win_unlock(0, wcnt);
    }
    kv_comm_bcast(next, 2, MPI_LONG, 0, g);
    if (next[0] >= ntodo) {
      break;
    }
    long idx = todo[next[0]];
    kv_case_record rec;
    int crc = run_case(g, &f, f.ids[idx], &rec);
    if (grank == 0) {
      MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, wrec);
      MPI_Put(&rec, (int)sizeof rec, MPI_BYTE, 0, (MPI_Aint)((size_t)idx * sizeof rec),
              (int)sizeof rec, MPI_BYTE, wrec);
      MPI_Win_flush(0, wrec);
      /* The CSV at most every KV_MANIFEST_EVERY seconds: rewriting it after every case costs
       * O(cases) each, which dominates a sweep of many short cases. Nothing depends on it being
       * newer: a case is done when its file is complete, and --resume reads the files. */
      double tnow = kv_comm_wtime();
      int wr = KV_OK, due = tnow - last_csv >= KV_MANIFEST_EVERY || crc == KV_ERR_INTERRUPTED;
      if (due) {
        MPI_Get(snap, (int)((size_t)f.n * sizeof *snap), MPI_BYTE, 0, 0,
                (int)((size_t)f.n * sizeof *snap), MPI_BYTE, wrec);
        MPI_Win_flush(0, wrec);
        /* Written under the lock, so a later table never loses to an earlier one on disk. */
        int with_h5 = tnow - last_h5 >= 1.0;
        wr = write_manifest(&f, f.stem, snap, with_h5);
        last_csv = tnow;
        if (with_h5) {
          last_h5 = tnow;
        }
      }
      MPI_Win_unlock(0, wrec);
      if (wr != KV_OK && io_rc == KV_OK) {
        io_rc = wr;
        snprintf(io_msg, sizeof io_msg, "%s", kv_error_message());
      }
      if (due && crc != KV_ERR_INTERRUPTED && rank == 0) {
        report_new(&f, snap);
      }
    }
    if (crc == KV_ERR_INTERRUPTED) {
      interrupted = 1;
      break;
    }
  }
  kv_comm_barrier(comm);
  if (f.tty && rank == 0 && ntodo > 0) {
    fputc('\n', stderr);
  }
  if (rank == 0) {
    MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, wrec);
    memcpy(recs, table, (size_t)f.n * sizeof *recs);
    MPI_Win_unlock(0, wrec);
    if (!interrupted) {
      report_new(&f, recs);
    }
    int wr = write_manifest(&f, f.stem, recs, 1);
    if (wr != KV_OK && io_rc == KV_OK) {
      io_rc = wr;
      snprintf(io_msg, sizeof io_msg, "%s", kv_error_message());
    }
  }
  kv_comm_bcast(recs, (int)(f.n * (long)sizeof *recs), MPI_BYTE, 0, comm);
  count(recs, f.n, sum);
  sum->wall = kv_comm_wtime() - f.t0;
  int flags[2] = {interrupted || kv_interrupt_signal() != 0, io_rc != KV_OK}, any[2];
  kv_comm_allreduce(flags, any, 2, MPI_INT, MPI_MAX, comm);
  MPI_Comm_free(&g);
  MPI_Win_free(&wrec);
  MPI_Win_free(&wcnt);
  free(snap);
  free(todo);
  free(recs);
  farm_free(&f);
  if (any[1]) {
    rc = KV_ERROR(KV_ERR_IO, "sweep: the manifest could not be written: %s",
                  io_msg[0] ? io_msg : "(on another rank)");
    return kv_status_agree(comm, rc);
  }
  if (any[0]) {
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "%s%s", o->again ? "" : "kelvin sweep ",
             o->again ? o->again : kv_sweep_source(s));
    return KV_ERROR(KV_ERR_INTERRUPTED,
                    "sweep interrupted: %ld done, %ld failed, %ld pending; "
                    "continue with: %s%s",
                    sum->done, sum->failed, sum->pending, cmd,
                    strstr(cmd, " --resume") ? "" : " --resume");
  }
  return KV_OK;
}

int kv_sweep_collect(MPI_Comm comm, const kv_sweep *s, kv_sweep_summary *sum) {
  int rank;
  rank = kv_comm_rank(comm);
  memset(sum, 0, sizeof *sum);
  farm f;
  int rc = farm_init(&f, s, 0, 0);
  long nc = kv_sweep_ncases(s);
  kv_case_record *recs = calloc((size_t)nc + 1, sizeof *recs);
  char *seen = calloc((size_t)nc + 1, 1);
  if (rc == KV_OK && (!recs || !seen)) {
    rc = KV_ERROR(KV_ERR_NOMEM, "sweep: out of memory");
  }
  int nslices = 0;
  if (rc == KV_OK && rank == 0) {
    /* Slice manifests give the failures and wall times; the files decide what is done. */
    for (int k = 1; k <= 100000 && !nslices; k++) {
      char p[4300];
      snprintf(p, sizeof p, "%s/manifest.slice-0-of-%d.csv", kv_sweep_dir(s), k);
      if (access(p, F_OK) == 0) {
        nslices = k;
      }
    }
    for (int i = 0; i < nslices && rc == KV_OK; i++) {
      char p[4300];
      snprintf(p, sizeof p, "%s/manifest.slice-%d-of-%d.csv", kv_sweep_dir(s), i, nslices);
      if (access(p, F_OK) != 0) {
        kv_warn("%s is missing: slice %d of %d has not run (its cases count as pending)", p, i,
                nslices);
        continue;
      }
      rc = kv_manifest_read(p, nc, f.nresp, f.respp, recs, seen);
    }
    for (long c = 0; c < nc && rc == KV_OK; c++) {
      int exists, ok;
      rc = case_status(s, c, &exists, &ok);
      if (ok) {
        recs[c].status = KV_CASE_DONE;
        case_responses(&f, c, &recs[c]);
      } else if (recs[c].status == KV_CASE_DONE) {
        kv_warn("case %04ld: the slice manifest says done but %s; counted as pending", c,
                kv_error_message());
        recs[c].status = KV_CASE_PENDING;
      }
    }
    if (rc == KV_OK) {
      rc = write_manifest(&f, f.stem, recs, 1);
    }
    if (rc == KV_OK) {
      rc = write_manifest(&f, NULL, recs, 2);
    }
    if (rc == KV_OK) {
      count(recs, nc, sum);
    }
  }
  rc = kv_status_agree(comm, rc);
  kv_comm_bcast(sum, (int)sizeof *sum, MPI_BYTE, 0, comm);
  free(recs);
  free(seen);
  farm_free(&f);
  return rc;
}

void kv_sweep_print(const kv_sweep *s, void *stream) {
  FILE *f = stream;
  fprintf(f, "case");
  for (int v = 0; v < kv_sweep_nvars(s); v++) {
    fprintf(f, ",%s", kv_sweep_var(s, v));
  }
  fputc('\n', f);
  for (long c = 0; c < kv_sweep_ncases(s); c++) {
    fprintf(f, "%ld", c);
    for (int v = 0; v < kv_sweep_nvars(s); v++) {
      const char *x = kv_sweep_value(s, c, v);
      if (strpbrk(x, ",\"")) {
        fputc(',', f);
        fputc('"', f);
        for (; *x; x++) {
          if (*x == '"') {
            fputc('"', f);
          }
          fputc(*x, f);
        }
        fputc('"', f);
      } else {
        fprintf(f, ",%s", x);
      }
    }
    fputc('\n', f);
  }
}

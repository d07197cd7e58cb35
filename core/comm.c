/* kelvin — MPI that starts only when needed (see comm.h). */
#define _XOPEN_SOURCE 700 /* nftw */
#include "core/comm.h"

#include <ftw.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/status.h"

/* The per-process session directory of an isolated singleton (see below), removed at finish. */
static char g_session[4096];

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  remove(path);
  return 0;
}

/* Once seen running, MPI runs until kv_comm_finish: collectives on hot paths (a CG's dot
 * products) then ask a flag, not the library. */
static int g_active;

int kv_comm_active(void) {
  if (g_active) {
    return 1;
  }
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  g_active = init && !fin;
  return g_active;
}

int kv_comm_finish(void) {
  int rc = KV_OK;
  if (kv_comm_active() && MPI_Finalize() != MPI_SUCCESS) {
    rc = KV_ERROR(KV_ERR_MPI, "MPI_Finalize failed");
  }
  g_active = 0;
  if (g_session[0]) { /* what Open MPI left of the private session directory */
    nftw(g_session, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    g_session[0] = '\0';
  }
  return rc;
}

int kv_comm_launched(void) {
  const char *force = getenv("KELVIN_MPI");
  if (force && !strcmp(force, "always")) {
    return 1;
  }
  if (force && !strcmp(force, "never")) {
    return 0;
  }
  /* What each launcher exports to the processes it starts: Open MPI's mpirun/orterun, PMIx
   * (srun --mpi=pmix, prterun), PMI-1/2 (srun --mpi=pmi2, MPICH), MPICH's hydra. */
  static const char *vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE",
                               "HYDRA_CONTROL_FD"};
  for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
    if (getenv(vars[i])) {
      return 1;
    }
  }
  return 0;
}

void kv_comm_singleton_env(void) {
  if (kv_comm_launched()) {
    return;
  }
  /* Isolated singletons all take the same job id, so on one machine they would share Open MPI's
   * session directory (and one's MPI_Finalize would delete the files of another still running:
   * seen with two Slurm array tasks on a node). Each gets its own, unless the user chose one. */
  if (!getenv("OMPI_MCA_orte_tmpdir_base")) {
    const char *tmp = getenv("TMPDIR");
    snprintf(g_session, sizeof g_session, "%s/kelvin-mpi.%ld", tmp && *tmp ? tmp : "/tmp",
             (long)getpid());
    if (mkdir(g_session, 0700) == 0) {
      setenv("OMPI_MCA_orte_tmpdir_base", g_session, 1);
    } else {
      g_session[0] = '\0';
    }
  }
  /* One process started without a launcher: Open MPI's singleton start-up forks a daemon
   * (orted) and probes every transport, ~0.4 s. A lone process needs neither: isolated
   * singleton, the self transport. A user's own setting of any of these wins. */
  setenv("OMPI_MCA_ess_singleton_isolated", "1", 0);
  setenv("OMPI_MCA_pml", "ob1", 0);
  setenv("OMPI_MCA_btl", "self", 0);
}

int kv_comm_start(void) {
  int init = 0, fin = 0;
  MPI_Initialized(&init);
  MPI_Finalized(&fin);
  if (fin) {
    return KV_ERROR(KV_ERR_MPI, "MPI is needed but was already finalised");
  }
  if (!init) {
    kv_comm_singleton_env();
  }
  if (!init && MPI_Init(NULL, NULL) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "MPI_Init failed");
  }
  return KV_OK;
}

int kv_comm_rank(MPI_Comm comm) {
  int r = 0;
  if (kv_comm_active()) {
    MPI_Comm_rank(comm, &r);
  }
  return r;
}

int kv_comm_size(MPI_Comm comm) {
  int s = 1;
  if (kv_comm_active()) {
    MPI_Comm_size(comm, &s);
  }
  return s;
}

int kv_comm_bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm) {
  if (!kv_comm_active()) {
    return KV_OK;
  }
  return MPI_Bcast(buf, count, type, root, comm) == MPI_SUCCESS
             ? KV_OK
             : KV_ERROR(KV_ERR_MPI, "MPI_Bcast failed");
}

/* Sizes of the predefined types, without MPI_Type_size (which needs MPI running). */
static size_t type_size(MPI_Datatype t) {
  if (t == MPI_INT) {
    return sizeof(int);
  }
  if (t == MPI_LONG) {
    return sizeof(long);
  }
  if (t == MPI_DOUBLE) {
    return sizeof(double);
  }
  if (t == MPI_CHAR || t == MPI_BYTE) {
    return 1;
  }
  if (t == MPI_2INT) {
    return 2 * sizeof(int);
  }
  if (t == MPI_DOUBLE_INT) {
    return sizeof(struct {
      double v;
      int i;
    });
  }
  return 0;
}

int kv_comm_allreduce(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op,
                      MPI_Comm comm) {
  if (kv_comm_active()) {
    return MPI_Allreduce(in, out, count, type, op, comm) == MPI_SUCCESS
               ? KV_OK
               : KV_ERROR(KV_ERR_MPI, "MPI_Allreduce failed");
  }
  if (in == MPI_IN_PLACE || count <= 0) {
    return KV_OK;
  }
  size_t sz = type_size(type);
  if (!sz) {
    return KV_ERROR(KV_ERR_INVALID, "kv_comm_allreduce: a type without a serial size");
  }
  memmove(out, in, sz * (size_t)count);
  return KV_OK;
}

/* One process: a gather, scatter or their v-variants move n elements from in to out (+ offset). */
static int serial_copy(const void *in, int n, MPI_Datatype type, void *out, int offset) {
  size_t sz = type_size(type);
  if (!sz) {
    return KV_ERROR(KV_ERR_INVALID, "kv_comm: a type without a serial size");
  }
  if (in && out && n > 0) {
    memmove((char *)out + sz * (size_t)offset, in, sz * (size_t)n);
  }
  return KV_OK;
}

static int mpi_ok(int err, const char *what) {
  return err == MPI_SUCCESS ? KV_OK : KV_ERROR(KV_ERR_MPI, "%s failed", what);
}

int kv_comm_allgather(const void *in, int n, MPI_Datatype type, void *out, MPI_Comm comm) {
  if (kv_comm_active()) {
    return mpi_ok(MPI_Allgather(in, n, type, out, n, type, comm), "MPI_Allgather");
  }
  return serial_copy(in, n, type, out, 0);
}

int kv_comm_allgatherv(const void *in, int n, MPI_Datatype type, void *out, const int *counts,
                       const int *displs, MPI_Comm comm) {
  if (kv_comm_active()) {
    return mpi_ok(MPI_Allgatherv(in, n, type, out, counts, displs, type, comm), "MPI_Allgatherv");
  }
  return serial_copy(in, n, type, out, displs[0]);
}

int kv_comm_gather(const void *in, int n, MPI_Datatype type, void *out, int root, MPI_Comm comm) {
  if (kv_comm_active()) {
    return mpi_ok(MPI_Gather(in, n, type, out, n, type, root, comm), "MPI_Gather");
  }
  return serial_copy(in, n, type, out, 0);
}

int kv_comm_gatherv(const void *in, int n, MPI_Datatype type, void *out, const int *counts,
                    const int *displs, int root, MPI_Comm comm) {
  if (kv_comm_active()) {
    return mpi_ok(MPI_Gatherv(in, n, type, out, counts, displs, type, root, comm), "MPI_Gatherv");
  }
  return serial_copy(in, n, type, out, displs ? displs[0] : 0);
}

int kv_comm_scatterv(const void *in, const int *counts, const int *displs, MPI_Datatype type,
                     void *out, int n, int root, MPI_Comm comm) {
  if (kv_comm_active()) {
    return mpi_ok(MPI_Scatterv(in, counts, displs, type, out, n, type, root, comm), "MPI_Scatterv");
  }
  return in ? serial_copy((const char *)in + type_size(type) * (size_t)displs[0], n, type, out, 0)
            : KV_OK;
}

int kv_comm_dup(MPI_Comm comm, MPI_Comm *out) {
  if (!kv_comm_active()) {
    *out = MPI_COMM_SELF; /* one process: the same group, and predefined, so never freed */
    return KV_OK;
  }
  return mpi_ok(MPI_Comm_dup(comm, out), "MPI_Comm_dup");
}

void kv_comm_free(MPI_Comm *comm) {
  if (!comm) {
    return;
  }
  if (*comm != MPI_COMM_NULL && *comm != MPI_COMM_SELF && kv_comm_active()) {
    MPI_Comm_free(comm);
  }
  *comm = MPI_COMM_NULL;
}

int kv_comm_barrier(MPI_Comm comm) {
  if (kv_comm_active() && MPI_Barrier(comm) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "MPI_Barrier failed");
  }
  return KV_OK;
}

int kv_comm_idle_barrier(MPI_Comm comm) {
  if (!kv_comm_active() || kv_comm_size(comm) == 1) {
    return KV_OK;
  }
  MPI_Request req;
  int done = 0;
  if (MPI_Ibarrier(comm, &req) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "MPI_Ibarrier failed");
  }
  while (!done) {
    if (MPI_Test(&req, &done, MPI_STATUS_IGNORE) != MPI_SUCCESS) {
      return KV_ERROR(KV_ERR_MPI, "MPI_Test failed");
    }
    if (!done) {
      struct timespec ts = {0, 2000000L}; /* 2 ms: a wait that costs no core */
      nanosleep(&ts, NULL);
    }
  }
  return KV_OK;
}

double kv_comm_wtime(void) {
  /* One clock whether or not MPI runs: a timer may start before a lazy MPI start and stop after. */
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

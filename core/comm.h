/* kelvin — MPI that starts only when needed.
 *
 * Serial commands (predict, info, plot, compare, fit on one rank, --help, --version) run without
 * MPI_Init unless a launcher (mpirun, srun) started them: Open MPI's singleton start-up costs
 * ~0.4 s, which swamps a 1 ms prediction called from an outer loop. The library's collectives on
 * the paths those commands share with parallel ones go through these wrappers: while MPI is not
 * running, every communicator is one process of rank 0 and the collective is the identity. Work
 * that truly needs MPI (a decomposed grid, FFTW-MPI) calls kv_comm_start first, which starts MPI
 * on demand; a grid made with kv_grid_params.serial stays without it on one process (and its
 * files are then written with POSIX HDF5). main finalises MPI if it was started. */
#ifndef KV_COMM_H
#define KV_COMM_H

#include <mpi.h>

/* 1 when MPI is initialised and not yet finalised. Not collective; callable at any time. */
int kv_comm_active(void);

/* 1 when the process was started by an MPI launcher (Open MPI's mpirun, a PMI/PMIx launcher
 * such as srun, MPICH's hydra), judged from the environment; KELVIN_MPI=always|never overrides.
 * Not collective. */
int kv_comm_launched(void);

/* Before MPI_Init in a process no launcher started: the environment that makes Open MPI's
 * singleton start in ~50 ms instead of ~0.4 s (no daemon, only the self transport); settings the
 * user made are kept. Not collective. */
void kv_comm_singleton_env(void);

/* Start MPI now if it is not running (MPI_Init with no arguments). Returns KV_OK, or KV_ERR_MPI
 * if MPI was already finalised. Not collective while MPI is not running (a serial process is its
 * own world). */
int kv_comm_start(void);

/* Finalise MPI if it runs (main only, at the very end). Returns KV_OK or KV_ERR_MPI. Collective
 * over every process when MPI runs. */
int kv_comm_finish(void);

/* Rank and size of comm; 0 and 1 while MPI is not running. Not collective. */
int kv_comm_rank(MPI_Comm comm);
int kv_comm_size(MPI_Comm comm);

/* MPI_Bcast / MPI_Allreduce / MPI_Barrier, or their one-process identity while MPI is not
 * running (allreduce copies in to out unless in == MPI_IN_PLACE; types: the predefined MPI_INT,
 * MPI_LONG, MPI_DOUBLE, MPI_CHAR, MPI_BYTE, MPI_2INT, MPI_DOUBLE_INT). Collective over comm.
 * Return KV_OK or KV_ERR_MPI. */
int kv_comm_bcast(void *buf, int count, MPI_Datatype type, int root, MPI_Comm comm);
int kv_comm_allreduce(const void *in, void *out, int count, MPI_Datatype type, MPI_Op op,
                      MPI_Comm comm);
int kv_comm_barrier(MPI_Comm comm);
/* A barrier whose waiting ranks sleep (2 ms at a time) instead of polling at full speed: for
 * ranks that wait while another runs a program on the cores they hold. Collective. */
int kv_comm_idle_barrier(MPI_Comm comm);

/* MPI_Comm_dup, or MPI_COMM_SELF while MPI is not running (a one-process group either way).
 * Collective. kv_comm_free frees what kv_comm_dup made (never a predefined communicator) and
 * sets *comm to MPI_COMM_NULL; MPI_COMM_NULL is a no-op. */
int kv_comm_dup(MPI_Comm comm, MPI_Comm *out);
void kv_comm_free(MPI_Comm *comm);

/* MPI_Allgather(v) / MPI_Gather(v) / MPI_Scatterv with the same type on both sides, or the
 * one-process copy while MPI is not running (n elements between in and out at displs[0]).
 * Collective over comm. Return KV_OK or KV_ERR_MPI. */
int kv_comm_allgather(const void *in, int n, MPI_Datatype type, void *out, MPI_Comm comm);
int kv_comm_allgatherv(const void *in, int n, MPI_Datatype type, void *out, const int *counts,
                       const int *displs, MPI_Comm comm);
int kv_comm_gather(const void *in, int n, MPI_Datatype type, void *out, int root, MPI_Comm comm);
int kv_comm_gatherv(const void *in, int n, MPI_Datatype type, void *out, const int *counts,
                    const int *displs, int root, MPI_Comm comm);
int kv_comm_scatterv(const void *in, const int *counts, const int *displs, MPI_Datatype type,
                     void *out, int n, int root, MPI_Comm comm);

/* Wall-clock seconds from a monotonic clock (the same clock before and after MPI starts). Not
 * collective. */
double kv_comm_wtime(void);

#endif

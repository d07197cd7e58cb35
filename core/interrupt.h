/* kelvin — cooperative interruption. main installs handlers for SIGINT and SIGTERM (what Ctrl-C
 * and Slurm's time limit send) that only set a flag; long loops poll it at points where every
 * rank is, agree on it, and stop cleanly (state saved, files consistent). */
#ifndef KV_INTERRUPT_H
#define KV_INTERRUPT_H

#include <mpi.h>

/* Install the handlers (main only, before the work starts). */
void kv_interrupt_install(void);

/* The signal number received (0 if none) on this rank. Async-signal-safe read. */
int kv_interrupt_signal(void);

/* Whether any rank of comm has been interrupted; returns the signal number (0: none).
 * Collective. */
int kv_interrupt_agree(MPI_Comm comm);

#endif

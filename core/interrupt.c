#include "core/interrupt.h"
#include "core/comm.h"

#include <signal.h>
#include <string.h>

static volatile sig_atomic_t g_signal = 0;

static void on_signal(int sig) {
  if (g_signal) {
    /* A second signal while the first waits for a step boundary (a long set-up, a plan): the
     * user insists, so end now the way the signal would have. */
    signal(sig, SIG_DFL);
    raise(sig);
    return;
  }
  g_signal = sig;
}

void kv_interrupt_install(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
}

int kv_interrupt_signal(void) {
  return (int)g_signal;
}

int kv_interrupt_agree(MPI_Comm comm) {
  int mine = (int)g_signal, any = 0;
  kv_comm_allreduce(&mine, &any, 1, MPI_INT, MPI_MAX, comm);
  return any;
}

#include "core/progress.h"
#include "core/comm.h"

#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"

void kv_progress_start(kv_progress *p, const char *label, long total, int active) {
  memset(p, 0, sizeof *p);
  p->total = total > 0 ? total : 1;
  p->active = active && kv_log_get_level() >= KV_LOG_INFO;
  p->tty = isatty(STDERR_FILENO);
  p->t_start = p->t_last_print = kv_comm_wtime();
  p->log_every = 30.0;
  p->quiet_until = 2.0;
  snprintf(p->label, sizeof p->label, "%s", label);
}

static void fmt_time(char *buf, size_t n, double s) {
  if (s < 60) {
    snprintf(buf, n, "%.1fs", s);
  } else if (s < 3600) {
    snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
  } else {
    snprintf(buf, n, "%dh%02dm", (int)(s / 3600), ((int)s % 3600) / 60);
  }
}

void kv_progress_update(kv_progress *p, long done) {
  if (!p->active) {
    return;
  }
  p->last_done = done;
  double now = kv_comm_wtime();
  double frac = (double)done / (double)p->total;
  int decile = (int)(frac * 10.0);
  double el = now - p->t_start;
  double eta = done > 0 ? el * (double)(p->total - done) / (double)done : 0.0;
  char e1[32], e2[32];
  if (p->tty) {
    if (now - p->t_last_print < 0.1 && done < p->total) {
      return;
    }
    p->t_last_print = now;
    int w = 30, fill = (int)(frac * w);
    char bar[64];
    for (int i = 0; i < w; i++) {
      bar[i] = i < fill ? '=' : (i == fill ? '>' : ' ');
    }
    bar[w] = '\0';
    fmt_time(e1, sizeof e1, el);
    fmt_time(e2, sizeof e2, eta);
    fprintf(stderr, "\r%s [%s] %3d%% %ld/%ld  elapsed %s  ETA %s ", p->label, bar,
            (int)(frac * 100), done, p->total, e1, e2);
    fflush(stderr);
  } else if (el >= p->quiet_until &&
             (decile > p->last_decile || now - p->t_last_print > p->log_every)) {
    p->last_decile = decile;
    p->t_last_print = now;
    fmt_time(e1, sizeof e1, el);
    fmt_time(e2, sizeof e2, eta);
    kv_info("%s: %ld/%ld (%d%%), elapsed %s, ETA %s", p->label, done, p->total, (int)(frac * 100),
            e1, e2);
  }
}

void kv_progress_finish(kv_progress *p) {
  if (!p->active) {
    return;
  }
  if (p->tty) {
    kv_progress_update(p, p->last_done);
    fputc('\n', stderr);
  }
}

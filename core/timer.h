/* kelvin — wall-clock timers (a monotonic clock, the same with or without MPI). Plain struct, no
 * allocation. */
#ifndef KV_TIMER_H
#define KV_TIMER_H

#include "core/comm.h"

#include "core/comm.h"

typedef struct {
  double start; /* time of the last kv_timer_start                   */
  double total; /* accumulated seconds over start/stop pairs          */
  long count;   /* number of start/stop pairs                        */
} kv_timer;

/* Reset to zero. */
static inline void kv_timer_reset(kv_timer *t) {
  t->start = 0.0;
  t->total = 0.0;
  t->count = 0;
}

/* Start an interval. */
static inline void kv_timer_start(kv_timer *t) {
  t->start = kv_comm_wtime();
}

/* Stop, accumulate, return the seconds of this interval. */
static inline double kv_timer_stop(kv_timer *t) {
  double dt = kv_comm_wtime() - t->start;
  t->total += dt;
  t->count++;
  return dt;
}

/* Seconds since the last start, without stopping. */
static inline double kv_timer_elapsed(const kv_timer *t) {
  return kv_comm_wtime() - t->start;
}

#endif

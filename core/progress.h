/* kelvin — progress reporting for long work: an updating bar on a terminal, otherwise a log line
 * every tenth of the work (and at least every log_every seconds). Only the rank given as active
 * prints; others keep silent at no cost.
 */
#ifndef KV_PROGRESS_H
#define KV_PROGRESS_H

typedef struct {
  long total;
  long last_done;
  double t_start, t_last_print;
  int active, tty, last_decile;
  double log_every;   /* seconds between log lines at most (non-terminal)            */
  double quiet_until; /* no log lines in the first seconds: short work stays quiet    */
  char label[64];
} kv_progress;

/* Start. active: 1 on the printing rank. Not collective. */
void kv_progress_start(kv_progress *p, const char *label, long total, int active);

/* Report done units (0..total). Cheap when nothing is printed. */
void kv_progress_update(kv_progress *p, long done);

/* Finish the bar (newline on a terminal, a last log line otherwise). */
void kv_progress_finish(kv_progress *p);

#endif

#include "core/log.h"

#include <stdarg.h>
#include <stdio.h>

static kv_log_level g_level = KV_LOG_INFO;
static int g_rank = 0;
static int g_size = 1;

static const char *const g_tags[] = {"error", "warning", "info", "debug"};

void kv_log_init(kv_log_level level, int rank, int size) {
  g_level = level;
  g_rank = rank;
  g_size = size;
}

kv_log_level kv_log_get_level(void) {
  return g_level;
}

kv_log_level kv_log_set_level(kv_log_level level) {
  kv_log_level old = g_level;
  g_level = level;
  return old;
}

static void vlog(kv_log_level level, const char *fmt, va_list ap) {
  char buf[4096];
  vsnprintf(buf, sizeof buf, fmt, ap);
  if (g_size > 1) {
    fprintf(stderr, "kelvin[%d] %s: %s\n", g_rank, g_tags[level], buf);
  } else {
    fprintf(stderr, "kelvin %s: %s\n", g_tags[level], buf);
  }
  fflush(stderr);
}

void kv_log(kv_log_level level, const char *fmt, ...) {
  if (level > g_level || g_rank != 0) {
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vlog(level, fmt, ap);
  va_end(ap);
}

void kv_log_all(kv_log_level level, const char *fmt, ...) {
  if (level > g_level) {
    return;
  }
  va_list ap;
  va_start(ap, fmt);
  vlog(level, fmt, ap);
  va_end(ap);
}

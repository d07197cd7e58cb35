/* kelvin — CF history (see history.h). */
#include "core/history.h"

#include <stdio.h>
#include <time.h>

/* Written once by main, read by the writers: the process's own command line. */
static char g_command[4096];

void kv_history_set(const char *command_line) {
  snprintf(g_command, sizeof g_command, "%s", command_line ? command_line : "");
}

const char *kv_history_line(const char *before, char *buf, size_t n) {
  buf[0] = '\0';
  if (!g_command[0]) {
    snprintf(buf, n, "%s", before ? before : "");
    return buf;
  }
  char now[64];
  time_t t = time(NULL);
  struct tm tm;
  gmtime_r(&t, &tm);
  strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
  snprintf(buf, n, "%s%s%s: %s", before && *before ? before : "", before && *before ? "\n" : "",
           now, g_command);
  return buf;
}

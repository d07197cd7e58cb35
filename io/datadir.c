/* kelvin — where kelvin's own data lives (see datadir.h). */
#include "io/datadir.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int is_dir(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *kv_datadir_root(char *buf, size_t n) {
  const char *env = getenv("KELVIN_DATA_DIR");
  if (env && *env) {
    snprintf(buf, n, "%s", env);
    return buf;
  }
  char exe[4096], probe[4200];
  ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
  if (len > 0) {
    exe[len] = '\0';
    char *slash = strrchr(exe, '/');
    if (slash) {
      *slash = '\0'; /* the executable's directory */
      snprintf(probe, sizeof probe, "%s/../share/kelvin", exe);
      if (is_dir(probe)) {
        snprintf(buf, n, "%s", probe);
        return buf;
      }
      snprintf(probe, sizeof probe, "%s/../configs/scenarios", exe);
      if (is_dir(probe)) {
        snprintf(buf, n, "%s/..", exe);
        return buf;
      }
    }
  }
  snprintf(buf, n, ".");
  return buf;
}

const char *kv_datadir_scenarios(char *buf, size_t n) {
  char root[4096];
  snprintf(buf, n, "%s/configs/scenarios", kv_datadir_root(root, sizeof root));
  return buf;
}

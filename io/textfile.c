#include "io/textfile.h"

#include <errno.h>
#include <string.h>

#include "core/status.h"

FILE *kv_textfile_begin(const char *path, char *tmp, size_t n) {
  snprintf(tmp, n, "%s.part", path);
  FILE *f = fopen(tmp, "w");
  if (!f) {
    KV_ERROR(KV_ERR_IO, "cannot write '%s': %s", tmp, strerror(errno));
  }
  return f;
}

int kv_textfile_commit(FILE *f, const char *tmp, const char *path) {
  int bad = ferror(f);
  bad |= fclose(f) != 0;
  if (bad || rename(tmp, path) != 0) {
    int e = errno;
    remove(tmp);
    return KV_ERROR(KV_ERR_IO, "cannot write '%s': %s", path, strerror(e));
  }
  return KV_OK;
}

#include "io/textfile.h"

#include <errno.h>
#include <string.h>

#include "core/status.h"
#include "io/safefile.h"

FILE *kv_textfile_begin(const char *path, const char *mark, const char *what, char *tmp, size_t n) {
  if (kv_safefile_replaceable(path, mark, what) != KV_OK) {
    return NULL;
  }
  snprintf(tmp, n, "%s.part", path);
  return kv_safefile_create(tmp, "w");
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

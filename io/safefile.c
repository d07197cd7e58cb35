#define _GNU_SOURCE /* memmem */
#include "io/safefile.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/status.h"

FILE *kv_safefile_create(const char *tmp, const char *mode) {
  if (kv_safefile_clear(tmp) != KV_OK) {
    return NULL;
  }
  int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  FILE *f = fd >= 0 ? fdopen(fd, mode) : NULL;
  if (!f) {
    int e = errno;
    if (fd >= 0) {
      close(fd);
    }
    KV_ERROR(KV_ERR_IO, "cannot write '%s': %s", tmp, strerror(e));
  }
  return f;
}

int kv_safefile_clear(const char *tmp) {
  struct stat st;
  if (lstat(tmp, &st) != 0) {
    return KV_OK;
  }
  if (!S_ISLNK(st.st_mode) && !S_ISREG(st.st_mode)) {
    return KV_ERROR(KV_ERR_IO,
                    "'%s' is in the way of kelvin's temporary file and is not a file: "
                    "remove it",
                    tmp);
  }
  if (unlink(tmp) != 0 && errno != ENOENT) {
    return KV_ERROR(KV_ERR_IO, "cannot remove the stale '%s': %s", tmp, strerror(errno));
  }
  return KV_OK;
}

int kv_safefile_is_special(const char *path) {
  struct stat st;
  return lstat(path, &st) == 0 && !S_ISREG(st.st_mode);
}

int kv_safefile_replaceable(const char *path, const char *mark, const char *what) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    return KV_OK;
  }
  if (!S_ISREG(st.st_mode)) {
    return KV_ERROR(KV_ERR_EXISTS,
                    "%s '%s' is %s, not a file kelvin wrote: kelvin does not replace it; remove "
                    "it or choose another name",
                    what, path,
                    S_ISLNK(st.st_mode)   ? "a symbolic link"
                    : S_ISDIR(st.st_mode) ? "a directory"
                                          : "a special file");
  }
  if (!mark) {
    return KV_OK;
  }
  char head[4096];
  FILE *f = fopen(path, "rb");
  size_t n = f ? fread(head, 1, sizeof head, f) : 0;
  if (f) {
    fclose(f);
  }
  if (n == 0 && st.st_size == 0) {
    return KV_OK; /* an empty file holds nothing to lose */
  }
  if (!memmem(head, n, mark, strlen(mark))) {
    return KV_ERROR(KV_ERR_EXISTS,
                    "%s '%s' exists and is not a file kelvin wrote: kelvin does not replace it; "
                    "remove it or choose another name",
                    what, path);
  }
  return KV_OK;
}

int kv_safefile_mkdirs(const char *dir) {
  char buf[4096];
  snprintf(buf, sizeof buf, "%s", dir);
  for (char *p = buf + 1;; p++) {
    if (*p == '/' || *p == '\0') {
      char c = *p;
      *p = '\0';
      if (mkdir(buf, 0777) != 0 && errno != EEXIST) {
        return KV_ERROR(KV_ERR_IO, "cannot create directory '%s': %s", buf, strerror(errno));
      }
      *p = c;
      if (c == '\0') {
        return KV_OK;
      }
    }
  }
}

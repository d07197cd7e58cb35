/* kelvin — outputs written only where asked and never over a file kelvin did not write.
 *
 * A temporary ("<path>.part") is created fresh: a stale one is unlinked (a symbolic link planted
 * there is removed, never followed) and the new one opened with O_EXCL | O_NOFOLLOW, so nothing
 * is written through a link. A final name is replaced only when it holds what kelvin wrote: a
 * regular file (not a link, a directory or a device) carrying the writer's mark. */
#ifndef KV_SAFEFILE_H
#define KV_SAFEFILE_H

#include <stdio.h>

/* Create tmp afresh for writing (mode "w" or "wb"). NULL with an error raised naming tmp. Not
 * collective. The caller fcloses it. */
FILE *kv_safefile_create(const char *tmp, const char *mode);

/* Unlink a stale temporary before a library creates it (HDF5 with H5F_ACC_EXCL): a link at tmp
 * is removed itself. KV_ERR_IO when something other than a link or a regular file is there. Not
 * collective. */
int kv_safefile_clear(const char *tmp);

/* KV_OK when path is absent or may be replaced: a regular file whose first 4 KiB hold `mark`
 * (NULL: any regular file). KV_ERR_EXISTS otherwise, naming path, what it is (`what`, e.g.
 * "surrogate.model") and how to go on. Not collective. */
int kv_safefile_replaceable(const char *path, const char *mark, const char *what);

/* 1 when path is a symbolic link, a directory or another non-regular file (a FIFO, a device):
 * never a final name kelvin replaces. Not collective. */
int kv_safefile_is_special(const char *path);

/* Create directory dir and its missing parents (as mkdir -p). KV_ERR_IO naming the directory
 * that could not be made and why. Not collective. */
int kv_safefile_mkdirs(const char *dir);

#endif

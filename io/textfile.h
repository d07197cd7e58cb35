/* kelvin — text files replaced atomically: written as "<path>.part", renamed when complete, so a
 * reader or a crash sees the old file or the new one, never half of one. */
#ifndef KV_TEXTFILE_H
#define KV_TEXTFILE_H

#include <stdio.h>

/* Open "<path>.part" for writing; its name goes to tmp (size n). NULL with an error raised. */
FILE *kv_textfile_begin(const char *path, char *tmp, size_t n);

/* Close f and rename tmp to path; on any write error remove tmp and return KV_ERR_IO. */
int kv_textfile_commit(FILE *f, const char *tmp, const char *path);

#endif

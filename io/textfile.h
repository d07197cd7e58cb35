/* kelvin — text files replaced atomically: written as "<path>.part", renamed when complete, so a
 * reader or a crash sees the old file or the new one, never half of one. */
#ifndef KV_TEXTFILE_H
#define KV_TEXTFILE_H

#include <stdio.h>

/* Open "<path>.part" for writing (created afresh, never through a link; io/safefile.h); its name
 * goes to tmp (size n). An existing path is replaced only when its first 4 KiB hold `mark` (what
 * kelvin writes there); what = the file's role in messages. NULL with an error raised. */
FILE *kv_textfile_begin(const char *path, const char *mark, const char *what, char *tmp, size_t n);

/* Close f and rename tmp to path; on any write error remove tmp and return KV_ERR_IO. */
int kv_textfile_commit(FILE *f, const char *tmp, const char *path);

#endif

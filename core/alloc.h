/* kelvin — large arrays that are cheap to touch the first time. */
#ifndef KV_ALLOC_H
#define KV_ALLOC_H

#include <stddef.h>

/* malloc for arrays of megabytes that are filled at once (a ROM basis read from a file):
 * 2 MiB-aligned and advised to use transparent huge pages, so that the first touch costs one
 * page fault per 2 MiB instead of per 4 KiB (on a virtual machine, 60 ms of 100 for a 35 MB
 * basis). Smaller requests are 64-byte aligned. Free with free(). NULL when out of memory. */
void *kv_alloc_large(size_t bytes);

#endif

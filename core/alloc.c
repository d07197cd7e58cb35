/* kelvin — large arrays that are cheap to touch the first time (see alloc.h). */
#define _DEFAULT_SOURCE /* madvise, MADV_HUGEPAGE */
#include "core/alloc.h"

#include <stdlib.h>
#include <sys/mman.h>

enum { HUGE_PAGE = 2 * 1024 * 1024 };

void *kv_alloc_large(size_t bytes) {
  if (bytes < (size_t)HUGE_PAGE) { /* 64-byte aligned like the rest (fields' vector loads) */
    return aligned_alloc(64, (bytes + 63) / 64 * 64 + 64);
  }
  size_t len = (bytes + HUGE_PAGE - 1) / HUGE_PAGE * HUGE_PAGE;
  void *p = NULL;
  if (posix_memalign(&p, HUGE_PAGE, len) != 0) {
    return NULL;
  }
#ifdef MADV_HUGEPAGE
  madvise(p, len, MADV_HUGEPAGE); /* advice only: without huge pages the array still works */
#endif
  return p;
}

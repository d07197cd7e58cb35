/* kelvin tests — one line per check: "ok - what" or "FAIL - what (values)". tests/run.sh counts
 * them. A test program exits 1 if any check failed. */
#ifndef KV_TEST_CHECK_H
#define KV_TEST_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int kv_test_failed = 0;
static int kv_test_rank = 0;

#define CHECK(cond, ...)                                                                           \
  do {                                                                                             \
    int c_ = (cond);                                                                               \
    if (kv_test_rank == 0 || !c_) {                                                                \
      if (c_) {                                                                                    \
        printf("ok - ");                                                                           \
      } else if (kv_test_rank) {                                                                   \
        printf("FAIL - [rank %d] ", kv_test_rank);                                                 \
      } else {                                                                                     \
        printf("FAIL - ");                                                                         \
      }                                                                                            \
      printf(__VA_ARGS__);                                                                         \
      printf("\n");                                                                                \
      fflush(stdout);                                                                              \
    }                                                                                              \
    if (!c_) {                                                                                     \
      kv_test_failed = 1;                                                                          \
    }                                                                                              \
  } while (0)

/* |a - b| <= tol * max(1, |b|) */
#define CHECK_CLOSE(a, b, tol, what)                                                               \
  do {                                                                                             \
    double a_ = (a), b_ = (b);                                                                     \
    CHECK(fabs(a_ - b_) <= (tol) * (fabs(b_) > 1.0 ? fabs(b_) : 1.0),                              \
          "%s (got %.15g, expected %.15g)", what, a_, b_);                                         \
  } while (0)

/* The status is code and the recorded message contains every one of the given fragments. */
static inline int kv_test_msg_has(const char *msg, const char *const *frags) {
  for (int i = 0; frags[i]; i++) {
    if (!strstr(msg, frags[i])) {
      return 0;
    }
  }
  return 1;
}

#endif

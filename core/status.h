/* kelvin — status codes, error recording and propagation.
 *
 * Every fallible function returns an int status: KV_OK (0) or one of the codes below. The code
 * says what kind of failure it was; the message (file, line, text) is recorded once, where the
 * failure was detected, by KV_ERROR, and can be read back with kv_error_message().
 *
 * Like errno, the record is per process: it is the last error raised on this rank. Collective
 * functions agree on failures with kv_status_agree() so that every rank returns the same code and
 * rank 0 can print the message of the rank that failed.
 */
#ifndef KV_STATUS_H
#define KV_STATUS_H

#include <mpi.h>

enum {
  KV_OK = 0,
  KV_ERR_USAGE,         /* bad command line                                  -> exit 2 */
  KV_ERR_CONFIG,        /* bad configuration (file, line, key named)         -> exit 2 */
  KV_ERR_IO,            /* file cannot be read or written                    -> exit 2 */
  KV_ERR_FORMAT,        /* a file is readable but not what was expected      -> exit 2 */
  KV_ERR_EXISTS,        /* output exists and overwrite is off                -> exit 2 */
  KV_ERR_NOMEM,         /* allocation failed                                 -> exit 3 */
  KV_ERR_MPI,           /* an MPI call failed                                -> exit 3 */
  KV_ERR_NUMERIC,       /* NaN/Inf or a numerical breakdown                  -> exit 3 */
  KV_ERR_INVALID,       /* invalid argument to a library function (a bug)    -> exit 3 */
  KV_ERR_UNSUPPORTED,   /* valid request that this build/model cannot do     -> exit 2 */
  KV_ERR_INTERRUPTED,   /* stopped by a signal                               -> exit 3 */
  KV_ERR_MISMATCH,      /* a comparison found differences (not an error)     -> exit 1 */
  KV_ERR_NOT_CONVERGED, /* an iteration stopped at its limit before its
                           tolerance (PCG, Picard, reduced Newton): the caller
                           may recover (a smaller step, a full-solver step)  -> exit 3 */
  KV_NCODES
};

/* Short description of a status code ("configuration error", ...). Never NULL. */
const char *kv_strerror(int code);

/* Exit status for a code, following DESIGN.md section 4: 0 ok, 1 check failed, 2 usage or input
 * error, 3 runtime or numerical failure. */
int kv_exit_status(int code);

/* Record an error (code, source location, printf-style message) and return code. Use through
 * KV_ERROR. Not collective. */
int kv_error_raise(int code, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* The message of the last error raised on this rank ("" if none). Borrowed; valid until the
 * next raise. */
const char *kv_error_message(void);

/* Source location "file:line" of the last error raised on this rank. Borrowed. */
const char *kv_error_where(void);

/* Forget the last error. */
void kv_error_clear(void);

/* Agree on a status across comm: returns the largest code seen on any rank. When some rank
 * failed, the message of the lowest failing rank is copied to every rank's error record, so rank
 * 0 can report it. Collective. */
int kv_status_agree(MPI_Comm comm, int status);

#define KV_ERROR(code, ...) kv_error_raise((code), __FILE__, __LINE__, __VA_ARGS__)

/* Propagate a non-zero status to the caller. */
#define KV_CHECK(call)                                                                             \
  do {                                                                                             \
    int kv_check_rc_ = (call);                                                                     \
    if (kv_check_rc_ != KV_OK) {                                                                   \
      return kv_check_rc_;                                                                         \
    }                                                                                              \
  } while (0)

/* Jump to a cleanup label with rc set, for functions that own resources. */
#define KV_TRY(call)                                                                               \
  do {                                                                                             \
    rc = (call);                                                                                   \
    if (rc != KV_OK) {                                                                             \
      goto cleanup;                                                                                \
    }                                                                                              \
  } while (0)

#endif

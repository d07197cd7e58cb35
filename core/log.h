/* kelvin — logging with levels and a rank prefix.
 *
 * Messages go to stderr. By default only rank 0 of the communicator given to kv_log_init prints
 * (a message from every rank would drown the user); kv_log_all() prints from any rank with a
 * "[rank r]" prefix. The level is set once by main from --verbose / --quiet.
 */
#ifndef KV_LOG_H
#define KV_LOG_H

#include <mpi.h>

typedef enum { KV_LOG_ERROR = 0, KV_LOG_WARN, KV_LOG_INFO, KV_LOG_DEBUG } kv_log_level;

/* Set the level and the rank used for the prefix and the rank-0 filter. Not collective. */
void kv_log_init(kv_log_level level, int rank, int size);

/* Change the level; returns the previous one. Not collective. */
kv_log_level kv_log_set_level(kv_log_level level);
/* Current level. */
kv_log_level kv_log_get_level(void);

/* Log at a level, from rank 0 only. printf-style. */
void kv_log(kv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Log at a level from whichever rank calls it, with a rank prefix when there are several. */
void kv_log_all(kv_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define kv_info(...) kv_log(KV_LOG_INFO, __VA_ARGS__)
#define kv_warn(...) kv_log(KV_LOG_WARN, __VA_ARGS__)
#define kv_debug(...) kv_log(KV_LOG_DEBUG, __VA_ARGS__)

#endif

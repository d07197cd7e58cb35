#include "core/status.h"
#include "core/comm.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#define KV_MSG_MAX 2048

static char g_message[KV_MSG_MAX];
static char g_where[256];

static const char *const g_names[KV_NCODES] = {
    [KV_OK] = "success",
    [KV_ERR_USAGE] = "usage error",
    [KV_ERR_CONFIG] = "configuration error",
    [KV_ERR_IO] = "input/output error",
    [KV_ERR_FORMAT] = "file format error",
    [KV_ERR_EXISTS] = "output exists",
    [KV_ERR_NOMEM] = "out of memory",
    [KV_ERR_MPI] = "MPI error",
    [KV_ERR_NUMERIC] = "numerical failure",
    [KV_ERR_INVALID] = "invalid argument",
    [KV_ERR_UNSUPPORTED] = "unsupported",
    [KV_ERR_INTERRUPTED] = "interrupted",
    [KV_ERR_MISMATCH] = "mismatch",
    [KV_ERR_NOT_CONVERGED] = "not converged",
};

const char *kv_strerror(int code) {
  if (code < 0 || code >= KV_NCODES) {
    return "unknown status code";
  }
  return g_names[code];
}

int kv_exit_status(int code) {
  switch (code) {
  case KV_OK:
    return 0;
  case KV_ERR_MISMATCH:
    return 1;
  case KV_ERR_USAGE:
  case KV_ERR_CONFIG:
  case KV_ERR_IO:
  case KV_ERR_FORMAT:
  case KV_ERR_EXISTS:
  case KV_ERR_UNSUPPORTED:
    return 2;
  default:
    return 3;
  }
}

int kv_error_raise(int code, const char *file, int line, const char *fmt, ...) {
  /* Through a copy: a message may quote the previous one (kv_error_message() as an argument). */
  char buf[sizeof g_message];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  memcpy(g_message, buf, sizeof buf);
  snprintf(g_where, sizeof g_where, "%s:%d", file, line);
  return code;
}

const char *kv_error_message(void) {
  return g_message;
}

const char *kv_error_where(void) {
  return g_where;
}

void kv_error_clear(void) {
  g_message[0] = '\0';
  g_where[0] = '\0';
}

int kv_status_agree(MPI_Comm comm, int status) {
  int size, rank;
  size = kv_comm_size(comm);
  if (size == 1) {
    return status;
  }
  rank = kv_comm_rank(comm);
  int out[2];
  /* MPI_2INT with MPI_MAXLOC picks the max value and the smallest index among ties. */
  int loc_in[2] = {status, rank};
  kv_comm_allreduce(loc_in, out, 1, MPI_2INT, MPI_MAXLOC, comm);
  if (out[0] == KV_OK) {
    return KV_OK;
  }
  kv_comm_bcast(g_message, KV_MSG_MAX, MPI_CHAR, out[1], comm);
  kv_comm_bcast(g_where, (int)sizeof g_where, MPI_CHAR, out[1], comm);
  return out[0];
}

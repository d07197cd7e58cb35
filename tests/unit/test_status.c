/* Unit tests: status codes, messages, exit statuses, agreement across ranks. */
#include <mpi.h>

#include "core/status.h"
#include "tests/unit/check.h"

static int fails_with_message(void) {
  return KV_ERROR(KV_ERR_CONFIG, "bad key %s", "heat.kappa");
}

static int propagates(void) {
  KV_CHECK(fails_with_message());
  return KV_OK;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  MPI_Comm_rank(MPI_COMM_WORLD, &kv_test_rank);
  CHECK(strcmp(kv_strerror(KV_OK), "success") == 0, "kv_strerror(KV_OK)");
  CHECK(strcmp(kv_strerror(KV_ERR_CONFIG), "configuration error") == 0, "kv_strerror(CONFIG)");
  CHECK(strcmp(kv_strerror(9999), "unknown status code") == 0, "kv_strerror of an unknown code");
  for (int c = 1; c < KV_NCODES; c++) {
    CHECK(strlen(kv_strerror(c)) > 0, "code %d has a message", c);
  }
  CHECK(kv_exit_status(KV_OK) == 0, "exit 0 for ok");
  CHECK(kv_exit_status(KV_ERR_MISMATCH) == 1, "exit 1 for a failed check");
  CHECK(kv_exit_status(KV_ERR_CONFIG) == 2 && kv_exit_status(KV_ERR_USAGE) == 2 &&
            kv_exit_status(KV_ERR_FORMAT) == 2 && kv_exit_status(KV_ERR_IO) == 2,
        "exit 2 for input errors");
  CHECK(kv_exit_status(KV_ERR_NUMERIC) == 3 && kv_exit_status(KV_ERR_MPI) == 3 &&
            kv_exit_status(KV_ERR_NOT_CONVERGED) == 3 &&
            strcmp(kv_strerror(KV_ERR_NOT_CONVERGED), "not converged") == 0,
        "exit 3 for runtime failures");
  kv_error_clear();
  int rc = propagates();
  CHECK(rc == KV_ERR_CONFIG, "KV_CHECK propagates the code (%d)", rc);
  CHECK(strcmp(kv_error_message(), "bad key heat.kappa") == 0, "message recorded: '%s'",
        kv_error_message());
  CHECK(strstr(kv_error_where(), "test_status.c") != NULL, "location recorded: %s",
        kv_error_where());
  /* Agreement: the highest rank fails, everyone must see its code and message. */
  int size;
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  kv_error_clear();
  int local = KV_OK;
  if (kv_test_rank == size - 1) {
    local = KV_ERROR(KV_ERR_IO, "disk full on rank %d", kv_test_rank);
  }
  int agreed = kv_status_agree(MPI_COMM_WORLD, local);
  char want[64];
  snprintf(want, sizeof want, "disk full on rank %d", size - 1);
  int all_ok = agreed == KV_ERR_IO && strcmp(kv_error_message(), want) == 0, every;
  MPI_Allreduce(&all_ok, &every, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  CHECK(every, "kv_status_agree gives every rank the failing rank's code and message (%d ranks)",
        size);
  CHECK(kv_status_agree(MPI_COMM_WORLD, KV_OK) == KV_OK, "kv_status_agree of all-ok is ok");
  MPI_Finalize();
  return kv_test_failed;
}

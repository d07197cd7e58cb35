/* kelvin info FILE.h5 */
#include <stdio.h>

#include "cli/cli.h"
#include "core/status.h"
#include "io/h5.h"

static const char help[] =
    "usage: kelvin info FILE.h5\n"
    "\n"
    "Print what is in an HDF5 file: root attributes, every dataset with its type, shape,\n"
    "dimension names, units and attributes, and the stored configuration.\n";

static int info_root(int argc, char **argv) {
  if (argc >= 2 && kv_cli_is_help(argv[1])) {
    fputs(help, stdout);
    return KV_OK;
  }
  if (argc != 2) {
    return KV_ERROR(KV_ERR_USAGE, "info: expected one FILE.h5 (see kelvin info --help)");
  }
  KV_CHECK(kv_h5_probe(argv[1], 0));
  return kv_h5_describe(argv[1], stdout);
}

int kv_cmd_info(MPI_Comm comm, int argc, char **argv) {
  return kv_cli_on_root(comm, info_root, argc, argv);
}

/* kelvin — where kelvin's own data (named scenarios, example configurations) lives.
 *
 * Never a path compiled in at build time: an installed kelvin must work with its source tree gone.
 * The data root is, in order: $KELVIN_DATA_DIR; <dir of the running executable>/../share/kelvin
 * (an installed bin/kelvin); <dir of the executable>/.. when it holds configs/scenarios (bin/kelvin
 * in a source tree); the current directory. Scenarios are <root>/configs/scenarios, examples
 * <root>/configs. */
#ifndef KV_DATADIR_H
#define KV_DATADIR_H

#include <stddef.h>

/* The data root into buf (size n); "." when nothing else is found. Returns buf. Not collective. */
const char *kv_datadir_root(char *buf, size_t n);

/* <root>/configs/scenarios into buf (size n). Returns buf. Not collective. */
const char *kv_datadir_scenarios(char *buf, size_t n);

#endif

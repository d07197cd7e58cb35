/* kelvin — the user's own simulator as a model (run.model = external), like Dakota's analysis
 * drivers: each run (a sweep case) gets a fresh work directory with a parameters file (ini, json
 * or Dakota's standard format) and input files made from templates; the command runs there, as
 * its own process group, with KELVIN_CASE, KELVIN_WORKDIR and KELVIN_SEED in its environment,
 * under a timeout and with retries; its scalar responses and fields are read back from its
 * results files and become the run's records, so sweeps, manifests, fits and validation treat
 * it as any other model.
 *
 * Inputs are declared by name (external.inputs = a, b) and are keys of [external]
 * (external.a = 0.5 for a single run; sweep.vary = external.a:0:1 for a design).
 */
#ifndef KV_EXTERNAL_H
#define KV_EXTERNAL_H

#include "solvers/model.h"

extern const kv_model_type kv_external_type;

#define KV_EXT_MAX_INPUTS 64
#define KV_EXT_MAX_RESPONSES 48
#define KV_EXT_MAX_FIELDS 8
#define KV_EXT_MAX_FILES 16

typedef enum { KV_EXT_KEEP_FAILED = 0, KV_EXT_KEEP_ALWAYS = 1, KV_EXT_KEEP_NEVER = 2 } kv_ext_keep;

/* The [external] settings of one run, read once from a validated configuration. */
typedef struct {
  char command[4096];
  int shell; /* run the command through /bin/sh -c                               */
  int ninputs, nresp, nfields, nresults, ntemplates, nlinks;
  char input[KV_EXT_MAX_INPUTS][64];
  double value[KV_EXT_MAX_INPUTS];   /* NaN: a text input                              */
  char text[KV_EXT_MAX_INPUTS][256]; /* every input's value as configured            */
  char resp[KV_EXT_MAX_RESPONSES][64];
  char field[KV_EXT_MAX_FIELDS][64];
  char results[KV_EXT_MAX_FILES][512]; /* in the work directory                    */
  char tmpl_src[KV_EXT_MAX_FILES][1024], tmpl_dst[KV_EXT_MAX_FILES][512];
  char link[KV_EXT_MAX_FILES][1024];
  char params_file[512];
  int params_format; /* kv_params_format                                       */
  char workdir[4096];
  int keep; /* kv_ext_keep                                                     */
  double timeout, grace;
  long retries, ranks, seed, case_id;
  char launcher[512];
} kv_external_params;

/* Read the settings from cfg (validated); errors name the file, line and key. Not collective. */
int kv_external_params_from_config(const kv_config *cfg, kv_external_params *p);

/* The comma-separated response names of a configuration of the external model (its manifest
 * columns). Not collective. */
int kv_external_responses(const kv_config *cfg, char *buf, size_t n);

#endif

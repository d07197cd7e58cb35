/* kelvin — subcommands. Each takes the world communicator and its own arguments (argv[0] is the
 * subcommand name) and returns a kelvin status code; main turns it into an exit status. */
#ifndef KV_CLI_H
#define KV_CLI_H

#include <mpi.h>

#include "io/config.h"

/* kelvin run CONFIG: one solve (drivers/run). Collective. */
int kv_cmd_run(MPI_Comm comm, int argc, char **argv);
/* kelvin info FILE: describe an HDF5 file (rank 0). Collective (the others wait). */
int kv_cmd_info(MPI_Comm comm, int argc, char **argv);
/* kelvin compare A B: regression compare; KV_ERR_MISMATCH on differences. Rank 0 works. */
int kv_cmd_compare(MPI_Comm comm, int argc, char **argv);
/* kelvin sweep CONFIG: the task farm, --collect, --emit-slurm (drivers/sweep). Collective. */
int kv_cmd_sweep(MPI_Comm comm, int argc, char **argv);
/* kelvin fit CONFIG: train the [surrogate] (drivers/fit; rank 0 fits). Collective. */
int kv_cmd_fit(MPI_Comm comm, int argc, char **argv);
/* kelvin predict MODEL: evaluate a surrogate (rank 0). Collective (the others wait). */
int kv_cmd_predict(MPI_Comm comm, int argc, char **argv);
/* kelvin plot FILE VAR: a PNG map (rank 0). Collective (the others wait). */
int kv_cmd_plot(MPI_Comm comm, int argc, char **argv);
/* kelvin validate CONFIG: the surrogate against the full solver (drivers/validate);
 * KV_ERR_MISMATCH when a tolerance is exceeded. Collective. */
int kv_cmd_validate(MPI_Comm comm, int argc, char **argv);
/* kelvin pipeline CONFIG: sweep, fit, validate (drivers/pipeline). Collective. */
int kv_cmd_pipeline(MPI_Comm comm, int argc, char **argv);

/* kelvin sensitivity CONFIG|MODEL: Sobol indices / Morris effects (drivers/sensitivity).
 * Collective. */
int kv_cmd_sensitivity(MPI_Comm comm, int argc, char **argv);

/* kelvin optimize CONFIG: efficient global optimisation through the task farm
 * (drivers/optimize). Collective. */
int kv_cmd_optimize(MPI_Comm comm, int argc, char **argv);

/* kelvin adapt CONFIG: sequential design to a tolerance (drivers/adapt). Collective. */
int kv_cmd_adapt(MPI_Comm comm, int argc, char **argv);

/* KV_ERR_USAGE for an unknown option opt of command cmd, with "did you mean" from known
 * (NULL-terminated). */
int kv_cli_unknown_option(const char *cmd, const char *opt, const char *const *known);

/* 1 if s is "-h" or "--help". */
int kv_cli_is_help(const char *s);

/* The command line that started this command, to repeat in a hint: the launcher (mpirun -n N or
 * srun -n N when comm has several ranks), the program as invoked and argv (the command and its
 * arguments, key=value overrides included), shell-quoted where needed, without the option drop
 * and its argument (NULL: none). Written into buf (size n), returned. Not collective. */
const char *kv_cli_again(MPI_Comm comm, int argc, char **argv, const char *drop, char *buf,
                         size_t n);

/* The usual "CMD CONFIG [section.key=value ...]": print help and return 1 in *done when asked,
 * refuse other options, load CONFIG, apply the overrides and check it against the surrogate,
 * validate, sweep, run and model keys (kv_fit_validate). Collective; *cfg is the caller's. */
int kv_cli_surrogate_config(MPI_Comm comm, int argc, char **argv, const char *help, kv_config **cfg,
                            const char **path, int *done);

/* "CMD CONFIG [section.key=value ...] [--resume]" for the decisions that run the model (optimize,
 * adapt): help (*done = 1), --resume, CONFIG loaded with the overrides, a GP as the [surrogate]
 * unless the file names a kind, and the whole configuration validated (kv_fit_validate).
 * Collective; *cfg is the caller's. */
int kv_cli_decision_config(MPI_Comm comm, int argc, char **argv, const char *help, kv_config **cfg,
                           int *resume, int *done);

/* A serial subcommand: print help on rank 0 when asked, otherwise run fn on rank 0 only and
 * share its status (kv_cli_on_root). */
int kv_cli_serial(MPI_Comm comm, int argc, char **argv, const char *help, int (*fn)(int, char **));

/* Run fn on rank 0 only and share its status with every rank (for serial subcommands). */
int kv_cli_on_root(MPI_Comm comm, int (*fn)(int, char **), int argc, char **argv);

#endif

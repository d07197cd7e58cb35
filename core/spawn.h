/* kelvin — running another program: the user's simulator of an external model.
 *
 * The child runs in its own process group (so a timeout or an interrupt can stop it and
 * everything it started), in a given directory, with its standard output and error in files and
 * its standard input from /dev/null, through vfork + exec (no shell, no copy of a large MPI
 * process); it is killed if kelvin dies, even by SIGKILL. The wait polls a pidfd, so a finished
 * child is noticed at once (no sleep loop), and checks kelvin's interrupt flag
 * (core/interrupt.h) ten times a second.
 */
#ifndef KV_SPAWN_H
#define KV_SPAWN_H

#include <stddef.h>

typedef struct {
  char *const *argv;    /* argv[0]: a path (with '/') or a name searched in PATH        */
  char *const *envp;    /* the child's environment (NULL: kelvin's own)                  */
  const char *dir;      /* working directory (NULL: kelvin's)                            */
  const char *out_path; /* standard output and error go to these files (created,       */
  const char *err_path; /* truncated); NULL: /dev/null                                   */
  double timeout;       /* seconds; 0: none                                              */
  double grace;         /* seconds between SIGTERM and SIGKILL of a stopped child       */
} kv_spawn_params;

typedef struct {
  int started;     /* the program could be executed                                  */
  int exit_status; /* its exit status, when it exited                               */
  int signal;      /* the signal that ended it (0: it exited)                        */
  int timed_out;   /* stopped because it ran past timeout                            */
  int interrupted; /* stopped because kelvin received SIGINT/SIGTERM (the signal)   */
  double wall;     /* seconds from start to end                                      */
} kv_spawn_result;

/* Run the program and wait for it (or stop it: SIGTERM to its process group, SIGKILL after
 * grace seconds). When the child exits, whatever it left running in its group is killed too.
 * Returns KV_OK when the child ran and ended, however it ended (see *r); KV_ERR_IO when it could
 * not be started (r->started = 0; the message names argv[0] and the reason). Not collective. */
int kv_spawn_run(const kv_spawn_params *p, kv_spawn_result *r);

/* Kill (SIGKILL) every process of this user whose working directory is dir or lies below it:
 * what a killed kelvin's simulator left running in a work directory that is about to be made
 * afresh. Returns how many were killed. Linux (/proc); elsewhere 0. Not collective. */
int kv_spawn_kill_within(const char *dir);

/* A description of how it ended, for messages: "exit status 3", "killed by signal 9 (Killed)",
 * "ran past the timeout of 5 s", ... */
void kv_spawn_describe(const kv_spawn_result *r, double timeout, char *buf, size_t n);

/* Split a command line into words as a POSIX shell would without expansions: blanks separate
 * words, '...' quotes everything, "..." quotes all but \" and \\, a backslash outside quotes
 * escapes the next character. *words (NULL-terminated) and its strings are one allocation, freed
 * with free(*words). KV_ERR_INVALID for an unterminated quote (the message says which). */
int kv_spawn_split(const char *line, char ***words);

/* The environment of a child of an MPI process: kelvin's own without the variables by which the
 * MPI launcher (Open MPI, PMIx, Slurm's PMI) told kelvin its rank (a child that saw them would
 * take itself for one of kelvin's ranks; a nested mpirun would refuse to start), plus extra
 * ("NAME=value" strings, NULL-terminated; may be NULL). *out (NULL-terminated) is one
 * allocation freed with free(*out); the strings are borrowed from environ and extra. */
int kv_spawn_env(char *const *extra, char ***out);

#endif

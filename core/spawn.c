/* Running a child program: vfork + exec into its own process group, a pidfd to wait on. */
#define _GNU_SOURCE /* posix_spawn_file_actions_addchdir_np, pidfd via syscall */
#include "core/spawn.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/interrupt.h"
#include "core/status.h"

extern char **environ;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Wait up to ms milliseconds for the child to end: 1 when it ended (*st set), 0 when not. */
static int wait_for(pid_t pid, int pfd, int ms, int *st) {
  if (pfd >= 0 && ms > 0) {
    struct pollfd q = {pfd, POLLIN, 0};
    if (poll(&q, 1, ms) < 0 && errno != EINTR) {
      ms = 0;
    }
  } else if (ms > 0) {
    struct timespec ts = {0, 1000000L * (ms < 10 ? ms : 10)}; /* no pidfd: a short sleep */
    nanosleep(&ts, NULL);
  }
  pid_t w = waitpid(pid, st, WNOHANG);
  return w == pid;
}

/* Stop the child's process group: SIGTERM, then SIGKILL after grace seconds. */
static void stop_group(pid_t pid, int pfd, double grace, int *st) {
  kill(-pid, SIGTERM);
  double end = now() + grace;
  int ended = 0;
  while (!ended && now() < end) {
    ended = wait_for(pid, pfd, 50, st);
  }
  kill(-pid, SIGKILL);
  if (!ended) {
    while (waitpid(pid, st, 0) < 0 && errno == EINTR) {
    }
  }
}

/* The child between vfork and exec: only system calls, no allocation, no stdio (it shares the
 * parent's memory until exec). A failure is left in *err for the parent. */
static void child(const kv_spawn_params *p, pid_t parent, volatile int *err) {
  setpgid(0, 0);
  /* Killed with kelvin, even by SIGKILL (what --resume finds then is cleaned up by the caller). */
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (getppid() != parent) {
    _exit(127);
  }
  sigset_t none;
  sigemptyset(&none);
  struct sigaction dfl;
  memset(&dfl, 0, sizeof dfl);
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGINT, &dfl, NULL);
  sigaction(SIGTERM, &dfl, NULL);
  sigaction(SIGPIPE, &dfl, NULL);
  sigaction(SIGCHLD, &dfl, NULL);
  sigprocmask(SIG_SETMASK, &none, NULL);
  if (p->dir && chdir(p->dir) != 0) {
    *err = errno;
    _exit(127);
  }
  int in = open("/dev/null", O_RDONLY);
  int out = open(p->out_path ? p->out_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  int er = open(p->err_path ? p->err_path : "/dev/null", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (in < 0 || out < 0 || er < 0 || dup2(in, STDIN_FILENO) < 0 || dup2(out, STDOUT_FILENO) < 0 ||
      dup2(er, STDERR_FILENO) < 0) {
    *err = errno;
    _exit(127);
  }
  execvpe(p->argv[0], p->argv, p->envp ? p->envp : environ);
  *err = errno;
  _exit(127);
}

int kv_spawn_run(const kv_spawn_params *p, kv_spawn_result *r) {
  memset(r, 0, sizeof *r);
  /* vfork, not fork: no copy of a large MPI process's memory (and no fork warnings from MPI
   * transports that register memory), and it lets the child ask to die with kelvin, which
   * posix_spawn cannot. */
  volatile int err = 0;
  pid_t parent = getpid();
  double t0 = now();
  pid_t pid = vfork();
  if (pid == 0) {
    child(p, parent, &err);
  }
  if (pid < 0 || err != 0) {
    int e = pid < 0 ? errno : err;
    if (pid > 0) {
      while (waitpid(pid, NULL, 0) < 0 && errno == EINTR) {
      }
    }
    return KV_ERROR(KV_ERR_IO, "cannot run '%s'%s%s: %s", p->argv[0], p->dir ? " in " : "",
                    p->dir ? p->dir : "", strerror(e));
  }
  r->started = 1;
  int pfd = (int)syscall(SYS_pidfd_open, pid, 0), st = 0, ended = 0;
  while (!ended) {
    int ms = 100;
    if (p->timeout > 0) {
      double left = t0 + p->timeout - now();
      if (left <= 0) {
        r->timed_out = 1;
        break;
      }
      ms = left < 0.1 ? (int)(left * 1000) + 1 : 100;
    }
    ended = wait_for(pid, pfd, ms, &st);
    if (!ended && kv_interrupt_signal()) {
      r->interrupted = kv_interrupt_signal();
      break;
    }
  }
  if (!ended) {
    stop_group(pid, pfd, p->grace > 0 ? p->grace : 0.0, &st);
  } else {
    kill(-pid, SIGKILL); /* what it left running in its group */
  }
  if (pfd >= 0) {
    close(pfd);
  }
  r->wall = now() - t0;
  if (WIFEXITED(st)) {
    r->exit_status = WEXITSTATUS(st);
  } else if (WIFSIGNALED(st)) {
    r->signal = WTERMSIG(st);
  }
  return KV_OK;
}

int kv_spawn_kill_within(const char *dir) {
  char real[PATH_MAX];
  if (!realpath(dir, real)) {
    return 0;
  }
  size_t len = strlen(real);
  DIR *d = opendir("/proc");
  if (!d) {
    return 0;
  }
  int killed = 0;
  pid_t self = getpid();
  uid_t uid = getuid();
  struct dirent *e;
  while ((e = readdir(d))) {
    char *end;
    long pid = strtol(e->d_name, &end, 10);
    if (*end || pid <= 1 || pid == self) {
      continue;
    }
    char link[64], cwd[PATH_MAX];
    struct stat st;
    snprintf(link, sizeof link, "/proc/%ld", pid);
    if (stat(link, &st) != 0 || st.st_uid != uid) {
      continue;
    }
    snprintf(link, sizeof link, "/proc/%ld/cwd", pid);
    ssize_t n = readlink(link, cwd, sizeof cwd - 1);
    if (n <= 0) {
      continue;
    }
    cwd[n] = '\0';
    if (strncmp(cwd, real, len) == 0 && (cwd[len] == '\0' || cwd[len] == '/')) {
      killed += kill((pid_t)pid, SIGKILL) == 0;
    }
  }
  closedir(d);
  return killed;
}

void kv_spawn_describe(const kv_spawn_result *r, double timeout, char *buf, size_t n) {
  if (r->timed_out) {
    snprintf(buf, n, "still running after the timeout of %g s: stopped", timeout);
  } else if (r->interrupted) {
    snprintf(buf, n, "stopped by kelvin's signal %d", r->interrupted);
  } else if (r->signal) {
    snprintf(buf, n, "killed by signal %d (%s)", r->signal, strsignal(r->signal));
  } else {
    snprintf(buf, n, "exit status %d", r->exit_status);
  }
}

int kv_spawn_split(const char *line, char ***words) {
  size_t len = strlen(line), nmax = len / 2 + 2;
  /* Pointers first, then the characters: words never grow beyond the line. */
  char **w = malloc(nmax * sizeof *w + len + nmax + 1);
  if (!w) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  char *out = (char *)(w + nmax);
  size_t nw = 0;
  const char *s = line;
  for (;;) {
    while (*s == ' ' || *s == '\t') {
      s++;
    }
    if (!*s) {
      break;
    }
    w[nw++] = out;
    while (*s && *s != ' ' && *s != '\t') {
      if (*s == '\'') {
        const char *q = strchr(s + 1, '\'');
        if (!q) {
          free(w);
          return KV_ERROR(KV_ERR_INVALID, "unterminated ' in '%s'", line);
        }
        memcpy(out, s + 1, (size_t)(q - s - 1));
        out += q - s - 1;
        s = q + 1;
      } else if (*s == '"') {
        for (s++; *s && *s != '"'; s++) {
          if (*s == '\\' && (s[1] == '"' || s[1] == '\\')) {
            s++;
          }
          *out++ = *s;
        }
        if (*s != '"') {
          free(w);
          return KV_ERROR(KV_ERR_INVALID, "unterminated \" in '%s'", line);
        }
        s++;
      } else if (*s == '\\' && s[1]) {
        *out++ = s[1];
        s += 2;
      } else {
        *out++ = *s++;
      }
    }
    *out++ = '\0';
  }
  w[nw] = NULL;
  *words = w;
  return KV_OK;
}

/* Variables by which an MPI launcher tells a process its place in a job. */
static int mpi_job_var(const char *e) {
  static const char *const prefixes[] = {"PMIX_",
                                         "PMI_",
                                         "OMPI_COMM_WORLD_",
                                         "OMPI_MCA_orte_",
                                         "OMPI_MCA_ess",
                                         "OMPI_MCA_pmix",
                                         "OMPI_MCA_shmem_",
                                         "OMPI_MCA_initial_wdir=",
                                         "OMPI_FILE_LOC",
                                         "OMPI_COMMAND=",
                                         "OMPI_ARGV=",
                                         "OMPI_NUM_APP_CTX=",
                                         "OMPI_FIRST_RAN",
                                         "OMPI_APP_CTX_",
                                         "OMPI_UNIVERSE_",
                                         "OMPI_MCA_mpi_oversubscribe=",
                                         NULL};
  for (int i = 0; prefixes[i]; i++) {
    if (strncmp(e, prefixes[i], strlen(prefixes[i])) == 0) {
      return 1;
    }
  }
  return 0;
}

int kv_spawn_env(char *const *extra, char ***out) {
  size_t n = 0, ne = 0;
  while (environ[n]) {
    n++;
  }
  while (extra && extra[ne]) {
    ne++;
  }
  char **env = malloc((n + ne + 1) * sizeof *env);
  if (!env) {
    return KV_ERROR(KV_ERR_NOMEM, "out of memory");
  }
  size_t k = 0;
  for (size_t i = 0; i < n; i++) {
    int replaced = 0;
    for (size_t j = 0; j < ne && !replaced; j++) {
      size_t l = strcspn(extra[j], "=");
      replaced = strncmp(environ[i], extra[j], l + 1) == 0;
    }
    if (!replaced && !mpi_job_var(environ[i])) {
      env[k++] = environ[i];
    }
  }
  for (size_t j = 0; j < ne; j++) {
    env[k++] = extra[j];
  }
  env[k] = NULL;
  *out = env;
  return KV_OK;
}

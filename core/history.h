/* kelvin — CF "history": which command made a file. main records the command line once; every
 * file kelvin writes carries "<UTC time>: <command line>" (after the history of a file it
 * continues, such as a restart's). */
#ifndef KV_HISTORY_H
#define KV_HISTORY_H

#include <stddef.h>

/* Record the command line of this process (main only, before any output). Not collective. */
void kv_history_set(const char *command_line);

/* "<ISO 8601 UTC time>: <command line>" into buf (size n), after `before` and a newline when
 * before is not NULL or empty; "" when no command was recorded. Returns buf. */
const char *kv_history_line(const char *before, char *buf, size_t n);

#endif

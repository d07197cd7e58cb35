/* kelvin — "did you mean": the closest known name to a mistyped one (edit distance). */
#ifndef KV_SUGGEST_H
#define KV_SUGGEST_H

#include <stddef.h>

/* Levenshtein distance between a and b (names up to 63 characters; longer ones are 99). */
int kv_suggest_distance(const char *a, const char *b);

/* The candidate closest to word, if it is within max(2, strlen(word)/3) edits and not word
 * itself; NULL otherwise. candidates is NULL-terminated. Borrowed pointer into candidates. */
const char *kv_suggest(const char *word, const char *const *candidates);

/* " (did you mean X?)" written into buf for the closest candidate, or "" when none is close.
 * Returns buf. */
const char *kv_suggest_hint(const char *word, const char *const *candidates, char *buf, size_t len);

#endif

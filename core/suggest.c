/* kelvin — "did you mean" (see suggest.h). */
#include "core/suggest.h"

#include <stdio.h>
#include <string.h>

int kv_suggest_distance(const char *a, const char *b) {
  size_t la = strlen(a), lb = strlen(b);
  if (la > 63 || lb > 63) {
    return 99;
  }
  int d[64][64];
  for (size_t i = 0; i <= la; i++) {
    d[i][0] = (int)i;
  }
  for (size_t j = 0; j <= lb; j++) {
    d[0][j] = (int)j;
  }
  for (size_t i = 1; i <= la; i++) {
    for (size_t j = 1; j <= lb; j++) {
      int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);
      int u = d[i - 1][j] + 1, l = d[i][j - 1] + 1;
      d[i][j] = c < u ? (c < l ? c : l) : (u < l ? u : l);
    }
  }
  return d[la][lb];
}

const char *kv_suggest(const char *word, const char *const *candidates) {
  int limit = (int)strlen(word) / 3;
  limit = limit < 2 ? 2 : limit;
  const char *best = NULL;
  int bestd = limit + 1;
  for (int i = 0; candidates && candidates[i]; i++) {
    int d = kv_suggest_distance(word, candidates[i]);
    if (d > 0 && d < bestd) {
      bestd = d;
      best = candidates[i];
    }
  }
  return best;
}

const char *kv_suggest_hint(const char *word, const char *const *candidates, char *buf,
                            size_t len) {
  const char *best = kv_suggest(word, candidates);
  snprintf(buf, len, best ? " (did you mean %s?)" : "%s", best ? best : "");
  return buf;
}

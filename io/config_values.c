#include "io/config.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/status.h"
#include "core/suggest.h"
#include "io/config_impl.h"
#include "io/table.h"
/* Values: parsing and checking against the key tables, validation, typed getters. */

/* ---------------------------------------------------------------- value parsing */

static int parse_long(const char *s, long *out) {
  char *end;
  errno = 0;
  long v = strtol(s, &end, 10);
  while (isspace((unsigned char)*end)) {
    end++;
  }
  if (end == s || *end != '\0' || errno == ERANGE) {
    return 0;
  }
  *out = v;
  return 1;
}

static int parse_double(const char *s, double *out) {
  char *end;
  errno = 0;
  double v = strtod(s, &end);
  while (isspace((unsigned char)*end)) {
    end++;
  }
  if (end == s || *end != '\0' || errno == ERANGE || !isfinite(v)) {
    return 0;
  }
  *out = v;
  return 1;
}

static int parse_bool(const char *s, int *out) {
  static const char *const t[] = {"true", "yes", "on", "1"}, *const f[] = {"false", "no", "off",
                                                                           "0"};
  for (int i = 0; i < 4; i++) {
    if (strcasecmp(s, t[i]) == 0) {
      *out = 1;
      return 1;
    }
    if (strcasecmp(s, f[i]) == 0) {
      *out = 0;
      return 1;
    }
  }
  return 0;
}

/* Index of word in "a|b|c", or -1. */
static int choice_index(const char *choices, const char *word) {
  int idx = 0;
  size_t wl = strlen(word);
  const char *p = choices;
  while (*p) {
    const char *bar = strchr(p, '|');
    size_t n = bar ? (size_t)(bar - p) : strlen(p);
    if (n == wl && strncmp(p, word, n) == 0) {
      return idx;
    }
    idx++;
    if (!bar) {
      break;
    }
    p = bar + 1;
  }
  return -1;
}

/* Split a comma list into trimmed items inside buf; returns count or -1 on too many/empty. */
static int split_list(char *buf, char **items, int max) {
  int n = 0;
  char *p = buf;
  for (;;) {
    char *c = strchr(p, ',');
    if (c) {
      *c = '\0';
    }
    if (n == max) {
      return -1;
    }
    items[n++] = kv_table_trim(p);
    if (!c) {
      break;
    }
    p = c + 1;
  }
  return n;
}

static int in_range(double v, double lo, double hi) {
  return lo > hi || (v >= lo && v <= hi);
}

static void range_text(char *buf, size_t n, double lo, double hi) {
  if (lo > hi) {
    buf[0] = '\0';
  } else if (isinf(hi)) {
    snprintf(buf, n, " >= %g", lo);
  } else if (isinf(lo)) {
    snprintf(buf, n, " <= %g", hi);
  } else {
    snprintf(buf, n, " in [%g, %g]", lo, hi);
  }
}

static int parse_func(const char *value, kv_config_func *fn) {
  memset(fn, 0, sizeof *fn);
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", value);
  char *s = kv_table_trim(buf);
  double num;
  if (parse_double(s, &num)) {
    strcpy(fn->name, "number");
    fn->nargs = 1;
    fn->args[0] = num;
    return 1;
  }
  char *colon = strstr(s, ":/");
  if (colon) {
    *colon = '\0';
    if (!*s || strlen(s) >= sizeof fn->path || strlen(colon + 1) >= sizeof fn->dataset) {
      return 0;
    }
    strcpy(fn->name, "file");
    strcpy(fn->path, s);
    strcpy(fn->dataset, colon + 1);
    return 1;
  }
  char *open = strchr(s, '(');
  size_t len = strlen(s);
  if (!open || len < 3 || s[len - 1] != ')') {
    /* a bare word, e.g. "none" */
    for (char *p = s; *p; p++) {
      if (!isalnum((unsigned char)*p) && *p != '_') {
        return 0;
      }
    }
    if (!*s || strlen(s) >= sizeof fn->name) {
      return 0;
    }
    strcpy(fn->name, s);
    return 1;
  }
  *open = '\0';
  s[len - 1] = '\0';
  char *name = kv_table_trim(s);
  if (!*name || strlen(name) >= sizeof fn->name) {
    return 0;
  }
  for (char *p = name; *p; p++) {
    if (!isalnum((unsigned char)*p) && *p != '_') {
      return 0;
    }
  }
  strcpy(fn->name, name);
  char *args = kv_table_trim(open + 1);
  if (!*args) {
    return 1;
  }
  char *items[KV_CFG_MAXARGS + 1];
  int n = split_list(args, items, KV_CFG_MAXARGS);
  if (n < 0) {
    return 0;
  }
  for (int i = 0; i < n; i++) {
    if (!parse_double(items[i], &fn->args[i])) {
      return 0;
    }
  }
  fn->nargs = n;
  return 1;
}

/* Check one value against its schema entry. */
static int check_value(const kv_config *cfg, const kv_config_key *k, const char *value) {
  char rng[96];
  range_text(rng, sizeof rng, k->lo, k->hi);
  switch (k->type) {
  case KV_CFG_STRING:
  case KV_CFG_VALUE:
    if (!*value) {
      return kv_config_errorf(cfg, k->key, "expected a non-empty value");
    }
    return KV_OK;
  case KV_CFG_INT: {
    long v;
    if (!parse_long(value, &v) || !in_range((double)v, k->lo, k->hi)) {
      return kv_config_errorf(cfg, k->key, "expected an integer%s", rng);
    }
    return KV_OK;
  }
  case KV_CFG_DOUBLE: {
    double v;
    if (!parse_double(value, &v) || !in_range(v, k->lo, k->hi)) {
      return kv_config_errorf(cfg, k->key, "expected a number%s", rng);
    }
    return KV_OK;
  }
  case KV_CFG_BOOL: {
    int b;
    if (!parse_bool(value, &b)) {
      return kv_config_errorf(cfg, k->key, "expected true or false");
    }
    return KV_OK;
  }
  case KV_CFG_ENUM:
    if (choice_index(k->choices, value) < 0) {
      return kv_config_errorf(cfg, k->key, "expected one of %s", k->choices);
    }
    return KV_OK;
  case KV_CFG_INT_LIST:
  case KV_CFG_DOUBLE_LIST: {
    char buf[1024];
    char *items[64];
    snprintf(buf, sizeof buf, "%s", value);
    int n = split_list(buf, items, 64);
    int isint = k->type == KV_CFG_INT_LIST;
    for (int i = 0; i < n; i++) {
      long lv;
      double dv;
      int ok = isint ? parse_long(items[i], &lv) : parse_double(items[i], &dv);
      if (isint) {
        dv = (double)lv;
      }
      if (!ok || !in_range(dv, k->lo, k->hi)) {
        return kv_config_errorf(cfg, k->key, "expected a comma-separated list of %s%s",
                                isint ? "integers" : "numbers", rng);
      }
    }
    if (n < 0) {
      return kv_config_errorf(cfg, k->key, "list too long");
    }
    return KV_OK;
  }
  case KV_CFG_FUNC: {
    kv_config_func fn;
    if (!parse_func(value, &fn)) {
      return kv_config_errorf(cfg, k->key, "expected %s", k->choices ? k->choices : "name(args)");
    }
    return KV_OK;
  }
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- validation */

const kv_config_key *kv_config_key_find(const kv_config_key *const *tables, const char *key) {
  for (int t = 0; tables[t]; t++) {
    for (const kv_config_key *k = tables[t]; k->key; k++) {
      if (strcmp(k->key, key) == 0) {
        return k;
      }
    }
  }
  /* A pattern "section.*" stands for the keys a model names itself (an external model's inputs);
   * the model's check says which of them it has. */
  for (int t = 0; tables[t]; t++) {
    for (const kv_config_key *k = tables[t]; k->key; k++) {
      size_t l = strlen(k->key);
      if (l > 2 && strcmp(k->key + l - 2, ".*") == 0 && strncmp(k->key, key, l - 1) == 0 &&
          key[l - 1] && !strchr(key + l - 1, '.')) {
        return k;
      }
    }
  }
  return NULL;
}

const char *kv_config_key_at(const kv_config *cfg, int i) {
  return i >= 0 && i < cfg->n ? cfg->e[i].key : NULL;
}

static int section_known(const kv_config_key *const *tables, const char *sec, size_t len) {
  for (int t = 0; tables[t]; t++) {
    for (const kv_config_key *k = tables[t]; k->key; k++) {
      if (strncmp(k->key, sec, len) == 0 && k->key[len] == '.') {
        return 1;
      }
    }
  }
  return 0;
}

int kv_config_validate(kv_config *cfg, const kv_config_key *const *tables) {
  for (int i = 0; i < cfg->n; i++) {
    const entry *e = &cfg->e[i];
    const kv_config_key *k = kv_config_key_find(tables, e->key);
    if (k) {
      KV_CHECK(check_value(cfg, k, e->value));
      continue;
    }
    char loc[600];
    kv_config_where(cfg, e, loc, sizeof loc);
    const char *dot = strchr(e->key, '.');
    size_t slen = (size_t)(dot - e->key);
    if (!section_known(tables, e->key, slen)) {
      char secs[512] = "";
      for (int t = 0; tables[t]; t++) {
        for (const kv_config_key *q = tables[t]; q->key; q++) {
          size_t l = (size_t)(strchr(q->key, '.') - q->key);
          char s[64];
          snprintf(s, sizeof s, "[%.*s]", (int)l, q->key);
          if (!strstr(secs, s) && strlen(secs) + strlen(s) + 2 < sizeof secs) {
            strcat(secs, secs[0] ? " " : "");
            strcat(secs, s);
          }
        }
      }
      return KV_ERROR(KV_ERR_CONFIG, "%s: unknown section [%.*s] (key %s); expected one of %s", loc,
                      (int)slen, e->key, e->key, secs);
    }
    /* Suggest the closest known key in the same section. */
    const char *best = NULL;
    int bestd = 4;
    for (int t = 0; tables[t]; t++) {
      for (const kv_config_key *q = tables[t]; q->key; q++) {
        int dd = kv_suggest_distance(q->key, e->key);
        if (dd < bestd) {
          bestd = dd;
          best = q->key;
        }
      }
    }
    if (best) {
      return KV_ERROR(KV_ERR_CONFIG, "%s: unknown key %s (did you mean %s?)", loc, e->key, best);
    }
    return KV_ERROR(KV_ERR_CONFIG, "%s: unknown key %s in section [%.*s]", loc, e->key, (int)slen,
                    e->key);
  }
  for (int t = 0; tables[t]; t++) {
    for (const kv_config_key *k = tables[t]; k->key; k++) {
      if (k->def && !kv_config_find(cfg, k->key)) {
        KV_CHECK(kv_config_add_entry(cfg, k->key, k->def, 0, SRC_DEFAULT));
      }
    }
  }
  return KV_OK;
}

/* ---------------------------------------------------------------- getters */

static int get_entry(const kv_config *cfg, const char *key, const char *what, const entry **out) {
  *out = kv_config_find(cfg, key);
  if (!*out) {
    return kv_config_errorf(cfg, key, "this key is required (%s)", what);
  }
  return KV_OK;
}

int kv_config_get_string(const kv_config *cfg, const char *key, const char **out) {
  const entry *e;
  KV_CHECK(get_entry(cfg, key, "a value", &e));
  *out = e->value;
  return KV_OK;
}

int kv_config_get_int(const kv_config *cfg, const char *key, long lo, long hi, long *out) {
  const entry *e;
  char rng[96];
  range_text(rng, sizeof rng, (double)lo, (double)hi);
  KV_CHECK(get_entry(cfg, key, "an integer", &e));
  if (!parse_long(e->value, out) || !in_range((double)*out, (double)lo, (double)hi)) {
    return kv_config_errorf(cfg, key, "expected an integer%s", rng);
  }
  return KV_OK;
}

int kv_config_get_double(const kv_config *cfg, const char *key, double lo, double hi, double *out) {
  const entry *e;
  char rng[96];
  range_text(rng, sizeof rng, lo, hi);
  KV_CHECK(get_entry(cfg, key, "a number", &e));
  if (!parse_double(e->value, out) || !in_range(*out, lo, hi)) {
    return kv_config_errorf(cfg, key, "expected a number%s", rng);
  }
  return KV_OK;
}

int kv_config_get_bool(const kv_config *cfg, const char *key, int *out) {
  const entry *e;
  KV_CHECK(get_entry(cfg, key, "true or false", &e));
  if (!parse_bool(e->value, out)) {
    return kv_config_errorf(cfg, key, "expected true or false");
  }
  return KV_OK;
}

int kv_config_get_enum(const kv_config *cfg, const char *key, const char *choices, int *out) {
  const entry *e;
  KV_CHECK(get_entry(cfg, key, choices, &e));
  *out = choice_index(choices, e->value);
  if (*out < 0) {
    return kv_config_errorf(cfg, key, "expected one of %s", choices);
  }
  return KV_OK;
}

static int get_list(const kv_config *cfg, const char *key, int isint, long *lout, double *dout,
                    int max, int *count) {
  const entry *e;
  const char *what = isint ? "integers" : "numbers";
  KV_CHECK(get_entry(cfg, key, "a comma-separated list", &e));
  char buf[1024];
  char *items[64];
  snprintf(buf, sizeof buf, "%s", e->value);
  int n = split_list(buf, items, max < 64 ? max : 64);
  if (n < 0) {
    return kv_config_errorf(cfg, key, "expected at most %d comma-separated %s", max, what);
  }
  for (int i = 0; i < n; i++) {
    int ok = isint ? parse_long(items[i], &lout[i]) : parse_double(items[i], &dout[i]);
    if (!ok) {
      return kv_config_errorf(cfg, key, "item %d ('%s') is not one of the %s expected", i + 1,
                              items[i], what);
    }
  }
  *count = n;
  return KV_OK;
}

int kv_config_get_int_list(const kv_config *cfg, const char *key, long *out, int max, int *count) {
  return get_list(cfg, key, 1, out, NULL, max, count);
}

int kv_config_get_double_list(const kv_config *cfg, const char *key, double *out, int max,
                              int *count) {
  return get_list(cfg, key, 0, NULL, out, max, count);
}

int kv_config_get_func(const kv_config *cfg, const char *key, kv_config_func *out) {
  const entry *e;
  KV_CHECK(get_entry(cfg, key, "name(args), a number or file.h5:/dataset", &e));
  if (!parse_func(e->value, out)) {
    return kv_config_errorf(cfg, key, "expected name(a, b, ...), a number or file.h5:/dataset");
  }
  return KV_OK;
}

/* kelvin — the configuration's private state (io/config.c: parsing, editing, output;
 * io/config_values.c: value checks, validation against key tables, typed getters). */
#ifndef KV_CONFIG_IMPL_H
#define KV_CONFIG_IMPL_H

#include <stddef.h>

#include "io/config.h"

/* Where a value came from. */
enum { SRC_FILE, SRC_OVERRIDE, SRC_DEFAULT };

typedef struct {
  char *key; /* "section.key" */
  char *value;
  int line; /* line in the file; 0 when not from the file */
  int src;
  char *tag; /* SRC_OVERRIDE set by a program: who set it ("sweep case 12"); NULL: the user */
} entry;

struct kv_config {
  char *source;
  entry *e;
  int n, cap;
  /* parser state */
  const char *text;
  size_t pos;
  int line;
  int last_line_indented;
  int too_long_line;
  int dup_line;
  char dup_key[768];
  int orphan_line; /* first key outside any [section] */
  char orphan_key[256];
};

/* The entry of key, or NULL. */
entry *kv_config_find(const kv_config *cfg, const char *key);

/* Add (or replace) an entry; src says where the value came from. */
int kv_config_add_entry(kv_config *cfg, const char *key, const char *value, int line, int src);

/* A malloc'd copy (NULL when out of memory). */
char *kv_config_dup(const char *s);

/* "FILE:LINE" (or "FILE" / "command line") of an entry, for messages. */
void kv_config_where(const kv_config *cfg, const entry *e, char *buf, size_t n);

#endif

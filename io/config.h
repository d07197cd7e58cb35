/* kelvin — configuration: INI files parsed with libinih, command-line overrides, a schema of
 * known keys, typed getters and error messages that name the file, line, key and expectation.
 *
 * Keys are written "section.key" (e.g. "heat.kappa", "heat.bc.xlo"). Each module describes the
 * keys it reads in a table of kv_config_key; kv_config_validate() checks a loaded configuration
 * against the tables of the modules in use: unknown sections and keys, wrong types, values out of
 * range and values outside an enumeration are errors there, before any work starts. Validation
 * also records the defaults of keys that were not given, so the resolved configuration written
 * by kv_config_to_text() is complete and reproduces the run.
 */
#ifndef KV_CONFIG_H
#define KV_CONFIG_H

#include <mpi.h>

typedef struct kv_config kv_config;

typedef enum {
  KV_CFG_STRING,      /* any text                                                        */
  KV_CFG_INT,         /* integer, optional range [lo, hi]                                 */
  KV_CFG_DOUBLE,      /* real, optional range [lo, hi]                                    */
  KV_CFG_BOOL,        /* true|false|yes|no|on|off|1|0                                     */
  KV_CFG_ENUM,        /* one of the words in choices ("a|b|c")                            */
  KV_CFG_INT_LIST,    /* comma-separated integers, each in range                          */
  KV_CFG_DOUBLE_LIST, /* comma-separated reals, each in range                             */
  KV_CFG_FUNC,        /* function-like value "name(a,b,...)", a number, or "file.h5:/var" */
  KV_CFG_VALUE        /* a number or a non-empty text (an external model's input)        */
} kv_config_type;

/* One known key. Tables end with an entry whose key is NULL. */
typedef struct {
  const char *key; /* "section.key"                                                   */
  kv_config_type type;
  const char *def;     /* default value as text; NULL when the key has no default          */
  const char *choices; /* ENUM: "a|b|c"; FUNC: the accepted forms, for messages            */
  double lo, hi;       /* numeric range, inclusive; ignored when lo > hi                   */
  const char *doc;     /* one line of documentation                                        */
} kv_config_key;

#define KV_CFG_NORANGE 1.0, 0.0
#define KV_CFG_MAXARGS 8

/* A parsed function-like value. */
typedef struct {
  char name[32]; /* "gaussian", "sine", ...; "number" for a bare number; "file" for a
                    "path.h5:/dataset" reference                                    */
  int nargs;
  double args[KV_CFG_MAXARGS];
  char path[512];    /* "file": the file path                                            */
  char dataset[256]; /* "file": the dataset path inside the file                         */
} kv_config_func;

/* Read an INI file: rank 0 reads it, the text is broadcast, every rank parses it. Fails with
 * KV_ERR_IO if the file cannot be read, KV_ERR_CONFIG on a syntax error (with line). Collective. */
int kv_config_load(MPI_Comm comm, const char *path, kv_config **out);

/* Parse INI text; name is what messages call the source (a file name). Not collective. */
int kv_config_parse_string(const char *text, const char *name, kv_config **out);

/* Free; NULL is a no-op. */
void kv_config_free(kv_config *cfg);

/* Apply one command-line override "section.key=value" (replaces or adds the key). */
int kv_config_override(kv_config *cfg, const char *assignment);

/* Set a key programmatically (same as an override). */
int kv_config_set(kv_config *cfg, const char *key, const char *value);

/* Set a key on behalf of a program (a sweep): messages and the resolved text name tag (e.g.
 * "sweep case 12") as where the value came from instead of "command line". */
int kv_config_set_tagged(kv_config *cfg, const char *key, const char *value, const char *tag);

/* A deep copy (*out owned by the caller). Not collective. */
int kv_config_clone(const kv_config *cfg, kv_config **out);

/* Drop every key of [section]. */
void kv_config_remove_section(kv_config *cfg, const char *section);

/* Remove key (no-op when absent). */
void kv_config_unset(kv_config *cfg, const char *key);

/* The raw value of key, or NULL if absent. Borrowed. */
const char *kv_config_value(const kv_config *cfg, const char *key);

/* The schema entry of key in tables (NULL-terminated array), or NULL. An entry "section.*" matches
 * any key of the section that no other entry names. */
const kv_config_key *kv_config_key_find(const kv_config_key *const *tables, const char *key);

/* Check every entry against the key tables (a NULL-terminated array of tables), then record the
 * defaults of the keys not given. Returns KV_ERR_CONFIG with a message naming file, line, key and
 * what was expected. Not collective (every rank holds the same text, so all agree). */
int kv_config_validate(kv_config *cfg, const kv_config_key *const *tables);

/* The key of the i-th entry (0, 1, ...; in the order given), NULL past the last. Borrowed. */
const char *kv_config_key_at(const kv_config *cfg, int i);

/* 1 if key was given (in the file, on the command line, or as a recorded default). */
int kv_config_has(const kv_config *cfg, const char *key);

/* 1 if key was set by the user or a program, not a default recorded by validation. */
int kv_config_given(const kv_config *cfg, const char *key);

/* Typed getters. A missing key without default is KV_ERR_CONFIG ("missing key"). The string is
 * borrowed from cfg. Ranges are those of the schema (checked at validation) plus the explicit
 * ones given here (lo > hi: none). */
int kv_config_get_string(const kv_config *cfg, const char *key, const char **out);
int kv_config_get_int(const kv_config *cfg, const char *key, long lo, long hi, long *out);
int kv_config_get_double(const kv_config *cfg, const char *key, double lo, double hi, double *out);
int kv_config_get_bool(const kv_config *cfg, const char *key, int *out);
/* Index of the value in choices "a|b|c". */
int kv_config_get_enum(const kv_config *cfg, const char *key, const char *choices, int *out);
/* Lists: up to max values; *count receives how many. */
int kv_config_get_int_list(const kv_config *cfg, const char *key, long *out, int max, int *count);
int kv_config_get_double_list(const kv_config *cfg, const char *key, double *out, int max,
                              int *count);
int kv_config_get_func(const kv_config *cfg, const char *key, kv_config_func *out);

/* Raise KV_ERR_CONFIG about key: "FILE:LINE: KEY = 'VALUE': expected ..." (or the missing-key
 * form when the key is absent). Returns KV_ERR_CONFIG. */
int kv_config_errorf(const kv_config *cfg, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The resolved configuration as INI text (malloc'd; caller frees). Defaults recorded by
 * validation and command-line overrides are marked with comments. */
int kv_config_to_text(const kv_config *cfg, char **out);

/* Name of the source (file path) given at load/parse time. Borrowed. */
const char *kv_config_source(const kv_config *cfg);

/* Compare two configurations key by key (values as text), except the keys in ignore
 * (NULL-terminated, may be NULL). Returns how many keys differ or exist in one only, and lists
 * them in buf (size n) as "key = <b's value> here, <a's value> in the file; ...". Not
 * collective. */
int kv_config_diff(const kv_config *a, const kv_config *b, const char *const *ignore, char *buf,
                   size_t n);

/* Print a reference of the keys in the tables (key, type, default, doc) to a stream: aligned
 * text, or (markdown) the rows of a table "| key | type | default | meaning |". */
void kv_config_print_reference(const kv_config_key *const *tables, void *stream, int markdown);

#endif

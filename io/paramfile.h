/* kelvin — what an external simulator is given: the parameters file of a case (ini, json, or
 * Dakota's standard format, so an existing Dakota analysis driver runs unchanged) and input
 * files made from templates by substituting {name} placeholders.
 */
#ifndef KV_PARAMFILE_H
#define KV_PARAMFILE_H

#include <stddef.h>

/* The parameters file formats (external.params_format). */
typedef enum { KV_PARAMS_INI = 0, KV_PARAMS_JSON = 1, KV_PARAMS_DAKOTA = 2 } kv_params_format;

/* One case's parameters. Borrowed pointers. */
typedef struct {
  int n;
  const char *const *names; /* the inputs' own names ("x1"), Dakota's descriptors       */
  const char *const *keys;  /* their configuration keys ("external.x1")                  */
  const double *values;     /* NaN for an input whose value is a text                 */
  const char *const *texts; /* every input's value as configured (the text of a text input) */
  int nresp;
  const char *const *responses; /* the response names the simulator must return          */
  long case_id;                 /* the sweep case (Dakota's eval_id is case_id + 1)      */
  long seed;
  const char *workdir;
} kv_paramset;

/* The shortest text that reads back as x exactly (%.15g, %.16g or %.17g) into buf. */
void kv_param_format(double x, char *buf, size_t n);

/* Write the parameters file path in format f (a text input as its text: a JSON string, Dakota's
 * string variable). Not collective. KV_ERR_IO naming the file. */
int kv_paramfile_write(const char *path, int f, const kv_paramset *ps);

/* Make dst from template src: every {name} or {name:spec} whose name is an input's key
 * ({external.x1}), its own name ({x1}), case or seed is replaced by the value, printed with the
 * printf spec (".6e", "10.4f", "d"; default: the shortest exact text; a text input: its text).
 * Braces that do not hold a name (code, dictionaries) are copied as they are; a name that looks
 * like a key of the model
 * ("external.y") but is no input is an error naming the template, line and name; "{{" and "}}"
 * give literal braces. Not collective. */
int kv_template_render(const char *src, const char *dst, const kv_paramset *ps);

#endif

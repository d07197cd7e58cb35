/* Parameters files and templates for external simulators. */
#define _POSIX_C_SOURCE 200809L /* getline */
#include "io/paramfile.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"

void kv_param_format(double x, char *buf, size_t n) {
  for (int prec = 15; prec <= 17; prec++) {
    snprintf(buf, n, "%.*g", prec, x);
    if (strtod(buf, NULL) == x) {
      return;
    }
  }
}

/* A JSON string (names are identifiers, paths may hold anything). */
static void json_str(FILE *f, const char *s) {
  fputc('"', f);
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      fprintf(f, "\\%c", c);
    } else if (c < 0x20) {
      fprintf(f, "\\u%04x", c);
    } else {
      fputc(c, f);
    }
  }
  fputc('"', f);
}

/* Dakota's standard format: "<value> <tag>" lines, values right-aligned in a wide field, in the
 * order variables, functions (active set vector), derivative variables, analysis components,
 * eval_id, metadata. */
static void write_dakota(FILE *f, const kv_paramset *ps) {
  const int w = 36;
  fprintf(f, "%*d variables\n", w, ps->n);
  for (int i = 0; i < ps->n; i++) {
    if (isnan(ps->values[i])) {
      fprintf(f, "%*s %s\n", w, ps->texts[i], ps->names[i]);
    } else {
      fprintf(f, "%*.16e %s\n", w, ps->values[i], ps->names[i]);
    }
  }
  fprintf(f, "%*d functions\n", w, ps->nresp);
  for (int r = 0; r < ps->nresp; r++) {
    fprintf(f, "%*d ASV_%d:%s\n", w, 1, r + 1, ps->responses[r]);
  }
  fprintf(f, "%*d derivative_variables\n", w, ps->n);
  for (int i = 0; i < ps->n; i++) {
    fprintf(f, "%*d DVV_%d:%s\n", w, i + 1, i + 1, ps->names[i]);
  }
  fprintf(f, "%*d analysis_components\n", w, 0);
  fprintf(f, "%*ld eval_id\n", w, ps->case_id + 1);
  fprintf(f, "%*d metadata\n", w, 0);
}

int kv_paramfile_write(const char *path, int fmt, const kv_paramset *ps) {
  FILE *f = fopen(path, "w");
  if (!f) {
    return KV_ERROR(KV_ERR_IO, "cannot write the parameters file '%s': %s", path, strerror(errno));
  }
  char num[64];
  if (fmt == KV_PARAMS_DAKOTA) {
    write_dakota(f, ps);
  } else if (fmt == KV_PARAMS_JSON) {
    fputs("{\n  \"params\": {", f);
    for (int i = 0; i < ps->n; i++) {
      kv_param_format(ps->values[i], num, sizeof num);
      fprintf(f, "%s\n    ", i ? "," : "");
      json_str(f, ps->names[i]);
      fputs(": ", f);
      if (isnan(ps->values[i])) {
        json_str(f, ps->texts[i]);
      } else {
        fputs(num, f);
      }
    }
    fprintf(f, "\n  },\n  \"kelvin\": {\n    \"case\": %ld,\n    \"seed\": %ld,\n    \"workdir\": ",
            ps->case_id, ps->seed);
    json_str(f, ps->workdir ? ps->workdir : ".");
    fputs(",\n    \"responses\": [", f);
    for (int r = 0; r < ps->nresp; r++) {
      fputs(r ? ", " : "", f);
      json_str(f, ps->responses[r]);
    }
    fputs("]\n  }\n}\n", f);
  } else {
    fputs("[params]\n", f);
    for (int i = 0; i < ps->n; i++) {
      kv_param_format(ps->values[i], num, sizeof num);
      fprintf(f, "%s = %s\n", ps->names[i], isnan(ps->values[i]) ? ps->texts[i] : num);
    }
    fprintf(f, "\n[kelvin]\ncase = %ld\nseed = %ld\nworkdir = %s\nresponses = ", ps->case_id,
            ps->seed, ps->workdir ? ps->workdir : ".");
    for (int r = 0; r < ps->nresp; r++) {
      fprintf(f, "%s%s", r ? ", " : "", ps->responses[r]);
    }
    fputc('\n', f);
  }
  int bad = ferror(f);
  if (fclose(f) != 0 || bad) {
    return KV_ERROR(KV_ERR_IO, "cannot write the parameters file '%s': %s", path, strerror(errno));
  }
  return KV_OK;
}

/* The value of placeholder name, or 0 when no input, case or seed is called so. */
static int lookup(const kv_paramset *ps, const char *name, double *x, int *integer,
                  const char **text) {
  *integer = 0;
  *text = NULL;
  for (int i = 0; i < ps->n; i++) {
    if (!strcmp(name, ps->keys[i]) || !strcmp(name, ps->names[i])) {
      *x = ps->values[i];
      *text = isnan(*x) ? ps->texts[i] : NULL;
      return 1;
    }
  }
  if (!strcmp(name, "case") || !strcmp(name, "seed")) {
    *x = (double)(name[0] == 'c' ? ps->case_id : ps->seed);
    *integer = 1;
    return 1;
  }
  return 0;
}

/* A printf spec "[flags][width][.prec][conv]" with conv one of eEfFgGd (default g). */
static int valid_spec(const char *s) {
  s += strspn(s, "-+ #0");
  s += strspn(s, "0123456789");
  if (*s == '.') {
    s++;
    s += strspn(s, "0123456789");
  }
  return *s == '\0' || (strchr("eEfFgGd", *s) && s[1] == '\0');
}

static void put_value(FILE *out, double x, int integer, const char *spec) {
  char fmt[48], num[64];
  size_t l = strlen(spec);
  if (!l) {
    if (integer) {
      fprintf(out, "%ld", (long)x);
    } else {
      kv_param_format(x, num, sizeof num);
      fputs(num, out);
    }
  } else if (spec[l - 1] == 'd') {
    snprintf(fmt, sizeof fmt, "%%%.*sld", (int)(l - 1), spec);
    fprintf(out, fmt, (long)llround(x));
  } else {
    snprintf(fmt, sizeof fmt, "%%%s%s", spec, strchr("eEfFgG", spec[l - 1]) ? "" : "g");
    fprintf(out, fmt, x);
  }
}

int kv_template_render(const char *src, const char *dst, const kv_paramset *ps) {
  FILE *in = fopen(src, "r");
  if (!in) {
    return KV_ERROR(KV_ERR_IO, "cannot read the template '%s': %s", src, strerror(errno));
  }
  FILE *out = fopen(dst, "w");
  if (!out) {
    fclose(in);
    return KV_ERROR(KV_ERR_IO, "cannot write '%s' (from template '%s'): %s", dst, src,
                    strerror(errno));
  }
  char *line = NULL;
  size_t cap = 0;
  long lineno = 0;
  int rc = KV_OK;
  while (rc == KV_OK && getline(&line, &cap, in) >= 0) {
    lineno++;
    for (const char *p = line; *p && rc == KV_OK;) {
      if ((p[0] == '{' && p[1] == '{') || (p[0] == '}' && p[1] == '}')) {
        fputc(*p, out);
        p += 2;
        continue;
      }
      if (*p != '{') {
        fputc(*p++, out);
        continue;
      }
      /* {name} or {name:spec}, name an identifier with dots */
      const char *q = p + 1;
      if (!isalpha((unsigned char)*q) && *q != '_') {
        fputc(*p++, out);
        continue;
      }
      while (isalnum((unsigned char)*q) || *q == '_' || *q == '.') {
        q++;
      }
      char name[128], spec[32] = "";
      const char *end = q;
      if (*q == ':') {
        end = strchr(q, '}');
      }
      if (!end || *end != '}' || (size_t)(q - p - 1) >= sizeof name ||
          (size_t)(end - q) >= sizeof spec) {
        fputc(*p++, out);
        continue;
      }
      snprintf(name, sizeof name, "%.*s", (int)(q - p - 1), p + 1);
      if (*q == ':') {
        snprintf(spec, sizeof spec, "%.*s", (int)(end - q - 1), q + 1);
      }
      double x;
      int integer;
      const char *text;
      if (!lookup(ps, name, &x, &integer, &text)) {
        const char *dot = strchr(name, '.');
        int keyish = dot && ps->n > 0 && !strncmp(name, ps->keys[0], (size_t)(dot - name + 1));
        if (keyish) {
          rc = KV_ERROR(KV_ERR_CONFIG,
                        "%s:%ld: {%s} is not an input of the model (external.inputs); the "
                        "template may use the inputs, case and seed",
                        src, lineno, name);
        } else {
          fputc(*p++, out); /* not ours: copied as it is */
        }
        continue;
      }
      if (!valid_spec(spec)) {
        rc = KV_ERROR(KV_ERR_CONFIG,
                      "%s:%ld: {%s:%s}: expected a printf format such as .6e, 10.4f or d", src,
                      lineno, name, spec);
        continue;
      }
      if (text) {
        fputs(text, out);
      } else {
        put_value(out, x, integer, spec);
      }
      p = end + 1;
    }
  }
  free(line);
  fclose(in);
  int bad = ferror(out);
  if (fclose(out) != 0 || bad) {
    rc = rc != KV_OK ? rc : KV_ERROR(KV_ERR_IO, "cannot write '%s': %s", dst, strerror(errno));
  }
  return rc;
}

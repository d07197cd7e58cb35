/* kelvin — what every surrogate kind's handle starts with (for the kinds' files only; users see
 * the opaque kv_surrogate of surrogate.h). */
#ifndef KV_SURROGATE_IMPL_H
#define KV_SURROGATE_IMPL_H

#include "surrogates/surrogate.h"

struct kv_surrogate {
  const kv_surrogate_type *type;
  int ninputs;
  char **inputs;    /* names (config keys, CSV columns or predictors)            */
  char output[256]; /* the QoI / CSV column, or the field variable               */
  char *config;     /* configuration text that made it (may be NULL)             */
  int has_cv;
  kv_cv_scores cv;   /* cross-validation scores (has_cv)                          */
  char *leaderboard; /* a selection's candidates and scores (may be NULL)         */
  double *box;       /* 2 x ninputs: the training inputs' min then max (may be NULL) */
};

/* A kind's new handle: size bytes (its struct, which starts with kv_surrogate), zeroed, with the
 * header filled as kv_surrogate_header_init does. Freed by the kind's free. Not collective. */
int kv_surrogate_alloc(const kv_surrogate_type *t, size_t size, int ninputs, char *const *inputs,
                       const char *output, kv_surrogate **out);

/* Fill the header of a kind's new handle (inputs and output copied). Not collective. */
int kv_surrogate_header_init(kv_surrogate *s, const kv_surrogate_type *t, int ninputs,
                             char *const *inputs, const char *output);

/* Free what the header owns (not s itself). */
void kv_surrogate_header_free(kv_surrogate *s);

#endif

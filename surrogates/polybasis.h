/* kelvin — polynomial bases in d inputs: the terms of a response surface (poly), the trend of
 * universal kriging (gp) and the tail of radial-basis interpolation (rbf).
 *
 * Inputs are mapped to [-1, 1] by the range of the training data, and each term is a product of
 * Legendre polynomials P_k(u_j) (the same space as monomials, far better conditioned). The terms
 * are those of total degree <= degree, optionally with every input of degree <= 1 in each term
 * (interaction only) and a degree limit per input; ordered by total degree, the constant first.
 * Not collective; evaluation allocates nothing.
 */
#ifndef KV_POLYBASIS_H
#define KV_POLYBASIS_H

#include "io/h5.h"

typedef struct {
  int d, degree, nterms;
  int *pow;            /* nterms x d: the degree of each input in each term */
  double *off, *scale; /* d: u = (x - off) / scale                          */
} kv_polybasis;

/* The terms for d inputs of total degree <= degree; interaction: no input above degree 1 in a
 * term; per_input (d values, may be NULL; < 0 is no limit): each input's own limit. The map to
 * [-1, 1] from lo and hi (d each). KV_ERR_INVALID for a degree < 0, or over 10000 terms. */
int kv_polybasis_create(int d, int degree, int interaction, const int *per_input, const double *lo,
                        const double *hi, kv_polybasis *b);

/* Free what create allocated (NULL or a zeroed basis is a no-op). */
void kv_polybasis_free(kv_polybasis *b);

/* The number of terms of total degree <= degree in d inputs, C(d + degree, d) (no limits). */
long kv_polybasis_count(int d, int degree);

/* The m x nterms design (row-major) of the m points X (m x d, row-major, raw units). */
void kv_polybasis_eval(const kv_polybasis *b, long m, const double *X, double *Phi);

/* Save under grp (pow, off, scale, degree) / load back. */
int kv_polybasis_save(const kv_polybasis *b, kv_h5_store *h, const char *grp);
int kv_polybasis_load(kv_h5_store *h, const char *path, const char *grp, kv_polybasis *b);

/* Each term as text ("1", "a", "a*b", "a^2*c") named by names, at most n bytes per call. */
void kv_polybasis_term(const kv_polybasis *b, int t, char *const *names, char *buf, unsigned n);

#endif

/* kelvin — output transforms for skewed, positive responses: log and Box-Cox. A surrogate is
 * fitted to z = T(y); a Gaussian prediction N(mu, s2) of z is a prediction of y with median
 * T^-1(mu), central interval T^-1(mu -+ q s) (T is monotone) and mean and variance E[T^-1(Z)],
 * Var[T^-1(Z)]: closed form for log (lognormal), Gauss-Hermite quadrature (GSL, 40 nodes) for
 * Box-Cox. The Box-Cox lambda maximises the profile log-likelihood of the normal model,
 *   l(lambda) = -n/2 log var(z(lambda)) + (lambda - 1) sum log y,
 * as scipy.stats.boxcox does. Not collective; nothing allocated.
 */
#ifndef KV_TRANSFORM_H
#define KV_TRANSFORM_H

typedef enum {
  KV_TRANSFORM_NONE = 0,
  KV_TRANSFORM_LOG = 1,
  KV_TRANSFORM_BOXCOX = 2
} kv_transform_kind;

/* The surrogate.transform choices, in kv_transform_kind order. */
#define KV_TRANSFORM_CHOICES "none|log|boxcox"

typedef struct {
  int kind;
  double lambda; /* Box-Cox                                                        */
} kv_transform;

/* Choose the transform's parameters for the n outputs y. Log and Box-Cox need y > 0: otherwise
 * KV_ERR_INVALID naming the first row that is not. */
int kv_transform_fit(int kind, long n, const double *y, kv_transform *t);

/* z = T(y) for n values (in place allowed). */
void kv_transform_apply(const kv_transform *t, long n, const double *y, double *z);

/* y = T^-1(z). */
double kv_transform_inverse(const kv_transform *t, double z);

/* The mean and variance of T^-1(Z) for Z ~ N(mu, s2). */
void kv_transform_moments(const kv_transform *t, double mu, double s2, double *mean, double *var);

/* The name of a kind ("none", "log", "boxcox"). */
const char *kv_transform_name(int kind);

#endif

/* kelvin — bound-constrained quasi-Newton minimisation (projected L-BFGS with Armijo
 * backtracking), for smooth objectives of a few dozen variables: GP hyperparameters, RBF shape
 * parameters. Not collective.
 */
#ifndef KV_BFGS_H
#define KV_BFGS_H

/* The objective at x and its gradient (p values) into grad; +inf where it is not defined. */
typedef double (*kv_bfgs_fn)(void *ctx, const double *x, double *grad);

/* Minimise fn over the box [lo, hi] (p variables) from x (moved into the box), at most maxit
 * iterations; x gets the minimiser found and *fout its value (+inf when fn is not finite at the
 * start). Stops like L-BFGS-B: projected gradient below 1e-5 or relative decrease below 1e7
 * machine epsilons. KV_ERR_NOMEM only. */
int kv_bfgs_minimize(int p, kv_bfgs_fn fn, void *ctx, const double *lo, const double *hi, double *x,
                     int maxit, double *fout);

/* The same problem and stopping rule solved by NLopt's bounded L-BFGS (NLOPT_LD_LBFGS, relative
 * objective tolerance 1e7 machine epsilons, at most 10 maxit evaluations); x gets the best point
 * NLopt evaluated. For the comparison of bench/gp_optimizer.sh (surrogate.optimizer = nlopt).
 * KV_ERR_NOMEM only. */
int kv_bfgs_minimize_nlopt(int p, kv_bfgs_fn fn, void *ctx, const double *lo, const double *hi,
                           double *x, int maxit, double *fout);

#endif

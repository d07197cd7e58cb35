/* A C program on kelvin's public headers: fit a Gaussian process to a smooth function of two
 * inputs, predict where it was not trained, and, given a model file made by `kelvin fit`, load it
 * and predict at the inputs named on the command line.
 *
 *   cc gp_predict.c $(pkg-config --cflags --libs kelvin) -o gp_predict
 *   ./gp_predict                      # fit + predict; exit 1 if the GP misses the function
 *   ./gp_predict MODEL.h5 0.3 0.2 ... # predict with a kelvin model: prints "mean std"
 */
#include <kelvin/kelvin.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

static double f(double a, double b) {
  return sin(3.0 * a) + b * b;
}

static int predict_with_model(const char *path, int argc, char **argv) {
  kv_surrogate *s = NULL;
  if (kv_surrogate_load(path, &s) != KV_OK) {
    fprintf(stderr, "gp_predict: %s\n", kv_error_message());
    return 2;
  }
  int d = kv_surrogate_ninputs(s);
  if (argc != d) {
    fprintf(stderr, "gp_predict: %s has %d inputs, %d values given\n", path, d, argc);
    kv_surrogate_free(s);
    return 2;
  }
  double x[64], mean, var;
  for (int k = 0; k < d && k < 64; k++) {
    x[k] = atof(argv[k]);
  }
  int rc = kv_surrogate_predict(s, 1, x, &mean, &var);
  if (rc == KV_OK) {
    printf("%.10g %.10g\n", mean, sqrt(var));
  }
  kv_surrogate_free(s);
  return rc == KV_OK ? 0 : 3;
}

int main(int argc, char **argv) {
  if (argc > 1) {
    return predict_with_model(argv[1], argc - 2, argv + 2);
  }
  enum { N = 40, M = 5 };
  double X[2 * N], y[N];
  for (int i = 0; i < N; i++) { /* a scrambled lattice on the unit square */
    X[2 * i] = fmod(0.5 + i * 0.618033988749895, 1.0);
    X[2 * i + 1] = (i + 0.5) / N;
    y[i] = f(X[2 * i], X[2 * i + 1]);
  }
  kv_gp_options o;
  kv_gp_options_default(&o);
  kv_gp *g = NULL;
  if (kv_gp_create(N, 2, X, y, &o, &g) != KV_OK || kv_gp_fit(g) != KV_OK) {
    fprintf(stderr, "gp_predict: %s\n", kv_error_message());
    kv_gp_free(g);
    return 3;
  }
  double Xs[2 * M], mean[M], var[M], worst = 0.0;
  for (int i = 0; i < M; i++) {
    Xs[2 * i] = 0.1 + 0.2 * i;
    Xs[2 * i + 1] = 0.9 - 0.2 * i;
  }
  kv_gp_predict(g, M, Xs, mean, var, 1);
  for (int i = 0; i < M; i++) {
    double err = fabs(mean[i] - f(Xs[2 * i], Xs[2 * i + 1]));
    worst = err > worst ? err : worst;
    printf("x = (%.2f, %.2f)  mean %.6f  std %.2e  true %.6f\n", Xs[2 * i], Xs[2 * i + 1], mean[i],
           sqrt(var[i]), f(Xs[2 * i], Xs[2 * i + 1]));
  }
  printf("largest error %.2e (kelvin %s)\n", worst, KV_VERSION);
  kv_gp_free(g);
  return worst < 1e-2 ? 0 : 1;
}

#include "numerics/pod.h"
#include "core/comm.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "core/status.h"
#include "io/h5.h"

struct kv_pod {
  MPI_Comm comm;
  long nloc;
  int k;
  double *U;     /* nloc x k, column-major */
  double *sigma; /* k                      */
};

void kv_pod_free(kv_pod *p) {
  if (!p) {
    return;
  }
  kv_comm_free(&p->comm);
  free(p->U);
  free(p->sigma);
  free(p);
}

int kv_pod_nmodes(const kv_pod *p) {
  return p->k;
}
long kv_pod_nloc(const kv_pod *p) {
  return p->nloc;
}
const double *kv_pod_sigma(const kv_pod *p) {
  return p->sigma;
}
const double *kv_pod_modes(const kv_pod *p) {
  return p->U;
}

static int pod_new(MPI_Comm comm, long nloc, kv_pod **out) {
  kv_pod *p = calloc(1, sizeof *p);
  if (!p) {
    return KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
  }
  p->comm = MPI_COMM_NULL;
  if (kv_comm_dup(comm, &p->comm) != KV_OK) {
    free(p);
    return KV_ERROR(KV_ERR_MPI, "pod: cannot duplicate the communicator");
  }
  p->nloc = nloc;
  *out = p;
  return KV_OK;
}

/* One Cholesky-QR pass, U <- U R^-1 with R^T R = U^T U: the method of snapshots leaves the modes
 * orthogonal only to eps (sigma_max / sigma_min)^2; after it they are to round-off. */
static int reorthonormalize(kv_pod *p) {
  int k = p->k;
  if (k == 0) {
    return KV_OK;
  }
  double *G = calloc((size_t)k * k, sizeof *G);
  if (!G) {
    return KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
  }
  if (p->nloc > 0) {
    cblas_dgemm(CblasColMajor, CblasTrans, CblasNoTrans, k, k, (int)p->nloc, 1.0, p->U,
                (int)p->nloc, p->U, (int)p->nloc, 0.0, G, k);
  }
  int rc = kv_comm_allreduce(MPI_IN_PLACE, G, k * k, MPI_DOUBLE, MPI_SUM, p->comm) == MPI_SUCCESS
               ? KV_OK
               : KV_ERROR(KV_ERR_MPI, "pod: reduction failed");
  if (rc == KV_OK && LAPACKE_dpotrf(LAPACK_COL_MAJOR, 'U', k, G, k) != 0) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "pod: the modes are not independent");
  }
  if (rc == KV_OK && p->nloc > 0) {
    cblas_dtrsm(CblasColMajor, CblasRight, CblasUpper, CblasNoTrans, CblasNonUnit, (int)p->nloc, k,
                1.0, G, k, p->U, (int)p->nloc);
  }
  free(G);
  return rc;
}

void kv_pod_options_default(kv_pod_options *o) {
  o->energy = 1.0;
  o->max_modes = 0;
  o->floor = 1e-12;
  o->add_tol = 1e-10;
}

int kv_pod_compute(MPI_Comm comm, long nloc, int m, const double *S, const kv_pod_options *opt,
                   kv_pod **out) {
  *out = NULL;
  kv_pod_options o;
  if (opt) {
    o = *opt;
  } else {
    kv_pod_options_default(&o);
  }
  double energy = o.energy;
  int max_modes = o.max_modes;
  if (m < 1) {
    return KV_ERROR(KV_ERR_INVALID, "pod: no snapshots");
  }
  int size, rank;
  size = kv_comm_size(comm);
  rank = kv_comm_rank(comm);
  /* TSQR: S_i = Q_i R_i on each rank, the R_i stacked on every rank, B = [R_1; ...] = U_B
   * Sigma W^T, modes U_i = Q_i U_B,i. Unlike the Gram matrix this does not square the condition
   * number: singular values down to round-off times sigma_max come out accurately. */
  int ri = (int)(nloc < m ? nloc : m);
  int *cnt = malloc((size_t)size * sizeof *cnt), *dsp = malloc((size_t)size * sizeof *dsp);
  double *Q = malloc(((size_t)nloc * m + 1) * sizeof *Q),
         *R = calloc((size_t)ri * m + 1, sizeof *R), *tau = malloc(((size_t)m + 1) * sizeof *tau);
  int rc = cnt && dsp && Q && R && tau ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
  if (rc == KV_OK && nloc > 0) {
    memcpy(Q, S, (size_t)nloc * m * sizeof *Q);
    if (LAPACKE_dgeqrf(LAPACK_COL_MAJOR, (int)nloc, m, Q, (int)nloc, tau) != 0) {
      rc = KV_ERROR(KV_ERR_NUMERIC, "pod: QR of the local snapshots failed");
    }
    for (int j = 0; rc == KV_OK && j < m; j++) {
      for (int i = 0; i <= j && i < ri; i++) {
        R[(size_t)j * ri + i] = Q[(size_t)j * nloc + i];
      }
    }
    if (rc == KV_OK &&
        LAPACKE_dorgqr(LAPACK_COL_MAJOR, (int)nloc, ri, ri, Q, (int)nloc, tau) != 0) {
      rc = KV_ERROR(KV_ERR_NUMERIC, "pod: forming the local Q failed");
    }
  }
  rc = kv_status_agree(comm, rc);
  int total = 0;
  if (rc == KV_OK) {
    kv_comm_allgather(&ri, 1, MPI_INT, cnt, comm);
    for (int r = 0; r < size; r++) {
      dsp[r] = total;
      total += cnt[r];
    }
  }
  double *B = NULL, *sv = NULL, *UB = NULL, *sup = NULL;
  if (rc == KV_OK) {
    B = malloc(((size_t)total * m + 1) * sizeof *B);
    sv = malloc(((size_t)m + 1) * sizeof *sv);
    UB = malloc(((size_t)total * (total < m ? total : m) + 1) * sizeof *UB);
    sup = malloc(((size_t)m + 1) * sizeof *sup);
    if (!B || !sv || !UB || !sup) {
      rc = KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
    }
  }
  rc = kv_status_agree(comm, rc);
  /* Stack column by column: B(dsp[r] + i, j) = R_r(i, j). */
  for (int j = 0; rc == KV_OK && j < m; j++) {
    if (kv_comm_allgatherv(R + (size_t)j * ri, ri, MPI_DOUBLE, B + (size_t)j * total, cnt, dsp,
                           comm) != KV_OK) {
      rc = KV_ERROR(KV_ERR_MPI, "pod: gathering the R factors failed");
    }
  }
  int mn = total < m ? total : m;
  if (rc == KV_OK && LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'S', 'N', total, m, B, total, sv, UB, total,
                                    NULL, 1, sup) != 0) {
    rc = KV_ERROR(KV_ERR_NUMERIC, "pod: the SVD of the stacked R factors did not converge");
  }
  kv_pod *p = NULL;
  if (rc == KV_OK) {
    rc = pod_new(comm, nloc, &p);
  }
  if (rc == KV_OK) {
    double tot = 0.0, cum = 0.0, top = mn > 0 ? sv[0] : 0.0;
    for (int j = 0; j < mn; j++) {
      tot += sv[j] * sv[j];
    }
    int k = 0;
    /* Descending; stop at round-off, at the energy, or at max_modes. */
    while (k < mn && sv[k] > o.floor * top && (max_modes <= 0 || k < max_modes) &&
           (k == 0 || energy >= 1.0 || cum < energy * tot)) {
      cum += sv[k] * sv[k];
      k++;
    }
    if (!(top > 0.0)) {
      k = 0;
    }
    p->k = k;
    p->sigma = malloc(((size_t)k + 1) * sizeof *p->sigma);
    p->U = malloc(((size_t)nloc * (size_t)k + 1) * sizeof *p->U);
    if (!p->sigma || !p->U) {
      rc = KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
    }
    if (rc == KV_OK) {
      memcpy(p->sigma, sv, (size_t)k * sizeof *sv);
      if (nloc > 0 && k > 0) {
        cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)nloc, k, ri, 1.0, Q, (int)nloc,
                    UB + dsp[rank], total, 0.0, p->U, (int)nloc);
      }
    }
  }
  free(cnt);
  free(dsp);
  free(Q);
  free(R);
  free(tau);
  free(B);
  free(sv);
  free(UB);
  free(sup);
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    kv_pod_free(p);
    return rc;
  }
  *out = p;
  return KV_OK;
}

int kv_pod_project(const kv_pod *p, const double *x, double *a) {
  int k = p->k;
  if (k == 0) {
    return KV_OK;
  }
  if (p->nloc > 0) {
    cblas_dgemv(CblasColMajor, CblasTrans, (int)p->nloc, k, 1.0, p->U, (int)p->nloc, x, 1, 0.0, a,
                1);
  } else {
    memset(a, 0, (size_t)k * sizeof *a);
  }
  if (kv_comm_allreduce(MPI_IN_PLACE, a, k, MPI_DOUBLE, MPI_SUM, p->comm) != MPI_SUCCESS) {
    return KV_ERROR(KV_ERR_MPI, "pod: reduction failed");
  }
  return KV_OK;
}

static double dist_norm(MPI_Comm comm, long n, const double *x) {
  double s = n > 0 ? cblas_ddot((int)n, x, 1, x, 1) : 0.0;
  kv_comm_allreduce(MPI_IN_PLACE, &s, 1, MPI_DOUBLE, MPI_SUM, comm);
  return sqrt(s);
}

int kv_pod_add(kv_pod *p, const double *snap, const kv_pod_options *opt) {
  kv_pod_options o;
  if (opt) {
    o = *opt;
  } else {
    kv_pod_options_default(&o);
  }
  double tol = o.add_tol;
  int max_modes = o.max_modes;
  long n = p->nloc;
  int k = p->k;
  double *a = calloc((size_t)k + 2, sizeof *a), *b = calloc((size_t)k + 2, sizeof *b);
  double *r = malloc(((size_t)n + 1) * sizeof *r);
  int rc = a && b && r ? KV_OK : KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
  double snorm = 0.0, rho = 0.0;
  if (rc == KV_OK) {
    if (n > 0) {
      memcpy(r, snap, (size_t)n * sizeof *r);
    }
    snorm = dist_norm(p->comm, n, snap);
    /* Two Gram-Schmidt passes keep the modes orthogonal to round-off. */
    for (int pass = 0; pass < 2 && rc == KV_OK; pass++) {
      rc = kv_pod_project(p, r, b);
      for (int i = 0; i < k; i++) {
        a[i] += b[i];
      }
      if (rc == KV_OK && n > 0 && k > 0) {
        cblas_dgemv(CblasColMajor, CblasNoTrans, (int)n, k, -1.0, p->U, (int)n, b, 1, 1.0, r, 1);
      }
    }
    rho = dist_norm(p->comm, n, r);
  }
  int grow = rc == KV_OK && rho > tol * snorm && rho > 0.0;
  int kk = k + grow;
  /* The core: [diag(sigma) a; 0 rho] ((k + grow) x (k + 1)), its SVD rotates the modes. */
  double *K = calloc((size_t)kk * (size_t)(k + 1) + 1, sizeof *K);
  double *sv = malloc(((size_t)k + 2) * sizeof *sv),
         *Uc = malloc(((size_t)kk * kk + 1) * sizeof *Uc);
  double *Vt = malloc(((size_t)(k + 1) * (k + 1) + 1) * sizeof *Vt),
         *sup = malloc(((size_t)k + 2) * sizeof *sup);
  double *Un = malloc(((size_t)n * kk + 1) * sizeof *Un);
  if (rc == KV_OK && (!K || !sv || !Uc || !Vt || !sup || !Un)) {
    rc = KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
  }
  if (rc == KV_OK) {
    for (int i = 0; i < k; i++) {
      K[(size_t)i * kk + i] = p->sigma[i]; /* column i      */
    }
    for (int i = 0; i < k; i++) {
      K[(size_t)k * kk + i] = a[i]; /* last column   */
    }
    if (grow) {
      K[(size_t)k * kk + k] = rho;
    }
    int nsv = kk < k + 1 ? kk : k + 1;
    if (LAPACKE_dgesvd(LAPACK_COL_MAJOR, 'A', 'N', kk, k + 1, K, kk, sv, Uc, kk, Vt, k + 1, sup) !=
        0) {
      rc = KV_ERROR(KV_ERR_NUMERIC, "pod: the SVD of the update core failed");
    }
    if (rc == KV_OK) {
      /* New modes [U q] Uc: q = r / rho when the basis grows. */
      if (grow && n > 0) {
        for (long i = 0; i < n; i++) {
          r[i] /= rho;
        }
      }
      /* Singular values at round-off (a snapshot already in the span) are dropped. */
      int keep = 0;
      while (keep < nsv && sv[keep] > o.floor * sv[0]) {
        keep++;
      }
      if (max_modes > 0 && keep > max_modes) {
        keep = max_modes;
      }
      /* One product, not k^2 vector updates: the rotation is memory-bound otherwise. */
      if (n > 0 && keep > 0) {
        if (k > 0) {
          cblas_dgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, (int)n, keep, k, 1.0, p->U, (int)n,
                      Uc, kk, 0.0, Un, (int)n);
        } else {
          memset(Un, 0, (size_t)n * keep * sizeof *Un);
        }
        if (grow) {
          cblas_dger(CblasColMajor, (int)n, keep, 1.0, r, 1, Uc + k, kk, Un, (int)n);
        }
      }
      free(p->U);
      p->U = Un;
      Un = NULL;
      double *ns = realloc(p->sigma, ((size_t)keep + 1) * sizeof *ns);
      if (ns) {
        p->sigma = ns;
        memcpy(p->sigma, sv, (size_t)keep * sizeof *sv);
      }
      p->k = keep;
      rc = reorthonormalize(p);
    }
  }
  free(a);
  free(b);
  free(r);
  free(K);
  free(sv);
  free(Uc);
  free(Vt);
  free(sup);
  free(Un);
  return kv_status_agree(p->comm, rc);
}

/* ------------------------------------------------------------------ files */

int kv_pod_save(const kv_pod *p, const char *path) {
  int rank, size;
  rank = kv_comm_rank(p->comm);
  size = kv_comm_size(p->comm);
  int nl = (int)p->nloc, *counts = NULL, *displs = NULL;
  long n = 0;
  if (rank == 0) {
    counts = malloc((size_t)size * sizeof *counts);
    displs = malloc((size_t)size * sizeof *displs);
  }
  kv_comm_gather(&nl, 1, MPI_INT, counts, 0, p->comm);
  if (rank == 0) {
    for (int r = 0; r < size; r++) {
      displs[r] = (int)n;
      n += counts[r];
    }
  }
  double *all = rank == 0 ? malloc(((size_t)n * (size_t)p->k + 1) * sizeof *all) : NULL;
  for (int j = 0; j < p->k; j++) {
    kv_comm_gatherv(p->U + (size_t)j * p->nloc, nl, MPI_DOUBLE,
                    rank == 0 ? all + (size_t)j * n : NULL, counts, displs, 0, p->comm);
  }
  int rc = KV_OK;
  if (rank == 0) {
    kv_h5_store *h = NULL;
    long dims[2] = {p->k, n}, k = p->k;
    rc = kv_h5_store_create(path, &h);
    if (rc == KV_OK) {
      rc = kv_h5_store_put(h, "/pod/modes", 2, dims, all);
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_put(h, "/pod/sigma", 1, &k, p->sigma);
    }
    if (rc == KV_OK) {
      rc = kv_h5_store_put_text(h, "/pod", "long_name",
                                "POD modes (one per row, orthonormal) and singular values");
    }
    if (h) {
      int rc2 = kv_h5_store_close(h, rc == KV_OK);
      if (rc == KV_OK) {
        rc = rc2;
      }
    }
  }
  free(all);
  free(counts);
  free(displs);
  return kv_status_agree(p->comm, rc);
}

int kv_pod_load(MPI_Comm comm, const char *path, long nloc, kv_pod **out) {
  *out = NULL;
  int rank, size;
  rank = kv_comm_rank(comm);
  size = kv_comm_size(comm);
  int nl = (int)nloc, *counts = NULL, *displs = NULL;
  long n = 0, hdr[2] = {0, 0};
  kv_h5_array modes = {0}, sigma = {0};
  int rc = KV_OK;
  if (rank == 0) {
    counts = malloc((size_t)size * sizeof *counts);
    displs = malloc((size_t)size * sizeof *displs);
  }
  kv_comm_gather(&nl, 1, MPI_INT, counts, 0, comm);
  if (rank == 0) {
    for (int r = 0; r < size; r++) {
      displs[r] = (int)n;
      n += counts[r];
    }
    rc = kv_h5_read_array(path, "/pod/modes", &modes);
    if (rc == KV_OK) {
      rc = kv_h5_read_array(path, "/pod/sigma", &sigma);
    }
    if (rc == KV_OK && (modes.rank != 2 || modes.dims[1] != n || sigma.count != modes.dims[0])) {
      rc = KV_ERROR(KV_ERR_FORMAT,
                    "'%s': the basis has %ld points per mode, this grid %ld: a "
                    "basis from another grid",
                    path, modes.rank == 2 ? modes.dims[1] : -1, n);
    }
    if (rc == KV_OK) {
      hdr[0] = modes.dims[0];
      hdr[1] = 1;
    }
  }
  rc = kv_status_agree(comm, rc);
  kv_pod *p = NULL;
  if (rc == KV_OK) {
    kv_comm_bcast(hdr, 2, MPI_LONG, 0, comm);
    rc = pod_new(comm, nloc, &p);
  }
  if (rc == KV_OK) {
    p->k = (int)hdr[0];
    p->U = malloc(((size_t)nloc * (size_t)p->k + 1) * sizeof *p->U);
    p->sigma = malloc(((size_t)p->k + 1) * sizeof *p->sigma);
    if (rank == 0) {
      memcpy(p->sigma, sigma.data, (size_t)p->k * sizeof *p->sigma);
    }
    kv_comm_bcast(p->sigma, p->k, MPI_DOUBLE, 0, comm);
    for (int j = 0; j < p->k; j++) {
      kv_comm_scatterv(rank == 0 ? modes.data + (size_t)j * n : NULL, counts, displs, MPI_DOUBLE,
                       p->U + (size_t)j * nloc, nl, 0, comm);
    }
  }
  kv_h5_array_free(&modes);
  kv_h5_array_free(&sigma);
  free(counts);
  free(displs);
  if (rc != KV_OK) {
    kv_pod_free(p);
    return rc;
  }
  *out = p;
  return KV_OK;
}

int kv_pod_adopt(MPI_Comm comm, long nloc, int k, double *U, const double *sigma, kv_pod **out) {
  *out = NULL;
  kv_pod *p = NULL;
  int rc = pod_new(comm, nloc, &p);
  if (rc == KV_OK) {
    p->k = k;
    p->U = U; /* taken over: a large basis is not copied */
    U = NULL;
    p->sigma = malloc(((size_t)k + 1) * sizeof *p->sigma);
    if (!p->sigma) {
      rc = KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
    } else {
      memcpy(p->sigma, sigma, (size_t)k * sizeof *sigma);
    }
  }
  free(U);
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    kv_pod_free(p);
    return rc;
  }
  *out = p;
  return KV_OK;
}

int kv_pod_wrap(MPI_Comm comm, long nloc, int k, const double *U, const double *sigma,
                kv_pod **out) {
  *out = NULL;
  kv_pod *p = NULL;
  int rc = pod_new(comm, nloc, &p);
  if (rc == KV_OK) {
    p->k = k;
    p->U = malloc(((size_t)nloc * (size_t)k + 1) * sizeof *p->U);
    p->sigma = malloc(((size_t)k + 1) * sizeof *p->sigma);
    if (!p->U || !p->sigma) {
      rc = KV_ERROR(KV_ERR_NOMEM, "pod: out of memory");
    } else {
      memcpy(p->U, U, (size_t)nloc * (size_t)k * sizeof *U);
      memcpy(p->sigma, sigma, (size_t)k * sizeof *sigma);
    }
  }
  rc = kv_status_agree(comm, rc);
  if (rc != KV_OK) {
    kv_pod_free(p);
    return rc;
  }
  *out = p;
  return KV_OK;
}

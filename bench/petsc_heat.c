/* PETSc peer for bench/heat_implicit.sh: backward-Euler steps of the heat equation on the same
 * cell-centred grid as kelvin (unit box, Dirichlet 0 on every face with the ghost rule
 * T_g = -T_in, constant kappa), the operator I - dt kappa L assembled into a DMDA matrix and
 * solved by KSP with whatever -ksp_type / -pc_type / -ksp_rtol the command line gives. Prints the
 * mean wall time of the steps after the first (the first includes preconditioner setup) and the
 * mean iteration count.
 *
 *   mpirun -n P bench/petsc_heat -n 1024 -dim 2 -steps 10 -dt 1e-3 -ksp_type cg -pc_type gamg
 */
#include <petscdmda.h>
#include <petscksp.h>

int main(int argc, char **argv) {
  PetscInt n = 256, dim = 2, steps = 10;
  PetscReal dt = 1e-3, kappa = 1.0;
  PetscCall(PetscInitialize(&argc, &argv, NULL, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-n", &n, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-dim", &dim, NULL));
  PetscCall(PetscOptionsGetInt(NULL, NULL, "-steps", &steps, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-dt", &dt, NULL));
  PetscCall(PetscOptionsGetReal(NULL, NULL, "-kappa", &kappa, NULL));
  DM da;
  if (dim == 2) {
    PetscCall(DMDACreate2d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DMDA_STENCIL_STAR,
                           n, n, PETSC_DECIDE, PETSC_DECIDE, 1, 1, NULL, NULL, &da));
  } else {
    PetscCall(DMDACreate3d(PETSC_COMM_WORLD, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE, DM_BOUNDARY_NONE,
                           DMDA_STENCIL_STAR, n, n, n, PETSC_DECIDE, PETSC_DECIDE, PETSC_DECIDE, 1,
                           1, NULL, NULL, NULL, &da));
  }
  PetscCall(DMSetFromOptions(da));
  PetscCall(DMSetUp(da));
  Mat A;
  PetscCall(DMCreateMatrix(da, &A));
  PetscReal h = 1.0 / (PetscReal)n, c = dt * kappa / (h * h);
  PetscInt xs, ys, zs, xm, ym, zm;
  PetscCall(DMDAGetCorners(da, &xs, &ys, &zs, &xm, &ym, &zm));
  if (dim == 2) {
    zs = 0;
    zm = 1;
  }
  for (PetscInt k = zs; k < zs + zm; k++)
    for (PetscInt j = ys; j < ys + ym; j++)
      for (PetscInt i = xs; i < xs + xm; i++) {
        MatStencil row = {.k = k, .j = j, .i = i}, col[7];
        PetscScalar v[7];
        PetscInt nc = 0, idx[3] = {i, j, k};
        PetscReal diag = 1.0;
        for (PetscInt d = 0; d < dim; d++) {
          for (PetscInt s = -1; s <= 1; s += 2) {
            PetscInt m = idx[d] + s;
            if (m < 0 || m >= n) {
              diag += 2.0 * c; /* Dirichlet face: ghost -T, half-cell distance */
            } else {
              diag += c;
              col[nc] = row;
              if (d == 0) col[nc].i = m;
              if (d == 1) col[nc].j = m;
              if (d == 2) col[nc].k = m;
              v[nc++] = -c;
            }
          }
        }
        col[nc] = row;
        v[nc++] = diag;
        PetscCall(MatSetValuesStencil(A, 1, &row, nc, col, v, INSERT_VALUES));
      }
  PetscCall(MatAssemblyBegin(A, MAT_FINAL_ASSEMBLY));
  PetscCall(MatAssemblyEnd(A, MAT_FINAL_ASSEMBLY));
  Vec T, rhs;
  PetscCall(DMCreateGlobalVector(da, &T));
  PetscCall(VecDuplicate(T, &rhs));
  /* T0 = prod sin(pi x_d) at the cell centres, as kelvin's sine(1, 1[, 1]). */
  if (dim == 2) {
    PetscScalar **t;
    PetscCall(DMDAVecGetArray(da, T, &t));
    for (PetscInt j = ys; j < ys + ym; j++)
      for (PetscInt i = xs; i < xs + xm; i++)
        t[j][i] = PetscSinReal(PETSC_PI * (i + 0.5) * h) * PetscSinReal(PETSC_PI * (j + 0.5) * h);
    PetscCall(DMDAVecRestoreArray(da, T, &t));
  } else {
    PetscScalar ***t;
    PetscCall(DMDAVecGetArray(da, T, &t));
    for (PetscInt k = zs; k < zs + zm; k++)
      for (PetscInt j = ys; j < ys + ym; j++)
        for (PetscInt i = xs; i < xs + xm; i++)
          t[k][j][i] = PetscSinReal(PETSC_PI * (i + 0.5) * h) *
                       PetscSinReal(PETSC_PI * (j + 0.5) * h) * PetscSinReal(PETSC_PI * (k + 0.5) * h);
    PetscCall(DMDAVecRestoreArray(da, T, &t));
  }
  KSP ksp;
  PetscCall(KSPCreate(PETSC_COMM_WORLD, &ksp));
  PetscCall(KSPSetOperators(ksp, A, A));
  PetscCall(KSPSetType(ksp, KSPCG));
  PetscCall(KSPSetTolerances(ksp, 1e-8, PETSC_DEFAULT, PETSC_DEFAULT, 10000));
  PetscCall(KSPSetInitialGuessNonzero(ksp, PETSC_TRUE));
  PetscCall(KSPSetFromOptions(ksp));
  PetscReal t_steps = 0.0;
  PetscInt its_total = 0;
  for (PetscInt s = 0; s < steps; s++) {
    PetscCall(VecCopy(T, rhs));
    PetscReal t0 = MPI_Wtime();
    PetscCall(KSPSolve(ksp, rhs, T));
    PetscReal t1 = MPI_Wtime();
    PetscInt its;
    PetscCall(KSPGetIterationNumber(ksp, &its));
    if (s > 0) {
      t_steps += t1 - t0;
      its_total += its;
    }
  }
  PetscReal mx;
  PetscCall(VecMax(T, NULL, &mx));
  PetscCall(PetscPrintf(PETSC_COMM_WORLD, "petsc_step_s %.6e its %.1f max %.10e\n",
                        (double)(t_steps / (steps - 1)), (double)its_total / (steps - 1), (double)mx));
  PetscCall(KSPDestroy(&ksp));
  PetscCall(VecDestroy(&T));
  PetscCall(VecDestroy(&rhs));
  PetscCall(MatDestroy(&A));
  PetscCall(DMDestroy(&da));
  PetscCall(PetscFinalize());
  return 0;
}

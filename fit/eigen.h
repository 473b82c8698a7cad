/*
** fit/eigen.h - the symmetric eigendecomposition the polynomial family solves ridge with, by
** LAPACK's divide-and-conquer dsyevd from OpenBLAS (already linked for GSL's CBLAS calls).
** Internal to fit/.
**
** Why not gsl_eigen_symmv: on the 100-300-term Gram matrices of a calibration it took most of
** the polynomial family's time.  dsyevd with OpenBLAS's blocked kernels, one thread, best of 5
** on random symmetric matrices: 1.6x faster at n = 100, 2.8x at 231, 4.2x at 400; the whole
** polynomial family on a 2361-sample calibration went from 4.7 s to 1.5 s (bench-fit --db ...
** --families polynomial --threads 1).
*/
#ifndef CLEAVE_FIT_EIGEN_H
#define CLEAVE_FIT_EIGEN_H

#include <stddef.h>

#include <cleave/cleave.h>

/* Eigendecompose the symmetric N x N matrix A (row-major; only its upper triangle is read):
** on success the eigenvalues are in W[0..N) in ascending order and row i of A holds the unit
** eigenvector of W[i] (A[i * N + j] is its j-th component).  CLEAVE_OK, CLEAVE_ENOMEM, or
** CLEAVE_ENUMERIC (no convergence, N too large for LAPACK's int) with a message in ERR. */
cleave_status fit_eigen_sym(double *a, size_t n, double *w, char *err, size_t errlen);

#endif /* CLEAVE_FIT_EIGEN_H */

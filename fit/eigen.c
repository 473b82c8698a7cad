/*
** fit/eigen.c - fit_eigen_sym() by LAPACK dsyevd (see fit/eigen.h).
**
** LAPACK is column-major: the row-major upper triangle we fill is its lower one, and the
** eigenvectors it returns in columns are, read row-major, the rows fit_eigen_sym() promises.
*/
#include "fit/eigen.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>

/* LAPACK's Fortran interface as gfortran-built OpenBLAS exports it: every argument by
** reference, then the hidden lengths of the two CHARACTER arguments. */
void dsyevd_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
             double *work, const int *lwork, int *iwork, const int *liwork, int *info,
             size_t jobz_len, size_t uplo_len);

cleave_status fit_eigen_sym(double *a, size_t n, double *w, char *err, size_t errlen)
{
    if (n == 0)
        return CLEAVE_OK;
    if (n > (size_t)INT_MAX / n) {
        snprintf(err, errlen, "eigendecomposition of %zu x %zu is too large", n, n);
        return CLEAVE_ENUMERIC;
    }
    int ni = (int)n, lwork = -1, liwork = -1, info = 0, iw = 0;
    double wq = 0.0;
    /* Workspace query first, as LAPACK documents. */
    dsyevd_("V", "L", &ni, a, &ni, w, &wq, &lwork, &iw, &liwork, &info, 1, 1);
    if (info != 0) {
        snprintf(err, errlen, "eigendecomposition workspace query failed (info %d)", info);
        return CLEAVE_ENUMERIC;
    }
    lwork = (int)wq;
    liwork = iw;
    double *work = malloc(sizeof *work * (size_t)(lwork > 1 ? lwork : 1));
    int *iwork = malloc(sizeof *iwork * (size_t)(liwork > 1 ? liwork : 1));
    cleave_status rc = CLEAVE_OK;
    if (!work || !iwork) {
        rc = CLEAVE_ENOMEM;
        snprintf(err, errlen, "out of memory");
    } else {
        dsyevd_("V", "L", &ni, a, &ni, w, work, &lwork, iwork, &liwork, &info, 1, 1);
        if (info != 0) {
            rc = CLEAVE_ENUMERIC;
            snprintf(err, errlen, "eigendecomposition did not converge (LAPACK dsyevd info %d)",
                     info);
        }
    }
    free(work);
    free(iwork);
    return rc;
}

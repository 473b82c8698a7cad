/*
** fit/linear.h - internals of the linear-in-parameters families (logarithmic, linear, lasso,
** ridge in fit/linear.c and fit/lasso.c; polynomial in fit/poly.c): the raw-coefficient model
** they share, the GCV choice of a ridge penalty, and entry points for tests.  Internal to fit/.
*/
#ifndef CLEAVE_FIT_LINEAR_H
#define CLEAVE_FIT_LINEAR_H

#include <stddef.h>
#include <stdint.h>

#include "fit/family.h"

/* Relative singular-value cut-off of the truncated SVD: on standardised columns a direction
** with s_i <= FIT_SVD_RTOL * s_max carries no information a double can resolve (a coefficient
** along it would be amplified by 1 / 1e-10), so it is dropped and the fit is the minimum-norm
** least-squares solution in the remaining span. */
#define FIT_SVD_RTOL 1e-10

/* The fitted state of LOG, LINEAR, LASSO and RIDGE: a prediction on the target scale is
** INTERCEPT + sum_j BETA[j] g(x_j) on raw features, g = log1p(max(x, 0)) for LOG and the
** identity otherwise.  One pass, no allocation. */
typedef struct fit_lin {
    double intercept;
    double lambda; /* the penalty chosen (RIDGE: GSL's lambda, LASSO: the L1 weight), else 0 */
    uint64_t rank; /* effective rank (LOG, LINEAR, RIDGE) or non-zero coefficients (LASSO) */
    double *beta;  /* P raw-feature coefficients */
} fit_lin;

/* A new model state with P zero coefficients, or NULL when out of memory. */
fit_lin *fit_lin_new(size_t p);
void fit_lin_destroy(fit_lin *l); /* NULL is a harmless no-op */

/* The fit_family_ops members the raw-coefficient families share. */
double fit_lin_predict(const fit_model *m, const double *x);
void fit_lin_save(const fit_model *m, fit_buf *b);
void fit_lin_load(fit_model *m, fit_reader *r);
void fit_lin_free(fit_model *m);

/* Z = (X - MU) / SD row by row (N x P): the standardisation every family here fits on. */
void fit_standardise(const double *x, size_t n, size_t p, const double *mu, const double *sd,
                     double *z);

/* Turn coefficients C on standardised features into raw ones: BETA[j] = C[j] / SD[j],
** INTERCEPT = TBAR - sum_j BETA[j] MU[j], so that prediction needs no scaling. */
void fit_lin_unscale(fit_lin *l, const double *c, const double *mu, const double *sd, double tbar,
                     size_t p);

/* CLEAVE_OK when N >= NEED, else CLEAVE_EINVAL and "<family> needs at least NEED rows, got N". */
cleave_status fit_need_rows(fit_family f, size_t n, size_t need, char *err, size_t errlen);

/* The spectrum of a centred ridge problem min |y - Z c|^2 + lambda^2 |c|^2 (GSL's Tikhonov
** form, Hansen "Discrete Inverse Problems" 2010, ch. 4): the R kept squared singular values
** E[i] = s_i^2 of Z, the projections UTY[i] = u_i^T y, DELTA0 = the part of |y|^2 outside the
** kept span, and DOF = n - 1, the residual degrees of freedom left after the intercept. */
typedef struct fit_spectrum {
    size_t r;
    const double *e, *uty;
    double delta0, dof;
} fit_spectrum;

/* The GCV function G(lambda) = RSS(lambda) / (DOF - df(lambda))^2 (Golub, Heath, Wahba 1979),
** df = sum_i e_i / (e_i + lambda^2); +inf where no residual degree of freedom is left (an
** interpolating fit).  At lambda = 0 it is the GCV of the truncated-SVD least-squares fit. */
double fit_gcv(const fit_spectrum *s, double lambda);

/* Choose lambda minimising fit_gcv(): a log-spaced grid (gsl_multifit_linear_lreg, 150 points
** from 1e-3 times the smallest to 1e2 times the largest kept singular value: GSL's range,
** widened), refined by Brent's method between the grid neighbours of the best point, and
** compared with lambda = 0 by the same criterion (GSL's grid never includes 0); ties go to
** lambda = 0.  *LAMBDA is 0 when R is 0.  Errors:
** CLEAVE_ENOMEM, CLEAVE_ENUMERIC (GSL's reason in ERR, prefixed with the family name F). */
cleave_status fit_gcv_choose(const fit_spectrum *s, fit_family f, double *lambda, char *err,
                             size_t errlen);

/* ---- entry points for tests ------------------------------------------------------------ */

/* The raw coefficients of a LOG, LINEAR, LASSO or RIDGE model: *INTERCEPT, BETA[0..P) (on
** log1p features for LOG) and *LAMBDA (any of them may be NULL).  Returns 0, or -1 for a model
** of another family. */
int fit_linear_coefs(const fit_model *m, double *intercept, double *beta, double *lambda);

/* The lasso at a fixed LAMBDA on all N rows (the same path, warm starts and convergence test
** as fit_lasso_ops): minimises (1/2n) |t - t_mean - Z b|^2 + LAMBDA |b|_1 over b on the
** standardised features Z (sample standard deviation), and returns raw coefficients in
** *INTERCEPT and BETA[0..P).  Statuses as fit_train(). */
cleave_status fit_lasso_at(double *intercept, double *beta, const double *x, size_t n, size_t p,
                           const double *t, double lambda, char *err, size_t errlen);

#endif /* CLEAVE_FIT_LINEAR_H */

/*
** planner/problem.c - the cost model of a placement (plan_evaluate) and the checks every
** partition algorithm runs on a problem first.
*/
#include "planner/partition.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>

void plan_errf(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

void plan_result_reset(plan_result *r)
{
    r->evaluated = 0;
    r->exact = 0;
    r->note[0] = '\0';
}

/* A time is usable when it is a finite number >= 0: negative times would break the min-cut
** construction and the early-stop rule, NaN every comparison. */
static int bad_time(double t)
{
    return !(t >= 0.0) || !isfinite(t);
}

/* See partition.h.  Checks in array order so that the first problem found is reported. */
cleave_status plan_problem_check(const plan_problem *p, char *err, size_t errlen)
{
    if (!p) {
        plan_errf(err, errlen, "no problem given");
        return CLEAVE_EINVAL;
    }
    if (p->n <= 0) {
        plan_errf(err, errlen, "problem has no nodes");
        return CLEAVE_EINVAL;
    }
    if (p->ntensors < 0) {
        plan_errf(err, errlen, "problem has a negative tensor count (%d)", p->ntensors);
        return CLEAVE_EINVAL;
    }
    if (!p->t_end || !p->t_edge || !p->cons_off ||
        (p->ntensors > 0 && (!p->producer || !p->up_us || !p->down_us || !p->cons))) {
        plan_errf(err, errlen, "problem is missing an array");
        return CLEAVE_EINVAL;
    }
    for (int i = 0; i < p->n; i++) {
        if (bad_time(p->t_end[i])) {
            plan_errf(err, errlen, "node %d: end-device time %g is negative or not finite", i,
                      p->t_end[i]);
            return CLEAVE_EINVAL;
        }
        if (bad_time(p->t_edge[i])) {
            plan_errf(err, errlen, "node %d: edge time %g is negative or not finite", i,
                      p->t_edge[i]);
            return CLEAVE_EINVAL;
        }
    }
    if (p->cons_off[0] != 0) {
        plan_errf(err, errlen, "consumer offsets do not start at 0");
        return CLEAVE_EINVAL;
    }
    for (int t = 0; t < p->ntensors; t++) {
        int prod = p->producer[t];
        if (prod < -1 || prod >= p->n) {
            plan_errf(err, errlen, "tensor %d: producer %d is not a node", t, prod);
            return CLEAVE_EINVAL;
        }
        if (bad_time(p->up_us[t]) || bad_time(p->down_us[t])) {
            plan_errf(err, errlen, "tensor %d: transfer time is negative or not finite", t);
            return CLEAVE_EINVAL;
        }
        if (p->cons_off[t + 1] < p->cons_off[t]) {
            plan_errf(err, errlen, "tensor %d: consumer offsets decrease", t);
            return CLEAVE_EINVAL;
        }
        for (int j = p->cons_off[t]; j < p->cons_off[t + 1]; j++) {
            int c = p->cons[j];
            if (c < 0 || c >= p->n) {
                plan_errf(err, errlen, "tensor %d: consumer %d is not a node", t, c);
                return CLEAVE_EINVAL;
            }
            if (c <= prod) {
                plan_errf(err, errlen, "tensor %d: consumer %d does not come after its producer %d",
                          t, c, prod);
                return CLEAVE_EINVAL;
            }
        }
    }
    return CLEAVE_OK;
}

/* The cost model of problem.h, tensor by tensor.  A tensor lives where its producer ran (the end
** device for a network input); it is sent once to the other side when at least one consumer is
** there, or, for a network output produced on the edge, to bring the result back.  Sending it
** the other way as well is never needed, because the producer's side always holds it.  Tensors
** with no consumer that are not outputs cost nothing.  Sums run in index order so that every
** algorithm's final figures come from the same arithmetic. */
void plan_evaluate(const plan_problem *p, const unsigned char *on_edge, plan_result *out)
{
    double end_us = 0.0, edge_us = 0.0, up_us = 0.0, down_us = 0.0;
    for (int i = 0; i < p->n; i++) {
        if (on_edge[i])
            edge_us += p->t_edge[i];
        else
            end_us += p->t_end[i];
    }
    for (int t = 0; t < p->ntensors; t++) {
        int side = p->producer[t] < 0 ? 0 : on_edge[p->producer[t]] != 0;
        int other = side && p->is_output && p->is_output[t];
        for (int j = p->cons_off[t]; j < p->cons_off[t + 1] && !other; j++)
            other = (on_edge[p->cons[j]] != 0) != side;
        if (!other)
            continue;
        if (side)
            down_us += p->down_us[t];
        else
            up_us += p->up_us[t];
    }
    out->end_us = end_us;
    out->edge_us = edge_us;
    out->up_us = up_us;
    out->down_us = down_us;
    out->total_us = end_us + edge_us + up_us + down_us;
}

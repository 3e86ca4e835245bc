/* fleet_ckpt.c - checkpoints of merging rounds: collective writer, serial validating reader. */
#define _POSIX_C_SOURCE 200809L
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_ckpt.h"
#include "io/h5io.h"

fm_status fm_ckpt_write(MPI_Comm comm, const char *path, const fm_ckpt_shape *shape,
                        const fm_ckpt_state *st, fm_err *err)
{
    fm_status status = FM_OK;
    fm_h5 *h = NULL;
    int64_t P = (int64_t)shape->nparams, R = shape->rounds;
    double t = (double)st->adam_t;
    FM_TRY(fm_h5_create(comm, path, &h, err));
    FM_TRY(fm_h5_attr_text(h, "/", "kind", FM_CKPT_KIND, err));
    FM_TRY(fm_h5_attr_i64(h, "/", "format_version", FM_CKPT_FORMAT_VERSION, err));
    FM_TRY(fm_h5_attr_i64(h, "/", "ranks", shape->nranks, err));
    FM_TRY(fm_h5_attr_text(h, "/", "binary_version", fm_version(), err));
    FM_TRY(fm_h5_attr_i64(h, "/", "rounds_done", st->done, err));
    FM_TRY(fm_h5_write_text(h, "/config", shape->config, err));
    FM_TRY(fm_h5_write_rows_f32(h, "/robot/params", 1, &P, st->params, err));
    FM_TRY(fm_h5_write_rows_f32(h, "/robot/adam_m", 1, &P, st->adam_m, err));
    FM_TRY(fm_h5_write_rows_f32(h, "/robot/adam_v", 1, &P, st->adam_v, err));
    FM_TRY(fm_h5_write_rows_f64(h, "/robot/adam_t", 1, (int64_t[1]){1}, &t, err));
    FM_TRY(fm_h5_write_rows_f64(h, "/robot/comm", 1, (int64_t[1]){3 * R}, st->comm, err));
    FM_TRY(fm_h5_write_f32(h, "/merged", 1, &P, st->merged, err));
    FM_TRY(fm_h5_write_f64(h, "/rounds", 1, (int64_t[1]){R * shape->round_cols}, st->rounds, err));
    FM_TRY(fm_h5_write_rows_f32(h, "/local/params", 1, &P, st->local, err));
    FM_TRY(fm_h5_write_rows_f64(h, "/local/fit", 1, (int64_t[1]){2}, st->local_fit, err));
    FM_TRY(fm_h5_attr_i64(h, "/", "pooled_done", st->have_pooled != 0, err));
    if (st->have_pooled) {
        FM_TRY(fm_h5_write_f32(h, "/pooled/params", 1, &P, st->pooled, err));
        FM_TRY(fm_h5_write_f64(h, "/pooled/fit", 1, (int64_t[1]){2}, st->pooled_fit, err));
    }
    FM_TRY(fm_h5_attr_i64(h, "/", "task_specific_done", st->have_ts != 0, err));
    if (st->have_ts)
        FM_TRY(fm_h5_write_f64(h, "/task_specific", 1, (int64_t[1]){shape->nts}, st->ts, err));
    fm_status cs = fm_h5_close(h, 1, err);
    h = NULL;
    FM_TRY(cs);
cleanup:
    if (h)
        fm_h5_close(h, 0, err);
    return status;
}

/* An attribute that must hold an integer in [lo, hi]. */
static fm_status attr_int(const char *path, const char *name, double lo, double hi, double *v, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_h5_read_attr_f64(path, "/", name, v, err));
    FM_CHECK(isfinite(*v) && *v == floor(*v) && *v >= lo && *v <= hi, FM_EDATA,
             "%s: attribute %s: got %g, expected an integer in [%.0f, %.0f] (damaged checkpoint?)", path, name,
             *v, lo, hi);
cleanup:
    return status;
}

/* Every element finite (and >= 0 when nonneg); names the first offender. */
static fm_status finite_f32(const char *path, const char *dset, const float *x, size_t n, int nonneg, fm_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || (nonneg && x[i] < 0))
            return fm_fail(err, FM_EDATA, "%s: %s[%zu] = %g: expected a finite%s number (damaged checkpoint?)", path,
                           dset, i, (double)x[i], nonneg ? " non-negative" : "");
    return FM_OK;
}

/* This rank's row of the [nranks, n] dataset `dset` into out (floats), via a scratch copy of the rows. */
static fm_status row_f32(const char *path, const char *dset, const fm_ckpt_shape *s, size_t n, float *out,
                         int nonneg, fm_err *err)
{
    fm_status status = FM_OK;
    float *all = NULL;
    FM_ALLOC(all, (size_t)s->nranks * n);
    FM_TRY(fm_h5_read_f32_into(path, dset, 2, (int64_t[2]){s->nranks, (int64_t)n}, all, err));
    memcpy(out, all + (size_t)s->rank * n, n * sizeof *out);
    FM_TRY(finite_f32(path, dset, out, n, nonneg, err));
cleanup:
    free(all);
    return status;
}

static fm_status row_f64(const char *path, const char *dset, const fm_ckpt_shape *s, size_t n, double *out,
                         fm_err *err)
{
    fm_status status = FM_OK;
    double *all = NULL;
    FM_ALLOC(all, (size_t)s->nranks * n);
    FM_TRY(fm_h5_read_f64_into(path, dset, 2, (int64_t[2]){s->nranks, (int64_t)n}, all, err));
    memcpy(out, all + (size_t)s->rank * n, n * sizeof *out);
    for (size_t i = 0; i < n; i++)
        FM_CHECK(isfinite(out[i]) && out[i] >= 0, FM_EDATA,
                 "%s: %s[%d][%zu] = %g: expected a finite non-negative number (damaged checkpoint?)", path, dset,
                 s->rank, i, out[i]);
cleanup:
    free(all);
    return status;
}

/* The metrics of the rounds done: finite (NaN only in nan_ok columns), counts within [0, nranks]. */
static fm_status check_rounds(const char *path, const fm_ckpt_shape *s, const double *rd, int done, fm_err *err)
{
    for (int r = 0; r < done; r++)
        for (int j = 0; j < s->round_cols; j++) {
            double x = rd[(size_t)r * s->round_cols + j];
            int ok = isfinite(x) || (isnan(x) && j < 32 && (s->nan_ok_cols >> j & 1u));
            if (ok && j == s->max_count_col)
                ok = x == floor(x) && x >= 0 && x <= s->nranks;
            if (!ok)
                return fm_fail(err, FM_EDATA, "%s: /rounds: round %d, column %d = %g: out of range (damaged checkpoint?)",
                               path, r + 1, j, x);
        }
    return FM_OK;
}

/* A training fit [loss, optimizer steps]: a finite non-negative loss and a whole step count. */
static fm_status check_fit(const char *path, const char *dset, const double *fit, fm_err *err)
{
    if (isfinite(fit[0]) && fit[0] >= 0 && isfinite(fit[1]) && fit[1] >= 0 && fit[1] == floor(fit[1]) &&
        fit[1] <= 9007199254740992.0)
        return FM_OK;
    return fm_fail(err, FM_EDATA, "%s: %s = [%g, %g]: expected a finite loss >= 0 and a step count (damaged checkpoint?)",
                   path, dset, fit[0], fit[1]);
}

/* The baselines finished before the checkpoint: every robot's own policy (always), the pooled
 * policy and the task-specific scores when their flags say so. */
static fm_status read_baselines(const char *path, const fm_ckpt_shape *s, fm_ckpt_state *st, fm_err *err)
{
    fm_status status = FM_OK;
    double flag = 0;
    size_t P = s->nparams;
    FM_TRY(row_f32(path, "/local/params", s, P, st->local, 0, err));
    FM_TRY(row_f64(path, "/local/fit", s, 2, st->local_fit, err));
    FM_TRY(check_fit(path, "/local/fit", st->local_fit, err));
    FM_TRY(attr_int(path, "pooled_done", 0, 1, &flag, err));
    st->have_pooled = flag == 1;
    if (st->have_pooled) {
        FM_TRY(fm_h5_read_f32_into(path, "/pooled/params", 1, (int64_t[1]){(int64_t)P}, st->pooled, err));
        FM_TRY(finite_f32(path, "/pooled/params", st->pooled, P, 0, err));
        FM_TRY(fm_h5_read_f64_into(path, "/pooled/fit", 1, (int64_t[1]){2}, st->pooled_fit, err));
        FM_TRY(check_fit(path, "/pooled/fit", st->pooled_fit, err));
    }
    FM_TRY(attr_int(path, "task_specific_done", 0, 1, &flag, err));
    st->have_ts = flag == 1;
    if (st->have_ts) {
        FM_TRY(fm_h5_read_f64_into(path, "/task_specific", 1, (int64_t[1]){s->nts}, st->ts, err));
        for (int i = 0; i < s->nts; i++) /* NaN: a task without data */
            FM_CHECK(!isinf(st->ts[i]), FM_EDATA, "%s: /task_specific[%d] is infinite (damaged checkpoint?)", path, i);
    }
cleanup:
    return status;
}

fm_status fm_ckpt_read(const char *path, const fm_ckpt_shape *s, fm_ckpt_state *st, fm_err *err)
{
    fm_status status = FM_OK;
    char *kind = NULL, *text = NULL, *version = NULL;
    double v = 0, ranks = 0, done = 0, t = 0;
    size_t P = s->nparams, R = (size_t)s->rounds, C = (size_t)s->round_cols;
    double *rd = NULL;
    st->done = -1;
    FM_CHECK(s->config && s->nranks > 0 && s->rank >= 0 && s->rank < s->nranks && s->rounds > 0 && s->round_cols > 0 &&
                 P > 0 && s->nts > 0, FM_EINVAL, "fm_ckpt_read: bad shape");
    FM_TRY(fm_h5_check_checksummed(path, err));
    FM_TRY(fm_h5_read_attr_text(path, "/", "kind", &kind, err));
    FM_CHECK(strcmp(kind, FM_CKPT_KIND) == 0, FM_EDATA, "%s: attribute kind is not \"%s\": not a checkpoint", path,
             FM_CKPT_KIND);
    /* the build first: an older build's checkpoint is refused for what it is, not as damaged */
    FM_TRY(fm_h5_read_attr_text(path, "/", "binary_version", &version, err));
    FM_CHECK(!s->version || strcmp(version, s->version) == 0, FM_EINVAL,
             "%s: a checkpoint written by fleet %s, this is fleet %s; rerun with that binary, or use --force to start "
             "over", path, version, s->version);
    FM_TRY(attr_int(path, "format_version", FM_CKPT_FORMAT_VERSION, FM_CKPT_FORMAT_VERSION, &v, err));
    FM_TRY(fm_h5_read_text(path, "/config", &text, err));
    FM_CHECK(strcmp(text, s->config) == 0, FM_EINVAL,
             "%s: a checkpoint of a different config; remove it or use --force to start over", path);
    FM_TRY(attr_int(path, "ranks", 1, INT32_MAX, &ranks, err));
    FM_CHECK((int)ranks == s->nranks, FM_EINVAL,
             "%s: a checkpoint of %d ranks (robots), this run has %d; rerun with -n %d, or use --force to start over",
             path, (int)ranks, s->nranks, (int)ranks);
    FM_TRY(attr_int(path, "rounds_done", 0, s->rounds, &done, err));
    FM_TRY(row_f32(path, "/robot/params", s, P, st->params, 0, err));
    FM_TRY(row_f32(path, "/robot/adam_m", s, P, st->adam_m, 0, err));
    FM_TRY(row_f32(path, "/robot/adam_v", s, P, st->adam_v, 1, err));
    FM_TRY(row_f64(path, "/robot/adam_t", s, 1, &t, err));
    FM_CHECK(t == floor(t) && t <= 9007199254740992.0 && t <= (double)LONG_MAX, FM_EDATA,
             "%s: /robot/adam_t = %g: expected a step count (damaged checkpoint?)", path, t);
    FM_TRY(row_f64(path, "/robot/comm", s, 3 * R, st->comm, err));
    /* before round 1 nothing has trained or moved: a later state labelled "0 rounds" would redo round 1 */
    FM_CHECK(done > 0 || (t == 0 && st->comm[0] == 0 && st->comm[1] == 0), FM_EDATA,
             "%s: attribute rounds_done = 0 but /robot/adam_t = %g and round 1 moved %g bytes: the state of a later "
             "round (damaged checkpoint?)", path, t, st->comm[0] + st->comm[1]);
    FM_TRY(fm_h5_read_f32_into(path, "/merged", 1, (int64_t[1]){(int64_t)P}, st->merged, err));
    FM_TRY(finite_f32(path, "/merged", st->merged, P, 0, err));
    FM_ALLOC(rd, R * C);
    FM_TRY(fm_h5_read_f64_into(path, "/rounds", 1, (int64_t[1]){(int64_t)(R * C)}, rd, err));
    FM_TRY(check_rounds(path, s, rd, (int)done, err));
    memcpy(st->rounds, rd, sizeof(double) * (size_t)done * C);
    FM_TRY(read_baselines(path, s, st, err));
    st->adam_t = (long)t;
    st->done = (int)done;
cleanup:
    free(kind), free(text), free(rd), free(version);
    return status;
}

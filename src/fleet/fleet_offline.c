/* fleet_offline.c - `fleet merge`: merge the local models saved in a results file with any
 * method, in one process (the serial reducer runs the same code as the MPI fleet). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fleet/fleet_common.h"
#include "fleet/fleet_model.h"
#include "io/h5io.h"
#include "merge/merge.h"
#include "merge/merge_nn.h"

static int method_index(const char *name)
{
    for (int m = 0; m < FM_MERGE_COUNT; m++)
        if (!strcmp(fm_cfg_enum_name("merge.methods", m), name))
            return m;
    return -1;
}

static fm_status load_config(const char *results, fm_config *cfg, int *nrobots, fm_err *err)
{
    fm_status status = FM_OK;
    char *text = NULL, name[1100];
    double n = 0;
    FM_TRY(fm_h5_read_text(results, "/config", &text, err));
    snprintf(name, sizeof name, "%s:/config", results);
    FM_TRY(fm_cfg_load_string(text, name, cfg, err));
    FM_TRY(fm_h5_read_attr_f64(results, "/", "num_robots", &n, err));
    FM_CHECK(isfinite(n) && n == floor(n) && n >= 1 && n <= 100000, FM_EDATA,
             "%s: attribute num_robots: got %g, expected an integer in [1, 100000]", results, n);
    *nrobots = (int)n;
cleanup:
    free(text);
    return status;
}

typedef struct offline_nn {
    int N;
    fm_model *m;
    fm_demos *d;
} offline_nn;

/* A merge that fails on valid input is a numerical failure of the method, not a usage error:
 * re-code it (exit 1) and name the file, the method and the robots. */
static fm_status merged_or_fail(fm_status st, const char *results, const char *method, int n, fm_err *err)
{
    char msg[sizeof err->msg];
    if (st == FM_OK)
        return FM_OK;
    snprintf(msg, sizeof msg, "%s", err->msg);
    err->code = FM_OK;
    return fm_fail(err, st == FM_ENOMEM ? st : FM_ENUMERIC, "%s: merging %d robots with %s failed: %s", results, n,
                   method, msg);
}

/* Robots whose parameters are not all finite go to the end of o's arrays (with a warning); the
 * count of the others, which come first in their original order. */
static int keep_finite(offline_nn *o, const char *results)
{
    int kept = 0;
    for (int i = 0; i < o->N; i++) {
        int ok = 1;
        for (size_t j = 0; j < o->m[i].layout.total && ok; j++)
            ok = isfinite(o->m[i].w[j]);
        if (!ok) {
            fm_logf(stderr, "warning: %s: robot %d's policy is not finite; left out of the merge\n", results, i);
            continue;
        }
        fm_model tm = o->m[kept];
        fm_demos td = o->d[kept];
        o->m[kept] = o->m[i], o->d[kept] = o->d[i];
        o->m[i] = tm, o->d[i] = td;
        kept++;
    }
    return kept;
}

/* Linear policies: rows of /models/local, fm_merge_linear_data with the serial reducer and, when
 * data is given, every robot's demonstrations (left out with its robot when its policy is not finite). */
static fm_status merge_linear_offline(const char *results, const char *data, const fm_config *cfg, int method, int N,
                                      double **merged, int64_t *npar, fm_err *err)
{
    fm_status status = FM_OK;
    double *rows = NULL;
    fm_demos *demos = NULL, *kept_demos = NULL;
    int nd = 0;
    int64_t dims[FM_H5_MAX_DIMS] = {0};
    double k = 0, p = 0, m = 0;
    FM_TRY(fm_h5_read_f64(results, "/models/local", &rows, &nd, dims, err));
    FM_CHECK(nd == 2 && dims[0] == N, FM_EDATA, "%s: /models/local: expected [%d, P]", results, N);
    FM_TRY(fm_h5_read_attr_f64(results, "/models", "hidden_dim", &k, err));
    FM_TRY(fm_h5_read_attr_f64(results, "/models", "obs_dim", &p, err));
    FM_TRY(fm_h5_read_attr_f64(results, "/models", "act_dim", &m, err));
    fm_lindims d = {.arch = cfg->policy.arch, .k = (int)k, .p = (int)p, .m = (int)m};
    FM_CHECK((int64_t)fm_lin_size(&d) == dims[1], FM_EDATA, "%s: /models/local: %lld parameters, expected %zu",
             results, (long long)dims[1], fm_lin_size(&d));
    FM_ALLOC(*merged, dims[1]);
    if (data) {
        FM_ALLOC(demos, N);
        for (int i = 0; i < N; i++) {
            fm_demos_meta meta;
            double *mix = NULL;
            fm_status st = fm_h5_read_demos_robot(data, i, &meta, &demos[i], &mix, err);
            free(mix);
            FM_TRY(st);
            FM_CHECK(meta.num_robots == N, FM_EDATA, "%s holds %d robots but %s has %d local models", data,
                     meta.num_robots, results, N);
            FM_CHECK(demos[i].obs_dim == d.p && demos[i].act_dim == d.m, FM_EDATA,
                     "%s: robot %d's demonstrations have %d observation and %d action values, but the policies of "
                     "%s take %d and give %d (demonstrations of another config?)",
                     data, i, demos[i].obs_dim, demos[i].act_dim, results, d.p, d.m);
        }
        kept_demos = demos;
    }
    int kept = 0;
    for (int i = 0; i < N; i++) { /* a robot whose policy is not finite is left out, as in a run */
        const double *r = rows + (size_t)i * dims[1];
        int ok = 1;
        for (int64_t j = 0; j < dims[1] && ok; j++)
            ok = isfinite(r[j]);
        if (ok && demos && kept != i) { /* robot i's demonstrations move with its policy */
            fm_demos t = demos[kept];
            demos[kept] = demos[i], demos[i] = t;
        }
        if (ok)
            memmove(rows + (size_t)kept++ * dims[1], r, sizeof(double) * (size_t)dims[1]);
        else
            fm_logf(stderr, "warning: %s: robot %d's policy is not finite; left out of the merge\n", results, i);
    }
    FM_CHECK(kept > 0, FM_EDATA, "%s: no robot has a finite policy to merge", results);
    fm_reducer red = fm_reducer_serial(kept);
    fm_merge_info info;
    FM_TRY(merged_or_fail(fm_merge_linear_data(method, &d, rows, demos ? kept_demos : NULL, cfg, &red, *merged, NULL,
                                               &info, err),
                          results, fm_cfg_enum_name("merge.methods", method), kept, err));
    *npar = dims[1];
cleanup:
    free(rows);
    for (int i = 0; demos && i < N; i++)
        fm_demos_free(&demos[i]);
    free(demos);
    return status;
}

static void offline_free(offline_nn *o)
{
    for (int i = 0; o->m && i < o->N; i++)
        fm_model_free(&o->m[i]);
    for (int i = 0; o->d && i < o->N; i++)
        fm_demos_free(&o->d[i]);
    free(o->m), free(o->d);
}

static fm_status load_nn(const char *results, const char *data, int N, offline_nn *o, fm_err *err)
{
    fm_status status = FM_OK;
    o->N = N;
    FM_ALLOC(o->m, N);
    FM_ALLOC(o->d, N);
    for (int i = 0; i < N; i++) {
        FM_TRY(fm_model_load(results, "/models/local", i, &o->m[i], err));
        if (!data)
            continue;
        fm_demos_meta meta;
        double *mix = NULL;
        fm_status st = fm_h5_read_demos_robot(data, i, &meta, &o->d[i], &mix, err);
        free(mix);
        FM_TRY(st);
        FM_CHECK(meta.num_robots == N, FM_EDATA, "%s holds %d robots but %s has %d local models", data,
                 meta.num_robots, results, N);
        int od = fm_nn_obs_dim(&o->m[i].spec), ad = o->m[i].spec.out_dim;
        FM_CHECK(o->d[i].obs_dim == od && o->d[i].act_dim == ad, FM_EDATA,
                 "%s: robot %d's demonstrations have %d observation and %d action values, but the models of %s "
                 "take %d and give %d (demonstrations of another config?)",
                 data, i, o->d[i].obs_dim, o->d[i].act_dim, results, od, ad);
        FM_CHECK(o->d[i].n_traj > 0, FM_EDATA, "%s: robot %d has no demonstrations", data, i);
    }
cleanup:
    return status;
}

static fm_status write_out(const char *out, const fm_config *cfg, const char *mname, const fm_model *nn,
                           const double *lin, int64_t npar, const fm_merge_nn_log *log, fm_err *err)
{
    fm_status status = FM_OK;
    fm_h5 *h = NULL;
    char path[256];
    FM_TRY(fm_h5_create(MPI_COMM_SELF, out, &h, err));
    FM_TRY(fm_h5_attr_i64(h, "/", "format_version", FM_RESULTS_FORMAT_VERSION, err));
    FM_TRY(fm_h5_attr_text(h, "/", "kind", "fleetmerge-merge", err));
    FM_TRY(fm_fleet_write_config(h, cfg, err));
    snprintf(path, sizeof path, "/models/merged/%s", mname);
    if (nn)
        FM_TRY(fm_model_save(h, path, nn, err));
    else
        FM_TRY(fm_h5_write_f64(h, path, 1, &npar, lin, err));
    if (log && log->epochs > 0) {
        snprintf(path, sizeof path, "/merge/%s/changed", mname);
        FM_TRY(fm_h5_write_f64(h, path, 1, (int64_t[1]){log->epochs}, log->changed, err));
    }
    fm_status st = fm_h5_close(h, 1, err);
    h = NULL;
    FM_TRY(st);
cleanup:
    if (h)
        fm_h5_close(h, 0, err);
    return status;
}

fm_status fm_fleet_merge_offline(const char *results, const char *method, const char *data,
                                 const char *out, int force, fm_err *err)
{
    fm_status status = FM_OK;
    fm_config *cfg = NULL;
    offline_nn o = {0};
    fm_model merged = {0};
    double *lin = NULL;
    int64_t npar = 0;
    int N = 0, m = method_index(method);
    FM_CHECK(m >= 0, FM_EINVAL, "fleet merge: unknown method '%s'", method);
    FM_ALLOC(cfg, 1);
    FM_TRY(load_config(results, cfg, &N, err));
    FM_TRY(fm_fleet_prepare_path(MPI_COMM_SELF, out, force, err));
    int linear = cfg->env.kind == FM_ENV_LQG, needs_data = m == FM_MERGE_SINKHORN_REBASIN || m >= FM_MERGE_FLEET_MERGE;
    needs_data |= m == FM_MERGE_LINEAR_GL && cfg->merge.gl_select == FM_GL_SELECT_BC_LOSS &&
                  cfg->policy.arch == FM_ARCH_DYNAMIC_LINEAR; /* static policies are only averaged */
    int linear_method = m == FM_MERGE_LINEAR_PERM || m == FM_MERGE_LINEAR_GL;
    FM_CHECK(m == FM_MERGE_AVERAGE || linear == linear_method, FM_EINVAL,
             "fleet merge: %s does not apply to the %s policies of %s", method,
             fm_cfg_enum_name("policy.arch", cfg->policy.arch), results);
    FM_CHECK(!needs_data || data, FM_EINVAL,
             "fleet merge: %s uses the robots' demonstrations: give them with --data FILE "
             "(`fleet gen` with the run's config writes the same demonstrations)", method);
    fm_merge_nn_log log = {0};
    if (linear) {
        FM_TRY(merge_linear_offline(results, needs_data ? data : NULL, cfg, m, N, &lin, &npar, err));
    } else {
        FM_TRY(load_nn(results, needs_data ? data : NULL, N, &o, err));
        FM_TRY(fm_model_create(&merged, &o.m[0].spec, err));
        int kept = keep_finite(&o, results);
        FM_CHECK(kept > 0, FM_EDATA, "%s: no robot has a finite policy to merge", results);
        fm_reducer red = fm_reducer_serial(kept);
        fm_merge_nn_opts mo;
        fm_fleet_merge_nn_opts(cfg, &mo);
        FM_TRY(merged_or_fail(fm_merge_nn(m, o.m, o.d, &mo, &red, (uint64_t)cfg->experiment.seed, &merged, &log, err),
                              results, method, kept, err));
        N = kept;
    }
    FM_TRY(write_out(out, cfg, method, linear ? NULL : &merged, lin, npar, &log, err));
    fm_logf(stdout, "merged %d robots' models of %s with %s into %s\n", N, results, method, out);
cleanup:
    offline_free(&o);
    fm_model_free(&merged);
    free(cfg), free(lin);
    return status;
}

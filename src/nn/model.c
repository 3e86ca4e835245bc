/* model.c - neural policy models: allocation, initialization, normalization, step runner. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "nn/nn.h"
#include "nn/nn_internal.h"

fm_status fm_model_create(fm_model *m, const fm_nn_spec *spec, fm_err *err)
{
    fm_status status = FM_OK;
    *m = (fm_model){.spec = *spec};
    FM_TRY(fm_nn_layout(spec, &m->layout, err));
    int od = fm_nn_obs_dim(spec);
    FM_ALLOC(m->w, m->layout.total);
    FM_ALLOC(m->obs_mean, od);
    FM_ALLOC(m->obs_std, od);
    FM_ALLOC(m->act_mean, spec->out_dim);
    FM_ALLOC(m->act_std, spec->out_dim);
    for (int i = 0; i < od; i++)
        m->obs_std[i] = 1.0f;
    for (int i = 0; i < spec->out_dim; i++)
        m->act_std[i] = 1.0f;
cleanup:
    if (status != FM_OK)
        fm_model_free(m);
    return status;
}

void fm_model_free(fm_model *m)
{
    free(m->w), free(m->obs_mean), free(m->obs_std), free(m->act_mean), free(m->act_std);
    m->w = m->obs_mean = m->obs_std = m->act_mean = m->act_std = NULL;
}

void fm_model_copy(fm_model *dst, const fm_model *src)
{
    int od = fm_nn_obs_dim(&src->spec), ad = src->spec.out_dim;
    memcpy(dst->w, src->w, sizeof(float) * src->layout.total);
    memcpy(dst->obs_mean, src->obs_mean, sizeof(float) * od);
    memcpy(dst->obs_std, src->obs_std, sizeof(float) * od);
    memcpy(dst->act_mean, src->act_mean, sizeof(float) * ad);
    memcpy(dst->act_std, src->act_std, sizeof(float) * ad);
}

/* Input columns of layer `prefix` ("head0", "enc1"): its weights except the recurrent one. */
static int layer_fan_in(const fm_layout *l, const char *prefix)
{
    size_t n = strlen(prefix);
    int fan = 0;
    for (int j = 0; j < l->ntensors; j++) {
        const fm_tensor *t = &l->t[j];
        if (!strncmp(t->name, prefix, n) && t->name[n] == '.' && t->ndim == 2 && !strstr(t->name, ".rec"))
            fan += t->shape[1];
    }
    return fan;
}

/* PyTorch's defaults: nn.Linear draws W and b from U(-1/sqrt(fan_in), 1/sqrt(fan_in));
 * nn.RNN draws every weight and bias of a recurrent layer from U(-1/sqrt(hidden), 1/sqrt(hidden)). */
void fm_model_init(fm_model *m, fm_rng *r)
{
    const fm_layout *l = &m->layout;
    for (int i = 0; i < l->ntensors; i++) {
        const fm_tensor *t = &l->t[i];
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%.*s", (int)(strchr(t->name, '.') - t->name), t->name);
        int layer = atoi(prefix + 4), recurrent = m->spec.arch == FM_NN_RNN &&
                                                  !strncmp(prefix, "head", 4) && layer < m->spec.nhidden;
        int fan = recurrent ? m->spec.hidden[layer] : layer_fan_in(l, prefix);
        float bound = fan > 0 ? 1.0f / sqrtf((float)fan) : 0.0f;
        for (size_t j = 0; j < t->size; j++)
            m->w[t->offset + j] = bound * (float)(2.0 * fm_rng_uniform(r) - 1.0);
    }
}

void fm_nn_norm_sums(const fm_nn_spec *spec, const fm_demos *d, double *sums)
{
    int od = fm_nn_obs_dim(spec), ad = spec->out_dim, T = d->horizon;
    double *s = sums, *s2 = sums + od, *a = sums + 2 * od, *a2 = a + ad;
    for (int i = 0; i < d->n_traj; i++)
        for (int t = 0; t < d->length[i]; t++) {
            const double *o = d->obs + ((size_t)i * T + t) * d->obs_dim;
            const double *u = d->act + ((size_t)i * T + t) * d->act_dim;
            for (int j = 0; j < od; j++)
                s[j] += o[j], s2[j] += o[j] * o[j];
            for (int j = 0; j < ad; j++)
                a[j] += u[j], a2[j] += u[j] * u[j];
            sums[2 * od + 2 * ad] += 1.0;
        }
}

static void set_stats(const double *s, const double *s2, double n, float *mean, float *std)
{
    double mu = s[0] / n, var = s2[0] / n - mu * mu;
    *mean = (float)mu;
    *std = (float)fmax(sqrt(fmax(var, 0.0)), 1e-3);
}

void fm_nn_norm_set(fm_model *m, const double *sums)
{
    const fm_nn_spec *sp = &m->spec;
    int od = fm_nn_obs_dim(sp), ad = sp->out_dim, np = sp->npoints, C = sp->pc_channels;
    double n = sums[2 * od + 2 * ad];
    if (n <= 0.0)
        return;
    for (int c = 0; c < C && np > 0; c++) { /* one mean/std per point channel */
        double s = 0, s2 = 0;
        for (int p = 0; p < np; p++)
            s += sums[p * C + c], s2 += sums[od + p * C + c];
        double ss[2] = {s, s2};
        float mu, sd;
        set_stats(&ss[0], &ss[1], n * np, &mu, &sd);
        for (int p = 0; p < np; p++)
            m->obs_mean[p * C + c] = mu, m->obs_std[p * C + c] = sd;
    }
    for (int j = np * C; j < od; j++)
        set_stats(&sums[j], &sums[od + j], n, &m->obs_mean[j], &m->obs_std[j]);
    for (int j = 0; j < ad && sp->loss != FM_NN_LOSS_XENT; j++) /* logits: not normalized */
        set_stats(&sums[2 * od + j], &sums[2 * od + ad + j], n, &m->act_mean[j], &m->act_std[j]);
}

/* ---- step runner ---- */
struct fm_nn_runner {
    const fm_model *m;
    fm_nn_ws *ws;
    float *obs, *act;
};

fm_status fm_nn_runner_create(const fm_model *m, fm_nn_runner **out, fm_err *err)
{
    fm_status status = FM_OK;
    fm_nn_runner *r = NULL;
    FM_ALLOC(r, 1);
    r->m = m;
    FM_TRY(fm_nn_ws_create(m, 1, 1, &r->ws, err));
    FM_ALLOC(r->obs, fm_nn_obs_dim(&m->spec));
    FM_ALLOC(r->act, m->spec.out_dim);
    *out = r;
    r = NULL;
cleanup:
    fm_nn_runner_free(r);
    return status;
}

void fm_nn_runner_free(fm_nn_runner *r)
{
    if (!r)
        return;
    fm_nn_ws_free(r->ws);
    free(r->obs), free(r->act), free(r);
}

void fm_nn_runner_reset(fm_nn_runner *r) { fm_nn_ws_reset_state(r->ws); }

void fm_nn_runner_act(fm_nn_runner *r, const double *obs, double *action)
{
    int od = fm_nn_obs_dim(&r->m->spec);
    for (int i = 0; i < od; i++)
        r->obs[i] = (float)obs[i];
    fm_nn_step(r->m, r->ws, r->obs, r->act);
    for (int i = 0; i < r->m->spec.out_dim; i++)
        action[i] = r->act[i];
}

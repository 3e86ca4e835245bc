/* classify.c - the labelled-image classification benchmark (classify.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "data/supervised.h"
#include "env/supervised/classify.h"

/* <dir>/<stem>, or <dir>/<stem>.gz when only that exists. */
static void data_path(const char *dir, const char *stem, char *buf, size_t cap)
{
    snprintf(buf, cap, "%s/%s", dir, stem);
    size_t n = strlen(buf);
    if (access(buf, F_OK) != 0 && n + 4 <= cap) {
        memcpy(buf + n, ".gz", 4);
        if (access(buf, F_OK) != 0)
            buf[n] = '\0'; /* neither: the plain name goes into the error message */
    }
}

/* The images (n x rows x cols) and labels (n) of one split, as read (bytes). */
typedef struct raw_split {
    fm_idx images, labels;
    int n, dim, classes;
    char ipath[1100], lpath[1100];
} raw_split;

static void raw_free(raw_split *r)
{
    fm_idx_free(&r->images);
    fm_idx_free(&r->labels);
}

static fm_status raw_read(const char *dir, const char *prefix, raw_split *r, fm_err *err)
{
    fm_status status = FM_OK;
    char stem[64];
    snprintf(stem, sizeof stem, "%s-images-idx3-ubyte", prefix);
    data_path(dir, stem, r->ipath, sizeof r->ipath);
    snprintf(stem, sizeof stem, "%s-labels-idx1-ubyte", prefix);
    data_path(dir, stem, r->lpath, sizeof r->lpath);
    FM_TRY(fm_idx_read(r->ipath, &r->images, err));
    FM_TRY(fm_idx_read(r->lpath, &r->labels, err));
    FM_CHECK(r->images.ndims == 3, FM_EDATA, "%s: got %d dims, expected 3 (count x rows x cols)", r->ipath,
             r->images.ndims);
    FM_CHECK(r->labels.ndims == 1, FM_EDATA, "%s: got %d dims, expected 1 (count)", r->lpath, r->labels.ndims);
    FM_CHECK(r->images.dims[0] == r->labels.dims[0], FM_EDATA, "%s has %u images but %s has %u labels", r->ipath,
             (unsigned)r->images.dims[0], r->lpath, (unsigned)r->labels.dims[0]);
    FM_CHECK(r->images.dims[0] <= INT32_MAX && (uint64_t)r->images.dims[1] * r->images.dims[2] <= 1u << 20,
             FM_EDATA, "%s: %u images of %u x %u pixels: too large", r->ipath, (unsigned)r->images.dims[0],
             (unsigned)r->images.dims[1], (unsigned)r->images.dims[2]);
    r->n = (int)r->images.dims[0];
    r->dim = (int)(r->images.dims[1] * r->images.dims[2]);
    r->classes = 0;
    for (int i = 0; i < r->n; i++)
        r->classes = r->labels.data[i] + 1 > r->classes ? r->labels.data[i] + 1 : r->classes;
cleanup:
    return status;
}

fm_status fm_classify_build(const fm_config *cfg, fm_classify *c, fm_err *err)
{
    fm_status status = FM_OK;
    raw_split t = {0};
    int *fill = NULL;
    *c = (fm_classify){0};
    if (cfg->env.sv_kind == FM_SV_TEXT)
        return fm_classify_text_build(cfg, c, err);
    FM_TRY(raw_read(cfg->env.sv_data, "t10k", &t, err));
    int K = cfg->env.num_tasks;
    FM_CHECK(t.classes == K, FM_ECONFIG, "%s: env.num_tasks is %d but the test set has %d classes", cfg->source, K,
             t.classes);
    c->K = K, c->dim = t.dim, c->nout = K, c->ntest = t.n;
    c->rows = (int)t.images.dims[1], c->cols = (int)t.images.dims[2];
    c->test = t.images.data; /* the pixels as read: taken over, not copied */
    t.images.data = NULL;
    FM_ALLOC(c->by_class, t.n);
    FM_ALLOC(c->start, K + 1);
    FM_ALLOC(fill, K);
    for (int i = 0; i < t.n; i++)
        c->start[t.labels.data[i] + 1]++;
    for (int h = 0; h < K; h++) {
        FM_CHECK(c->start[h + 1] > 0, FM_EDATA, "%s: no test example of class %d", t.lpath, h);
        c->start[h + 1] += c->start[h];
        fill[h] = c->start[h];
    }
    for (int i = 0; i < t.n; i++)
        c->by_class[fill[t.labels.data[i]]++] = i;
cleanup:
    free(fill);
    raw_free(&t);
    if (status != FM_OK)
        fm_classify_free(c);
    return status;
}

void fm_classify_free(fm_classify *c)
{
    free(c->test), free(c->by_class), free(c->start);
    free(c->chars), free(c->group_start), free(c->test_start);
    *c = (fm_classify){0};
}

fm_status fm_classify_shard(const fm_config *cfg, const fm_classify *c, int rank, int size, fm_demos *out,
                            double *mixture, fm_err *err)
{
    fm_status status = FM_OK;
    raw_split t = {0};
    int *y = NULL, *client = NULL;
    if (c->text)
        return fm_classify_text_shard(cfg, c, rank, size, out, mixture, err);
    FM_TRY(raw_read(cfg->env.sv_data, "train", &t, err));
    FM_CHECK(t.dim == c->dim && t.classes == c->K, FM_EDATA,
             "%s: %d classes of %d pixels, but the test set has %d classes of %d pixels", t.ipath, t.classes, t.dim,
             c->K, c->dim);
    int n = cfg->env.sv_train < t.n ? cfg->env.sv_train : t.n;
    FM_ALLOC(y, n);
    FM_ALLOC(client, n);
    for (int i = 0; i < n; i++)
        y[i] = t.labels.data[i];
    fm_rng r; /* one stream for the whole fleet: every rank computes the same split */
    fm_rng_seed(&r, (uint64_t)cfg->experiment.seed, FM_RANK_SHARED, FM_STREAM_DATA);
    FM_TRY(fm_split_dirichlet(y, n, c->K, size, cfg->fleet.alpha, &r, client, err));
    int mine = 0;
    for (int i = 0; i < n; i++)
        mine += client[i] == rank;
    FM_TRY(fm_demos_alloc(out, mine, 1, c->dim, c->K, err));
    memset(mixture, 0, sizeof(double) * (size_t)c->K);
    for (int i = 0, j = 0; i < n; i++) {
        if (client[i] != rank)
            continue;
        const uint8_t *px = t.images.data + (size_t)i * c->dim;
        for (int p = 0; p < c->dim; p++)
            out->obs[(size_t)j * c->dim + p] = px[p] / 255.0;
        out->act[(size_t)j * c->K + y[i]] = 1.0;
        out->task[j] = y[i];
        out->length[j] = 1;
        mixture[y[i]] += 1.0 / mine;
        j++;
    }
cleanup:
    free(y), free(client);
    raw_free(&t);
    return status;
}

void fm_classify_episode(const fm_classify *c, int h, int e, const fm_policy_fn *pi, fm_episode_score *s)
{
    if (c->text) {
        fm_classify_text_episode(c, h, e, pi, s);
        return;
    }
    *s = (fm_episode_score){.balanced = 1, .at_setpoint = 1, .steps = 1};
    if (!pi)
        return; /* the label itself */
    int count = c->start[h + 1] - c->start[h], i = c->by_class[c->start[h] + e % count];
    double logits[256], *obs = malloc(sizeof(double) * (size_t)c->dim);
    if (!obs) { /* cannot score: count it as wrong */
        *s = (fm_episode_score){.steps = 1, .cost = INFINITY};
        return;
    }
    for (int p = 0; p < c->dim; p++)
        obs[p] = c->test[(size_t)i * c->dim + p] / 255.0;
    if (pi->reset)
        pi->reset(pi->ctx);
    pi->act(pi->ctx, obs, logits);
    free(obs);
    double mx = logits[0], z = 0.0;
    int above = 0; /* classes with a larger logit than h's */
    for (int k = 0; k < c->K; k++)
        mx = logits[k] > mx ? logits[k] : mx, above += logits[k] > logits[h];
    for (int k = 0; k < c->K; k++)
        z += exp(logits[k] - mx);
    s->balanced = above == 0;
    s->at_setpoint = above <= 1;
    s->cost = mx + log(z) - logits[h];
    if (!isfinite(s->cost)) /* a non-finite policy is simply wrong */
        *s = (fm_episode_score){.steps = 1, .cost = INFINITY};
}

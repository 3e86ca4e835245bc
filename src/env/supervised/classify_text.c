/* classify_text.c - next-character prediction on a corpus of documents (classify.h, text mode).
 *
 * The corpus file is read whole by every rank (the King James Bible is 4.4 MB); the documents,
 * groups, windows and the class-Dirichlet split are computed alike everywhere, and each client
 * keeps only its own training windows (as one-hot trajectories). */
#define _POSIX_C_SOURCE 200809L
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "data/supervised.h"
#include "env/supervised/classify.h"

/* Largest corpus accepted (bytes). */
#define TEXT_MAX_BYTES ((size_t)1 << 28)
/* Every TEST_EVERY-th window of a group is held out (the last of each run of TEST_EVERY). */
#define TEST_EVERY 10

/* The reference of one line, "<document><chapter>:<verse>": the length of the document name
 * (the token minus its trailing "<digits>:<digits>"), or 0 when the token has no such form. */
static size_t doc_name_len(const unsigned char *tok, size_t n)
{
    size_t i = n;
    while (i > 0 && isdigit(tok[i - 1]))
        i--;
    if (i == n || i == 0 || tok[i - 1] != ':')
        return 0;
    i--;
    size_t j = i;
    while (j > 0 && isdigit(tok[j - 1]))
        j--;
    return j == i ? 0 : j;
}

/* Join the documents of t: c->chars gets the text of every line after its reference, lines of one
 * document joined by a space, documents in file order separated by a space. doc_start[ndoc + 1]
 * (allocated here) marks where each document begins. Characters are raw bytes here. */
static fm_status parse_documents(const char *path, const fm_text *t, unsigned char **chars, size_t *nchars,
                                 size_t **doc_start, int *ndoc, fm_err *err)
{
    fm_status status = FM_OK;
    unsigned char *out = NULL;
    size_t *ds = NULL, cap_docs = 64, n = 0;
    int nd = 0;
    const unsigned char *prev = NULL;
    size_t prev_len = 0;
    FM_ALLOC(out, t->len + 1);
    FM_ALLOC(ds, cap_docs + 1);
    const unsigned char *p = t->bytes, *end = t->bytes + t->len;
    for (int line = 1; p < end; line++) {
        const unsigned char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const unsigned char *q = p, *le = eol;
        if (le > q && le[-1] == '\r')
            le--;
        if (le > q) { /* an empty line is skipped */
            const unsigned char *sp = q;
            while (sp < le && *sp != ' ' && *sp != '\t')
                sp++;
            size_t name = doc_name_len(q, (size_t)(sp - q));
            FM_CHECK(name > 0, FM_EDATA, "%s:%d: expected '<book><chapter>:<verse> <text>' (the format of "
                     "`bible -f`), got '%.*s'", path, line, (int)(sp - q < 40 ? sp - q : 40), (const char *)q);
            while (sp < le && (*sp == ' ' || *sp == '\t'))
                sp++;
            if (!prev || name != prev_len || memcmp(prev, q, name) != 0) { /* a new document */
                if ((size_t)nd == cap_docs) {
                    size_t *grown = realloc(ds, sizeof(size_t) * (2 * cap_docs + 1));
                    FM_CHECK(grown, FM_ENOMEM, "out of memory (%zu documents)", 2 * cap_docs);
                    ds = grown, cap_docs *= 2;
                }
                if (n > 0)
                    out[n++] = ' ';
                ds[nd++] = n;
                prev = q, prev_len = name;
            } else if (sp < le) {
                out[n++] = ' ';
            }
            memcpy(out + n, sp, (size_t)(le - sp));
            n += (size_t)(le - sp);
        }
        p = eol < end ? eol + 1 : end;
    }
    FM_CHECK(nd > 0, FM_EDATA, "%s: no lines of text", path);
    ds[nd] = n;
    *chars = out, *nchars = n, *doc_start = ds, *ndoc = nd;
    out = NULL, ds = NULL;
cleanup:
    free(out), free(ds);
    return status;
}

/* Windows of group h: window j covers characters [s, s + W] with s = group_start[h] + j W. */
static size_t group_windows(const fm_classify *c, int h)
{
    size_t len = c->group_start[h + 1] - c->group_start[h], W = (size_t)c->window;
    return len > W ? (len - 1) / W : 0;
}

fm_status fm_classify_text_build(const fm_config *cfg, fm_classify *c, fm_err *err)
{
    fm_status status = FM_OK;
    fm_text t = {0};
    size_t *doc_start = NULL;
    int ndoc = 0, K = cfg->env.num_tasks;
    *c = (fm_classify){.text = 1, .K = K, .window = cfg->env.sv_window};
    const char *path = cfg->env.sv_data;
    FM_TRY(fm_text_read(path, TEXT_MAX_BYTES, &t, err));
    FM_TRY(parse_documents(path, &t, &c->chars, &c->nchars, &doc_start, &ndoc, err));
    FM_CHECK(ndoc >= K, FM_ECONFIG, "%s: env.num_tasks is %d but the corpus has %d documents (a task is a group "
             "of consecutive documents)", path, K, ndoc);
    /* vocabulary of the joined text (what the model sees), then characters -> indices */
    fm_text joined = {.len = c->nchars, .bytes = c->chars};
    fm_vocab v;
    fm_text_vocab(&joined, &v);
    c->dim = c->nout = v.size;
    memcpy(c->byte_of, v.byte_of, sizeof c->byte_of);
    for (size_t i = 0; i < c->nchars; i++)
        c->chars[i] = (unsigned char)v.index_of[c->chars[i]];
    /* groups of consecutive documents of about equal size: document d (d >= 1) opens the next group
     * when its middle character lies in a later K-quantile of the corpus than the current group,
     * never skipping a group, and always when as many documents are left as groups to fill */
    FM_ALLOC(c->group_start, K + 1);
    int g = 0;
    for (int d = 1; d < ndoc; d++) {
        double mid = 0.5 * ((double)doc_start[d] + (double)doc_start[d + 1]);
        int q = (int)((double)K * mid / (double)c->nchars);
        q = q > g + 1 ? g + 1 : q;
        if (ndoc - d <= K - 1 - g)
            q = g + 1;
        if (q > g && g < K - 1)
            c->group_start[++g] = doc_start[d];
    }
    c->group_start[K] = c->nchars;
    /* test windows: every TEST_EVERY-th of each group */
    FM_ALLOC(c->start, K + 1);
    for (int h = 0; h < K; h++) {
        size_t nw = group_windows(c, h);
        FM_CHECK(nw >= TEST_EVERY, FM_EDATA, "%s: task %d (documents of %zu characters) has %zu windows of %d + 1 "
                 "characters; at least %d are needed (one held out for testing)", path, h,
                 c->group_start[h + 1] - c->group_start[h], nw, c->window, TEST_EVERY);
        FM_CHECK(nw / TEST_EVERY <= (size_t)INT32_MAX - (size_t)c->start[h], FM_EDATA, "%s: too many windows", path);
        c->start[h + 1] = c->start[h] + (int)(nw / TEST_EVERY);
    }
    c->ntest = c->start[K];
    FM_ALLOC(c->test_start, c->ntest);
    FM_ALLOC(c->by_class, c->ntest);
    for (int h = 0, i = 0; h < K; h++)
        for (size_t j = TEST_EVERY - 1; j < group_windows(c, h); j += TEST_EVERY, i++)
            c->test_start[i] = c->group_start[h] + j * (size_t)c->window, c->by_class[i] = i;
cleanup:
    free(doc_start);
    fm_text_free(&t);
    if (status != FM_OK)
        fm_classify_free(c);
    return status;
}

fm_status fm_classify_text_shard(const fm_config *cfg, const fm_classify *c, int rank, int size, fm_demos *out,
                                 double *mixture, fm_err *err)
{
    fm_status status = FM_OK;
    int *y = NULL, *client = NULL;
    size_t *s = NULL, total = 0;
    int K = c->K, W = c->window, V = c->dim;
    for (int h = 0; h < K; h++) {
        size_t nw = group_windows(c, h);
        total += nw - nw / TEST_EVERY;
    }
    size_t n = (size_t)cfg->env.sv_train < total ? (size_t)cfg->env.sv_train : total;
    FM_ALLOC(s, n);
    FM_ALLOC(y, n);
    FM_ALLOC(client, n);
    /* the training windows in corpus order; keep n of them, evenly spaced: i -> floor(i total / n) */
    size_t next = 0, idx = 0, kept = 0;
    for (int h = 0; h < K && kept < n; h++)
        for (size_t j = 0; j < group_windows(c, h) && kept < n; j++) {
            if (j % TEST_EVERY == TEST_EVERY - 1)
                continue;
            if (idx == next) {
                s[kept] = c->group_start[h] + j * (size_t)W, y[kept] = h;
                kept++;
                next = (size_t)((double)kept * (double)total / (double)n);
            }
            idx++;
        }
    fm_rng r; /* one stream for the whole fleet: every rank computes the same split */
    fm_rng_seed(&r, (uint64_t)cfg->experiment.seed, FM_RANK_SHARED, FM_STREAM_DATA);
    FM_TRY(fm_split_dirichlet(y, (int)kept, K, size, cfg->fleet.alpha, &r, client, err));
    int mine = 0;
    for (size_t i = 0; i < kept; i++)
        mine += client[i] == rank;
    FM_TRY(fm_demos_alloc(out, mine, W, V, V, err));
    memset(mixture, 0, sizeof(double) * (size_t)K);
    for (size_t i = 0, j = 0; i < kept; i++) {
        if (client[i] != rank)
            continue;
        const unsigned char *ch = c->chars + s[i];
        double *o = out->obs + j * (size_t)W * V, *a = out->act + j * (size_t)W * V;
        for (int t = 0; t < W; t++) {
            o[(size_t)t * V + ch[t]] = 1.0;
            a[(size_t)t * V + ch[t + 1]] = 1.0;
        }
        out->task[j] = y[i];
        out->length[j] = W;
        mixture[y[i]] += 1.0 / mine;
        j++;
    }
cleanup:
    free(s), free(y), free(client);
    return status;
}

void fm_classify_text_episode(const fm_classify *c, int h, int e, const fm_policy_fn *pi, fm_episode_score *s)
{
    *s = (fm_episode_score){.balanced = 1, .at_setpoint = 1, .steps = 1};
    if (!pi)
        return; /* the next character itself */
    int count = c->start[h + 1] - c->start[h], V = c->dim;
    const unsigned char *ch = c->chars + c->test_start[c->by_class[c->start[h] + e % count]];
    double logits[256], obs[256] = {0};
    if (pi->reset)
        pi->reset(pi->ctx);
    for (int t = 0; t < c->window; t++) {
        obs[ch[t]] = 1.0;
        pi->act(pi->ctx, obs, logits);
        obs[ch[t]] = 0.0;
    }
    int target = ch[c->window], above = 0;
    double mx = logits[0], z = 0.0;
    for (int k = 0; k < V; k++)
        mx = logits[k] > mx ? logits[k] : mx, above += logits[k] > logits[target];
    for (int k = 0; k < V; k++)
        z += exp(logits[k] - mx);
    s->balanced = above == 0;
    s->at_setpoint = above <= 1;
    s->cost = mx + log(z) - logits[target];
    if (!isfinite(s->cost))
        *s = (fm_episode_score){.steps = 1, .cost = INFINITY};
}

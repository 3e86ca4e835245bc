/* fleet_model.c - saving and loading neural policies in HDF5. */
#include "fleet/fleet_model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ARCH[FM_NN_ARCH_COUNT] = {"mlp", "rnn", "cnn"};
static const char *ACT[FM_NN_ACT_COUNT] = {"tanh", "relu"};

static void format_list(const int *v, int n, char *buf, size_t cap)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && len < cap; i++)
        len += (size_t)snprintf(buf + len, cap - len, "%s%d", i ? "," : "", v[i]);
}

void fm_nn_spec_format(const fm_nn_spec *s, char *buf, size_t cap)
{
    char hid[128], enc[128], conv[128], cnn[200] = "";
    format_list(s->hidden, s->nhidden, hid, sizeof hid);
    format_list(s->enc_hidden, s->npoints > 0 ? s->enc_nlayers : 0, enc, sizeof enc);
    if (s->arch == FM_NN_CNN) { /* only for cnn: other specs read as before the conv fields existed */
        format_list(s->conv_channels, s->nconv, conv, sizeof conv);
        snprintf(cnn, sizeof cnn, " conv=%s kernel=%d image=%dx%dx%d", conv, s->conv_k, s->img_c, s->img_h,
                 s->img_w);
    }
    snprintf(buf, cap, "arch=%s act=%s in=%d out=%d hidden=%s points=%d channels=%d enc=%s%s%s",
             ARCH[s->arch], ACT[s->act], s->in_dim, s->out_dim, hid, s->npoints, s->pc_channels, enc, cnn,
             s->loss == FM_NN_LOSS_XENT ? " loss=xent" : ""); /* absent: the BC loss (older files too) */
}

static int parse_list(const char *v, int *out, int max)
{
    int n = 0;
    while (*v && *v != ' ' && n < max) {
        char *end;
        long x = strtol(v, &end, 10);
        if (end == v || x <= 0 || x > 1 << 20)
            return -1;
        out[n++] = (int)x;
        v = *end == ',' ? end + 1 : end;
    }
    return (*v && *v != ' ') ? -1 : n;
}

static int lookup(const char *v, const char **names, int n)
{
    for (int i = 0; i < n; i++)
        if (!strncmp(v, names[i], strlen(names[i])) && (v[strlen(names[i])] == ' ' || !v[strlen(names[i])]))
            return i;
    return -1;
}

fm_status fm_nn_spec_parse(const char *text, fm_nn_spec *s, fm_err *err)
{
    *s = (fm_nn_spec){0};
    const char *keys[8] = {"arch=", "act=", "in=", "out=", "hidden=", "points=", "channels=", "enc="};
    for (int k = 0; k < 8; k++) {
        const char *v = strstr(text, keys[k]);
        if (!v)
            return fm_fail(err, FM_EDATA, "model spec '%s': missing %s", text, keys[k]);
        v += strlen(keys[k]);
        int ok = 1;
        switch (k) {
        case 0: ok = (s->arch = lookup(v, ARCH, FM_NN_ARCH_COUNT)) >= 0; break;
        case 1: ok = (s->act = lookup(v, ACT, FM_NN_ACT_COUNT)) >= 0; break;
        case 2: s->in_dim = atoi(v); break;
        case 3: s->out_dim = atoi(v); break;
        case 4: ok = (s->nhidden = parse_list(v, s->hidden, FM_NN_MAX_LAYERS - 1)) > 0; break;
        case 5: s->npoints = atoi(v); break;
        case 6: s->pc_channels = atoi(v); break;
        default: ok = (s->enc_nlayers = parse_list(v, s->enc_hidden, FM_NN_MAX_LAYERS)) >= 0;
        }
        if (!ok)
            return fm_fail(err, FM_EDATA, "model spec '%s': bad value for %s", text, keys[k]);
    }
    if (s->arch == FM_NN_CNN) { /* " conv=32,64 kernel=5 image=1x28x28" */
        const char *v = strstr(text, " conv="), *k = strstr(text, " kernel="), *im = strstr(text, " image=");
        char tail;
        if (!v || (s->nconv = parse_list(v + 6, s->conv_channels, FM_NN_MAX_LAYERS)) < 1)
            return fm_fail(err, FM_EDATA, "model spec '%s': arch=cnn needs conv= (a list of channel counts)", text);
        if (!k || sscanf(k + 8, "%d%c", &s->conv_k, &tail) < 1 || s->conv_k < 1)
            return fm_fail(err, FM_EDATA, "model spec '%s': arch=cnn needs kernel= (the kernel size)", text);
        if (!im || sscanf(im + 7, "%dx%dx%d", &s->img_c, &s->img_h, &s->img_w) != 3)
            return fm_fail(err, FM_EDATA, "model spec '%s': arch=cnn needs image=CxHxW", text);
    }
    const char *loss = strstr(text, " loss=");
    if (loss && strcmp(loss, " loss=xent") != 0)
        return fm_fail(err, FM_EDATA, "model spec '%s': bad value for loss= (expected xent or nothing)", text);
    s->loss = loss ? FM_NN_LOSS_XENT : FM_NN_LOSS_MSE;
    return FM_OK;
}

/* Normalization arrays and the two text attributes; shared by both save forms. */
static fm_status save_meta(fm_h5 *h, const char *group, const fm_model *m, fm_err *err)
{
    fm_status status = FM_OK;
    char path[512], spec[512], *layout = NULL;
    int od = fm_nn_obs_dim(&m->spec), ad = m->spec.out_dim;
    const float *arr[4] = {m->obs_mean, m->obs_std, m->act_mean, m->act_std};
    const char *names[4] = {"obs_mean", "obs_std", "act_mean", "act_std"};
    for (int i = 0; i < 4; i++) {
        snprintf(path, sizeof path, "%s/%s", group, names[i]);
        FM_TRY(fm_h5_write_f32(h, path, 1, (int64_t[1]){i < 2 ? od : ad}, arr[i], err));
    }
    int need = fm_layout_describe(&m->layout, NULL, 0) + 1;
    FM_ALLOC(layout, need);
    fm_layout_describe(&m->layout, layout, need);
    fm_nn_spec_format(&m->spec, spec, sizeof spec);
    FM_TRY(fm_h5_attr_text(h, group, "spec", spec, err));
    FM_TRY(fm_h5_attr_text(h, group, "layout", layout, err));
cleanup:
    free(layout);
    return status;
}

fm_status fm_model_save(fm_h5 *h, const char *group, const fm_model *m, fm_err *err)
{
    fm_status status = FM_OK;
    char path[512];
    snprintf(path, sizeof path, "%s/params", group);
    FM_TRY(fm_h5_write_f32(h, path, 1, (int64_t[1]){(int64_t)m->layout.total}, m->w, err));
    FM_TRY(save_meta(h, group, m, err));
cleanup:
    return status;
}

fm_status fm_model_save_rows(fm_h5 *h, const char *group, const fm_model *m, fm_err *err)
{
    fm_status status = FM_OK;
    char path[512];
    snprintf(path, sizeof path, "%s/params", group);
    FM_TRY(fm_h5_write_rows_f32(h, path, 1, (int64_t[1]){(int64_t)m->layout.total}, m->w, err));
    FM_TRY(save_meta(h, group, m, err));
cleanup:
    return status;
}

/* Read a float array (any float type on disk) of exactly n values, or row `row` of [rows, n]. */
static fm_status read_floats(const char *path, const char *dset, int row, size_t n, float *out,
                             fm_err *err)
{
    fm_status status = FM_OK;
    double *v = NULL;
    int nd = 0;
    int64_t dims[FM_H5_MAX_DIMS] = {0};
    FM_TRY(fm_h5_read_f64(path, dset, &v, &nd, dims, err));
    int want = row >= 0 ? 2 : 1;
    FM_CHECK(nd == want && dims[nd - 1] == (int64_t)n && (row < 0 || row < dims[0]), FM_EDATA,
             "%s: %s: expected %s%zu values, found shape [%lld%s%lld]", path, dset,
             row >= 0 ? "rows of " : "", n, (long long)dims[0], nd > 1 ? " x " : "",
             nd > 1 ? (long long)dims[1] : 0LL);
    for (size_t i = 0; i < n; i++)
        out[i] = (float)v[(row >= 0 ? (size_t)row * n : 0) + i];
cleanup:
    free(v);
    return status;
}

fm_status fm_model_load_into(const char *path, const char *group, int row, fm_model *m, fm_err *err)
{
    fm_status status = FM_OK;
    char dset[512], *layout = NULL, *mine = NULL;
    FM_TRY(fm_h5_read_attr_text(path, group, "layout", &layout, err));
    int need = fm_layout_describe(&m->layout, NULL, 0) + 1;
    FM_ALLOC(mine, need);
    fm_layout_describe(&m->layout, mine, need);
    FM_CHECK(strcmp(layout, mine) == 0, FM_EDATA,
             "%s: %s: the stored model has another parameter layout than this policy\nstored:\n%sexpected:\n%s",
             path, group, layout, mine);
    snprintf(dset, sizeof dset, "%s/params", group);
    FM_TRY(read_floats(path, dset, row, m->layout.total, m->w, err));
    int od = fm_nn_obs_dim(&m->spec), ad = m->spec.out_dim;
    float *arr[4] = {m->obs_mean, m->obs_std, m->act_mean, m->act_std};
    const char *names[4] = {"obs_mean", "obs_std", "act_mean", "act_std"};
    for (int i = 0; i < 4; i++) {
        snprintf(dset, sizeof dset, "%s/%s", group, names[i]);
        FM_TRY(read_floats(path, dset, -1, i < 2 ? (size_t)od : (size_t)ad, arr[i], err));
    }
cleanup:
    free(layout), free(mine);
    return status;
}

fm_status fm_model_load(const char *path, const char *group, int row, fm_model *m, fm_err *err)
{
    fm_status status = FM_OK;
    char *spec_text = NULL;
    fm_nn_spec spec;
    *m = (fm_model){0};
    FM_TRY(fm_h5_read_attr_text(path, group, "spec", &spec_text, err));
    FM_TRY(fm_nn_spec_parse(spec_text, &spec, err));
    FM_TRY(fm_model_create(m, &spec, err));
    FM_TRY(fm_model_load_into(path, group, row, m, err));
cleanup:
    if (status != FM_OK)
        fm_model_free(m);
    free(spec_text);
    return status;
}

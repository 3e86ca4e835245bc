/* cfg_sweep.c - values that replace the file's: the command line's --set KEY=VALUE overrides and
 * the point of a sweep section (its axes, zip groups and seeds, every value checked).
 */
#include "config/cfg_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- command-line overrides ---- */

/* The command line's --set KEY=VALUE overrides (fm_cfg_set_overrides): process-wide, set once. */
const char *const *cfg_sets;
int cfg_nsets;

void fm_cfg_set_overrides(const char *const *sets, int n)
{
    cfg_sets = sets;
    cfg_nsets = n > 0 && sets ? n : 0;
}

/* One `--set KEY=VALUE`: VALUE is read as a YAML value (a scalar or a flow list such as [a, b])
 * and set exactly as the file's value of KEY would be, after the file (so it replaces the file's
 * value; a later --set of the same key wins). Explicit tags are not read in overrides. */
static void load_set(cfg_loader *ld, int s)
{
    const char *arg = cfg_sets[s], *eq = strchr(arg, '=');
    yaml_parser_t parser;
    yaml_document_t doc;
    char key[160];
    ld->set_label = arg;
    if (!eq || eq == arg) {
        cfg_report(ld, (cfg_pos){1, 1}, "--set", "expected KEY=VALUE, e.g. fleet.alpha=0.1");
        goto done;
    }
    snprintf(key, sizeof key, "%.*s", (int)((size_t)(eq - arg) < 150 ? eq - arg : 150), arg);
    int i = cfg_key_index(key);
    if (i < 0) {
        cfg_report(ld, (cfg_pos){1, 1}, key, "not a config key (expected section.key, e.g. fleet.alpha)");
        goto done;
    }
    if (!yaml_parser_initialize(&parser)) {
        cfg_report(ld, (cfg_pos){1, 1}, key, "cannot create a YAML parser");
        goto done;
    }
    yaml_parser_set_input_string(&parser, (const unsigned char *)(eq + 1), strlen(eq + 1));
    int have = yaml_parser_load(&parser, &doc);
    const yaml_node_t *root = have ? yaml_document_get_root_node(&doc) : NULL;
    if (!have)
        cfg_report(ld, (cfg_pos){1, 1}, key, "not a YAML value: %s", parser.problem ? parser.problem : "parse error");
    else if (!root)
        cfg_report(ld, (cfg_pos){1, 1}, key, "expected a value after '='");
    else {
        yaml_document_t *file_doc = ld->doc;
        size_t ntags = ld->ntags;
        ld->doc = &doc, ld->ntags = 0; /* the override's own document; the file's tags do not apply */
        ld->seen[i] = 1;
        ld->key_at[i] = (cfg_pos){-1 - s, 0};
        ld->set_of[i] = s + 1;
        ld->bad[i] = !cfg_set_value(ld, &cfg_keys[i], root);
        ld->doc = file_doc, ld->ntags = ntags;
    }
    if (have)
        yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
done:
    ld->set_label = NULL;
}

void cfg_load_sets(cfg_loader *ld)
{
    if (!ld->use_sets || ld->root_bad)
        return;
    for (int s = 0; s < cfg_nsets; s++)
        load_set(ld, s);
}

/* ---- sweeps ---- */

enum { SWEEP_MAX_POINTS = 10000000 };

/* The sweep's axes: a key with its list of values, or a zip group of keys whose lists vary
 * together. A key is swept at most once, so there are at most CFG_NKEYS keys and axes in all:
 * fixed arrays of that size hold any sweep, nothing is dropped. Axis a owns the keys
 * key[first .. first + nkeys). */
typedef struct sweep_axis {
    size_t len;      /* values of each of its keys */
    int first, nkeys;
} sweep_axis;

typedef struct sweep_plan {
    int naxes, nkeys;
    sweep_axis axis[CFG_NKEYS];
    int key[CFG_NKEYS];                 /* index into cfg_keys */
    const yaml_node_t *seq[CFG_NKEYS];  /* the key's list of values */
} sweep_plan;

/* A non-empty list of values for key i, each valid for the key (checked on a scratch config). */
static int sweep_values(cfg_loader *ld, int i, const yaml_node_t *seq, const char *label)
{
    int tag = TAG_NONE;
    if (!cfg_tag_ok(ld, seq, TAGS(TAG_SEQ), label, "", "a non-empty list of values", &tag))
        return 0;
    if (seq->type != YAML_SEQUENCE_NODE || cfg_seq_len(seq) == 0) {
        cfg_report_got(ld, seq, label, "", "a non-empty list of values");
        return 0;
    }
    fm_config *scratch = malloc(sizeof *scratch), *real = ld->out;
    if (!scratch) {
        cfg_report(ld, cfg_pos_of(seq), label, "out of memory checking the values");
        return 0;
    }
    int good = 1;
    ld->out = scratch;
    for (size_t v = 0; v < cfg_seq_len(seq); v++) {
        memcpy(scratch, real, sizeof *scratch);
        good &= cfg_set_value(ld, &cfg_keys[i], cfg_item(ld, seq, v));
    }
    ld->out = real;
    free(scratch);
    return good;
}

/* One entry `key: [values]` (or `seeds: [...]`) of the axis being built, plan->axis[naxes]. */
static int sweep_key(cfg_loader *ld, const yaml_node_t *key, const yaml_node_t *val, sweep_plan *plan,
                     unsigned char *used)
{
    char name[160], label[200];
    int tag = TAG_NONE;
    if (!cfg_tag_ok(ld, key, TAGS(TAG_STR), "sweep", "", "a key name", &tag))
        return 0;
    if (key->type != YAML_SCALAR_NODE) {
        cfg_report_got(ld, key, "sweep", "key ", "a key name");
        return 0;
    }
    size_t n = key->data.scalar.length;
    snprintf(name, sizeof name, "%.*s", (int)(n < 150 ? n : 150), (const char *)key->data.scalar.value);
    int i = cfg_text_is(name, strlen(name), "seeds") ? cfg_key_index("experiment.seed") : cfg_key_index(name);
    snprintf(label, sizeof label, "sweep.%s", name);
    if (i < 0) {
        cfg_report(ld, cfg_pos_of(key), label, "not a config key (expected section.key, e.g. fleet.alpha)");
        return 0;
    }
    if (used[i]) {
        cfg_report(ld, cfg_pos_of(key), label, "swept twice");
        return 0;
    }
    used[i] = 1;
    if (ld->set_of[i]) {
        cfg_report(ld, cfg_pos_of(key), label, "also set by --set %s: a swept key takes its values from the sweep",
                   cfg_sets[ld->set_of[i] - 1]);
        return 0;
    }
    if (!sweep_values(ld, i, val, label))
        return 0;
    sweep_axis *ax = &plan->axis[plan->naxes];
    if (ax->nkeys > 0 && cfg_seq_len(val) != ax->len) {
        cfg_report(ld, cfg_pos_of(val), label, "got %zu values, expected %zu like the rest of its zip group",
                   cfg_seq_len(val), ax->len);
        return 0;
    }
    /* used[] makes every key unique, so the plan cannot be full here */
    ax->len = cfg_seq_len(val);
    plan->key[plan->nkeys] = i, plan->seq[plan->nkeys] = val;
    plan->nkeys++, ax->nkeys++;
    return 1;
}

/* Start axis plan->axis[naxes]; end_axis keeps it if it has keys and all were good. */
static void begin_axis(sweep_plan *plan)
{
    plan->axis[plan->naxes] = (sweep_axis){ .len = 0, .first = plan->nkeys, .nkeys = 0 };
}

static void end_axis(sweep_plan *plan, int good)
{
    sweep_axis *ax = &plan->axis[plan->naxes];
    if (good && ax->nkeys > 0)
        plan->naxes++;
    else
        plan->nkeys = ax->first;
}

/* A `zip: [{k1: [...], k2: [...]}, ...]` entry: one axis per group. */
static int sweep_zip(cfg_loader *ld, const yaml_node_t *val, sweep_plan *plan, unsigned char *used)
{
    int good = 1, tag = TAG_NONE;
    if (!cfg_tag_ok(ld, val, TAGS(TAG_SEQ), "sweep.zip", "", "a list of mappings of equal-length lists", &tag))
        return 0;
    if (val->type != YAML_SEQUENCE_NODE) {
        cfg_report_got(ld, val, "sweep.zip", "", "a list of mappings of equal-length lists");
        return 0;
    }
    for (size_t g = 0; g < cfg_seq_len(val); g++) {
        const yaml_node_t *grp = cfg_item(ld, val, g);
        if (!cfg_tag_ok(ld, grp, TAGS(TAG_MAP), "sweep.zip", "", "a mapping of equal-length lists", &tag)) {
            good = 0;
            continue;
        }
        if (grp->type != YAML_MAPPING_NODE) {
            cfg_report_got(ld, grp, "sweep.zip", "", "a mapping of equal-length lists");
            good = 0;
            continue;
        }
        int ok_grp = 1;
        begin_axis(plan);
        for (yaml_node_pair_t *q = grp->data.mapping.pairs.start; q < grp->data.mapping.pairs.top; q++)
            ok_grp &= sweep_key(ld, yaml_document_get_node(ld->doc, q->key),
                                yaml_document_get_node(ld->doc, q->value), plan, used);
        end_axis(plan, ok_grp);
        good &= ok_grp;
    }
    return good;
}

/* The axes of the sweep section into plan; 0 after reporting problems. */
static int sweep_axes(cfg_loader *ld, sweep_plan *plan)
{
    unsigned char used[CFG_NKEYS] = {0};
    int good = 1, tag = TAG_NONE;
    const yaml_node_t *m = ld->sweep;
    plan->naxes = plan->nkeys = 0;
    if (!cfg_tag_ok(ld, m, TAGS(TAG_MAP), "sweep", "", "a mapping", &tag))
        return 0;
    if (m->type != YAML_MAPPING_NODE) {
        cfg_report(ld, cfg_pos_of(m), "sweep", "expected a mapping");
        return 0;
    }
    for (yaml_node_pair_t *p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *val = yaml_document_get_node(ld->doc, p->value);
        if (key->type == YAML_SCALAR_NODE &&
            cfg_text_is((const char *)key->data.scalar.value, key->data.scalar.length, "zip")) {
            if (cfg_tag_ok(ld, key, TAGS(TAG_STR), "sweep", "", "a key name", &tag))
                good &= sweep_zip(ld, val, plan, used);
            else
                good = 0;
            continue;
        }
        begin_axis(plan);
        int ok = sweep_key(ld, key, val, plan, used);
        end_axis(plan, ok);
        good &= ok;
    }
    return good;
}

/* A value as flow-style text: scalars as written, lists as [a, b] (nested), mappings as {...}. */
static void flow_text(cfg_loader *ld, const yaml_node_t *v, cfg_buf *b)
{
    if (v->type == YAML_SCALAR_NODE) {
        cfg_buf_escaped(b, (const char *)v->data.scalar.value, v->data.scalar.length, 200);
    } else if (v->type == YAML_SEQUENCE_NODE) {
        cfg_buf_putc(b, '[');
        for (size_t i = 0; i < cfg_seq_len(v); i++) {
            if (i)
                cfg_buf_printf(b, ", ");
            flow_text(ld, cfg_item(ld, v, i), b);
        }
        cfg_buf_putc(b, ']');
    } else {
        cfg_buf_printf(b, "{...}");
    }
}

/* Apply point ld->point's values to ld->out; its overrides text ends with "..." if cut. */
static void apply_point(cfg_loader *ld, const sweep_plan *plan)
{
    fm_config *c = ld->out;
    cfg_buf ov = { c->sweep.overrides, sizeof c->sweep.overrides, 0 };
    size_t idx = (size_t)ld->point, digit[CFG_NKEYS];
    for (int a = plan->naxes - 1; a >= 0; a--) /* the last axis varies fastest */
        digit[a] = idx % plan->axis[a].len, idx /= plan->axis[a].len;
    for (int a = 0; a < plan->naxes; a++)
        for (int j = plan->axis[a].first; j < plan->axis[a].first + plan->axis[a].nkeys; j++) {
            int i = plan->key[j];
            const yaml_node_t *v = cfg_item(ld, plan->seq[j], digit[a]);
            ld->seen[i] = 1;
            ld->key_at[i] = cfg_pos_of(v);
            ld->bad[i] = !cfg_set_value(ld, &cfg_keys[i], v);
            cfg_buf_printf(&ov, "%s%s=", ov.len ? " " : "", cfg_keys[i].key);
            flow_text(ld, v, &ov);
        }
    if (ov.len >= ov.cap)
        memcpy(c->sweep.overrides + ov.cap - 4, "...", 4);
    c->sweep.index = ld->point;
}

/* Count the points, validate every value, and apply point ld->point's values to ld->out. */
void cfg_load_sweep(cfg_loader *ld)
{
    sweep_plan *plan = NULL;
    fm_config *c = ld->out;
    c->sweep.count = 1, c->sweep.index = -1, c->sweep.overrides[0] = '\0';
    if (!ld->sweep) {
        if (ld->point >= 0)
            cfg_report(ld, (cfg_pos){1, 1}, "sweep", "got --sweep-index %d, but the config has no sweep section", ld->point);
        return;
    }
    plan = malloc(sizeof *plan);
    if (!plan) {
        cfg_report(ld, cfg_pos_of(ld->sweep), "sweep", "out of memory reading the sweep section");
        return;
    }
    if (!sweep_axes(ld, plan))
        goto done;
    double count = 1;
    for (int a = 0; a < plan->naxes; a++)
        count *= (double)plan->axis[a].len;
    if (count > SWEEP_MAX_POINTS) {
        cfg_report(ld, cfg_pos_of(ld->sweep), "sweep", "got %.0f points, expected at most %d", count, SWEEP_MAX_POINTS);
        goto done;
    }
    c->sweep.count = (int)count;
    if (ld->point < 0)
        goto done;
    if (ld->point >= c->sweep.count) {
        cfg_report(ld, cfg_pos_of(ld->sweep), "sweep", "got index %d, expected an index in [0, %d)", ld->point,
                   c->sweep.count);
        goto done;
    }
    apply_point(ld, plan);
done:
    free(plan);
}

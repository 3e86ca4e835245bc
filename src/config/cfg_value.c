/* cfg_value.c - one YAML value into one field of fm_config, checked against its schema entry:
 * scalars (integers, numbers, booleans, strings, choices), lists of choices or integers, and
 * matrices; every problem is reported as "got X, expected Y" at the value or the element.
 */
#include "config/cfg_internal.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- scalars ---- */

int cfg_is_plain(const yaml_node_t *n)
{
    return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE || n->data.scalar.style == YAML_ANY_SCALAR_STYLE;
}

int cfg_text_is(const char *s, size_t n, const char *word)
{
    return strlen(word) == n && memcmp(s, word, n) == 0;
}

int cfg_is_null_text(const char *s, size_t n)
{
    return n == 0 || cfg_text_is(s, n, "~") || cfg_text_is(s, n, "null") || cfg_text_is(s, n, "Null") ||
           cfg_text_is(s, n, "NULL");
}

/* What a node is, for "got ...": "\"text\"", "null", "a list", "a mapping". */
static void describe(cfg_buf *b, const yaml_node_t *n)
{
    if (!n) {
        cfg_buf_printf(b, "null");
    } else if (n->type == YAML_SEQUENCE_NODE) {
        cfg_buf_printf(b, "a list");
    } else if (n->type == YAML_MAPPING_NODE) {
        cfg_buf_printf(b, "a mapping");
    } else {
        const char *s = (const char *)n->data.scalar.value;
        size_t len = n->data.scalar.length;
        if (cfg_is_plain(n) && cfg_is_null_text(s, len)) {
            cfg_buf_printf(b, "null");
        } else {
            cfg_buf_putc(b, '"');
            cfg_buf_escaped(b, s, len, CFG_GOT_MAX);
            cfg_buf_putc(b, '"');
        }
    }
}

/* Integer literal: [+-]?[0-9]+ that fits in int64. */
static int parse_int(const char *s, size_t n, long long *v)
{
    size_t i = (n > 0 && (s[0] == '+' || s[0] == '-')) ? 1 : 0;
    if (i == n)
        return 0;
    for (size_t j = i; j < n; j++)
        if (s[j] < '0' || s[j] > '9')
            return 0;
    errno = 0;
    char *end = NULL;
    *v = strtoll(s, &end, 10);
    return errno == 0 && end == s + n;
}

/* YAML 1.2 core float without .inf/.nan: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int parse_double(const char *s, size_t n, double *v)
{
    size_t i = 0, digits = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < n && s[i] == '.') {
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, digits++;
    }
    if (digits == 0)
        return 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        size_t exp_digits = 0;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, exp_digits++;
        if (exp_digits == 0)
            return 0;
    }
    if (i != n)
        return 0;
    char *end = NULL;
    *v = strtod(s, &end); /* underflow (to a subnormal or 0): see is_tiny */
    return end == s + n && isfinite(*v);
}

/* A parsed number literal that is subnormal or underflowed to 0 (nonzero digits before the
 * exponent). Such values are never meant and break the solvers, so they are rejected. */
static int is_tiny(const char *s, size_t n, double v)
{
    if (v != 0.0)
        return fabs(v) < DBL_MIN;
    for (size_t i = 0; i < n && s[i] != 'e' && s[i] != 'E'; i++)
        if (s[i] >= '1' && s[i] <= '9')
            return 1;
    return 0;
}

static int parse_bool(const char *s, size_t n, int *v)
{
    static const char *const yes[] = { "true", "True", "yes", "Yes", "on", "On" };
    static const char *const no[] = { "false", "False", "no", "No", "off", "Off" };
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++) {
        if (cfg_text_is(s, n, yes[i])) {
            *v = 1;
            return 1;
        }
        if (cfg_text_is(s, n, no[i])) {
            *v = 0;
            return 1;
        }
    }
    return 0;
}

int cfg_choice_index(const cfg_key *k, const char *s, size_t n)
{
    for (int i = 0; k->choices[i]; i++)
        if (cfg_text_is(s, n, k->choices[i]))
            return i;
    return -1;
}

static const char *type_expect(cfg_type t)
{
    switch (t) {
    case CFG_INT: return "an integer";
    case CFG_DOUBLE: return "a number";
    case CFG_BOOL: return "a boolean";
    case CFG_STRING: return "a string";
    case CFG_ENUM_LIST: return "a list";
    case CFG_MATRIX: return "a list of rows of numbers";
    case CFG_INT_LIST: return "a list of integers";
    default: return "a value";
    }
}

void *cfg_field(fm_config *cfg, const cfg_key *k)
{
    return (char *)cfg + k->offset;
}

const void *cfg_cfield(const fm_config *cfg, const cfg_key *k)
{
    return (const char *)cfg + k->offset;
}

static void store_int(fm_config *cfg, const cfg_key *k, long long v)
{
    if (k->size == sizeof(int64_t)) {
        int64_t x = (int64_t)v;
        memcpy(cfg_field(cfg, k), &x, sizeof x);
    } else {
        int x = (int)v;
        memcpy(cfg_field(cfg, k), &x, sizeof x);
    }
}

long long cfg_load_int(const fm_config *cfg, const cfg_key *k)
{
    if (k->size == sizeof(int64_t)) {
        int64_t x;
        memcpy(&x, cfg_cfield(cfg, k), sizeof x);
        return (long long)x;
    }
    int x;
    memcpy(&x, cfg_cfield(cfg, k), sizeof x);
    return x;
}

/* "got TEXT, expected [0 or ]a value in [lo, hi]" unless v is in range. */
static int check_range(const cfg_key *k, double v, const char *text, size_t n, cfg_buf *msg)
{
    int lo_ok = (k->open & CFG_LO_OPEN) ? v > k->min : v >= k->min;
    int hi_ok = (k->open & CFG_HI_OPEN) ? v < k->max : v <= k->max;
    if ((lo_ok && hi_ok) || (v == 0.0 && (k->flags & CFG_ZERO_OK)))
        return 1;
    cfg_buf_printf(msg, "got ");
    cfg_buf_escaped(msg, text, n, CFG_GOT_MAX);
    char lo = (k->open & CFG_LO_OPEN) ? '(' : '[', hi = (k->open & CFG_HI_OPEN) ? ')' : ']';
    const char *zero = (k->flags & CFG_ZERO_OK) ? "0 or " : "";
    if (k->type == CFG_INT)
        cfg_buf_printf(msg, ", expected %sa value in %c%lld, %lld%c", zero, lo, (long long)k->min, (long long)k->max,
                       hi);
    else
        cfg_buf_printf(msg, ", expected %sa value in %c%g, %g%c", zero, lo, k->min, k->max, hi);
    return 0;
}

static void tiny_message(cfg_buf *msg, const char *s, size_t n)
{
    cfg_buf_printf(msg, "got ");
    cfg_buf_escaped(msg, s, n, CFG_GOT_MAX);
    cfg_buf_printf(msg, ", expected 0 or a magnitude of at least %.17g (no subnormal numbers)", DBL_MIN);
}

/* A Slurm time limit as sbatch --time takes it: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS
 * (every field one or more digits), or "" (unset). */
static int check_slurm_time(const char *s, size_t n, cfg_buf *msg)
{
    size_t fields = 0, digits = 0;
    int day = 0, ok = n == 0;
    for (size_t i = 0; i <= n && n > 0; i++) {
        char c = i < n ? s[i] : '\0';
        if (c >= '0' && c <= '9') {
            digits++;
            continue;
        }
        if (digits == 0 || digits > 6 || (c != ':' && c != '-' && c != '\0') || (c == '-' && (day || fields)))
            break;
        day |= c == '-';
        fields++, digits = 0;
        if (c == '\0')
            ok = fields <= (day ? 4u : 3u);
    }
    if (ok)
        return 1;
    cfg_buf_printf(msg, "got \"");
    cfg_buf_escaped(msg, s, n, CFG_GOT_MAX);
    cfg_buf_printf(msg, "\", expected a Slurm time limit (MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM or D-HH:MM:SS) or \"\"");
    return 0;
}

static int check_dirname(const char *s, size_t n, cfg_buf *msg)
{
    if (n == 0) {
        cfg_buf_printf(msg, "got \"\", expected a non-empty name");
        return 0;
    }
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-')) {
            cfg_buf_printf(msg, "got \"");
            cfg_buf_escaped(msg, s, n, CFG_GOT_MAX);
            cfg_buf_printf(msg, "\", expected only letters, digits, '.', '_' and '-' (it names a directory)");
            return 0;
        }
    }
    if (cfg_text_is(s, n, ".") || cfg_text_is(s, n, "..")) {
        cfg_buf_printf(msg, "got \"%.*s\", expected a directory name other than \".\" and \"..\"", (int)n, s);
        return 0;
    }
    return 1;
}

/* Parse scalar text for key k into cfg. `quoted`: the YAML scalar was quoted (a string).
 * On failure writes "got ..., expected ..." into msg and returns 0. */
int cfg_set_scalar(const cfg_key *k, const char *s, size_t n, int quoted, fm_config *cfg, cfg_buf *msg)
{
    long long iv = 0;
    double dv = 0;
    int bv = 0;
    if (!quoted && cfg_is_null_text(s, n)) {
        cfg_buf_printf(msg, "got null, expected %s", k->type == CFG_ENUM ? "one of " : type_expect(k->type));
        if (k->type == CFG_ENUM)
            cfg_buf_choices(msg, k);
        return 0;
    }
    int ok = 1;
    switch (k->type) {
    case CFG_INT:
        ok = !quoted && parse_int(s, n, &iv);
        if (ok && !check_range(k, (double)iv, s, n, msg))
            return 0;
        if (ok)
            store_int(cfg, k, iv);
        break;
    case CFG_DOUBLE:
        ok = !quoted && parse_double(s, n, &dv);
        if (ok && is_tiny(s, n, dv)) {
            tiny_message(msg, s, n);
            return 0;
        }
        if (ok && !check_range(k, dv, s, n, msg))
            return 0;
        if (ok)
            memcpy(cfg_field(cfg, k), &dv, sizeof dv);
        break;
    case CFG_BOOL:
        ok = !quoted && parse_bool(s, n, &bv);
        if (ok)
            memcpy(cfg_field(cfg, k), &bv, sizeof bv);
        break;
    case CFG_STRING:
        if (memchr(s, '\0', n)) {
            cfg_buf_printf(msg, "got a string with a NUL character, expected text");
            return 0;
        }
        size_t longest = k->max > 0 ? (size_t)k->max : k->size - 1;
        if (n > longest) {
            cfg_buf_printf(msg, "got a string of %zu bytes, expected at most %zu", n, longest);
            return 0;
        }
        if ((k->flags & CFG_DIRPATH) && n == 0) {
            cfg_buf_printf(msg, "got \"\", expected a directory (write \".\" for the current one)");
            return 0;
        }
        if ((k->flags & CFG_DIRNAME) && !check_dirname(s, n, msg))
            return 0;
        if ((k->flags & CFG_SLURMTIME) && !check_slurm_time(s, n, msg))
            return 0;
        memset(cfg_field(cfg, k), 0, k->size);
        memcpy(cfg_field(cfg, k), s, n);
        break;
    case CFG_ENUM:
        iv = cfg_choice_index(k, s, n);
        if (iv < 0 && !quoted && strcmp(k->key, "merge.gl_normalize") == 0 && parse_bool(s, n, &bv))
            iv = bv ? FM_GL_NORM_DETERMINANT : FM_GL_NORM_NONE; /* the boolean of results files before issue 12 */
        if (iv < 0) {
            cfg_buf_printf(msg, "got \"");
            cfg_buf_escaped(msg, s, n, CFG_GOT_MAX);
            cfg_buf_printf(msg, "\", expected one of ");
            cfg_buf_choices(msg, k);
            return 0;
        }
        store_int(cfg, k, iv);
        break;
    default:
        ok = 0;
        break;
    }
    if (!ok) {
        cfg_buf_printf(msg, "got \"");
        cfg_buf_escaped(msg, s, n, CFG_GOT_MAX);
        cfg_buf_printf(msg, "\", expected %s%s", type_expect(k->type), quoted ? " (remove the quotes)" : "");
        return 0;
    }
    return 1;
}

/* ---- lists and matrices (need the document, report at the element) ---- */

yaml_node_t *cfg_item(cfg_loader *ld, const yaml_node_t *seq, size_t i)
{
    return yaml_document_get_node(ld->doc, seq->data.sequence.items.start[i]);
}

size_t cfg_seq_len(const yaml_node_t *seq)
{
    return (size_t)(seq->data.sequence.items.top - seq->data.sequence.items.start);
}

/* Report "got <node>, expected <what>" at node. */
void cfg_report_got(cfg_loader *ld, const yaml_node_t *node, const char *key, const char *prefix, const char *what)
{
    char text[256];
    cfg_buf b = { text, sizeof text, 0 };
    text[0] = '\0';
    describe(&b, node);
    cfg_report(ld, cfg_pos_of(node), key, "%sgot %s, expected %s", prefix, text, what);
}

static int set_enum_list(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node)
{
    char choices[200], expect[256];
    cfg_buf c = { choices, sizeof choices, 0 };
    cfg_buf_choices(&c, k);
    snprintf(expect, sizeof expect, "one of %s", choices);
    if (node->type != YAML_SEQUENCE_NODE) {
        cfg_report_got(ld, node, k->key, "", "a list");
        return 0;
    }
    size_t n = cfg_seq_len(node), cap = k->size / sizeof(int);
    if (n == 0) {
        cfg_report(ld, cfg_pos_of(node), k->key, "got an empty list, expected at least one of %s", choices);
        return 0;
    }
    int *vals = cfg_field(ld->out, k), count = 0, ok = 1, tag = TAG_NONE;
    memset(vals, 0, k->size);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = cfg_item(ld, node, i);
        int v = -1;
        if (!cfg_tag_ok(ld, it, TAGS(TAG_STR), k->key, "", "one of the choices", &tag)) {
            ok = 0;
            continue;
        }
        if (it->type == YAML_SCALAR_NODE)
            v = cfg_choice_index(k, (const char *)it->data.scalar.value, it->data.scalar.length);
        if (v < 0) {
            cfg_report_got(ld, it, k->key, "", expect);
            ok = 0;
            continue;
        }
        int dup = 0;
        for (int j = 0; j < count; j++)
            dup |= vals[j] == v;
        if (dup) {
            cfg_report(ld, cfg_pos_of(it), k->key, "got \"%s\" twice, expected each at most once", k->choices[v]);
            ok = 0;
            continue;
        }
        if ((size_t)count < cap) /* cannot overflow: no duplicates among cap choices */
            vals[count++] = v;
    }
    memcpy((char *)ld->out + k->count_offset, &count, sizeof count);
    return ok;
}

/* A non-empty list of integers, each in [min, max], at most as many as the field holds. */
static int set_int_list(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        cfg_report_got(ld, node, k->key, "", type_expect(CFG_INT_LIST));
        return 0;
    }
    size_t n = cfg_seq_len(node), cap = k->size / sizeof(int);
    if (n == 0 || n > cap) {
        cfg_report(ld, cfg_pos_of(node), k->key, "got %zu entries, expected a list of 1 to %zu integers", n, cap);
        return 0;
    }
    int *vals = cfg_field(ld->out, k), count = 0, ok = 1;
    memset(vals, 0, k->size);
    for (size_t i = 0; i < n; i++) {
        const yaml_node_t *it = cfg_item(ld, node, i);
        char prefix[48], msg[256];
        cfg_buf b = { msg, sizeof msg, 0 };
        long long v = 0;
        int tag = TAG_NONE;
        snprintf(prefix, sizeof prefix, "entry %zu: ", i + 1);
        msg[0] = '\0';
        if (!cfg_tag_ok(ld, it, TAGS(TAG_INT), k->key, prefix, "an integer", &tag)) {
            ok = 0;
            continue;
        }
        const char *s = it->type == YAML_SCALAR_NODE ? (const char *)it->data.scalar.value : "";
        size_t len = it->type == YAML_SCALAR_NODE ? it->data.scalar.length : 0;
        if (it->type != YAML_SCALAR_NODE || (tag == TAG_NONE && !cfg_is_plain(it)) || !parse_int(s, len, &v)) {
            cfg_report_got(ld, it, k->key, prefix, "an integer");
            ok = 0;
            continue;
        }
        if (!check_range(k, (double)v, s, len, &b)) {
            cfg_report(ld, cfg_pos_of(it), k->key, "%s%s", prefix, msg);
            ok = 0;
            continue;
        }
        vals[count++] = (int)v;
    }
    memcpy((char *)ld->out + k->count_offset, &count, sizeof count);
    return ok;
}

/* Shape of a list of rows; reports the first problem. */
static int matrix_shape(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node, int *rows, int *cols)
{
    if (node->type != YAML_SEQUENCE_NODE) {
        cfg_report_got(ld, node, k->key, "", type_expect(CFG_MATRIX));
        return 0;
    }
    size_t n = cfg_seq_len(node), m = 0;
    if (n == 0) {
        cfg_report(ld, cfg_pos_of(node), k->key, "got an empty list, expected %s", type_expect(CFG_MATRIX));
        return 0;
    }
    if (cfg_item(ld, node, 0)->type == YAML_SCALAR_NODE) {
        cfg_report(ld, cfg_pos_of(node), k->key, "got a list of numbers, expected %s (e.g. [[1, 0], [0, 1]])",
                   type_expect(CFG_MATRIX));
        return 0;
    }
    for (size_t r = 0; r < n; r++) {
        const yaml_node_t *row = cfg_item(ld, node, r);
        char prefix[48];
        int tag = TAG_NONE;
        snprintf(prefix, sizeof prefix, "row %zu: ", r + 1);
        if (!cfg_tag_ok(ld, row, TAGS(TAG_SEQ), k->key, prefix, "a list of numbers", &tag))
            return 0;
        if (row->type != YAML_SEQUENCE_NODE) {
            cfg_report_got(ld, row, k->key, prefix, "a list of numbers");
            return 0;
        }
        size_t len = cfg_seq_len(row);
        if (len == 0) {
            cfg_report(ld, cfg_pos_of(row), k->key, "%sgot an empty list, expected a list of numbers", prefix);
            return 0;
        }
        if (r == 0) {
            m = len;
        } else if (len != m) {
            cfg_report(ld, cfg_pos_of(row), k->key, "%sgot length %zu, expected length %zu like row 1", prefix, len, m);
            return 0;
        }
    }
    if (n > FM_CFG_MAT_MAX || m > FM_CFG_MAT_MAX / n) {
        cfg_report(ld, cfg_pos_of(node), k->key, "got %zu x %zu = %zu entries, expected at most %d", n, m, n * m,
                   FM_CFG_MAT_MAX);
        return 0;
    }
    *rows = (int)n;
    *cols = (int)m;
    return 1;
}

static int set_matrix(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node)
{
    int rows = 0, cols = 0;
    fm_cfg_matrix *mat = cfg_field(ld->out, k);
    memset(mat, 0, sizeof *mat);
    if (!matrix_shape(ld, k, node, &rows, &cols))
        return 0;
    for (int r = 0; r < rows; r++) {
        const yaml_node_t *row = cfg_item(ld, node, (size_t)r);
        char prefix[48];
        snprintf(prefix, sizeof prefix, "row %d: ", r + 1);
        for (int c = 0; c < cols; c++) {
            const yaml_node_t *x = cfg_item(ld, row, (size_t)c);
            double v = 0;
            int tag = TAG_NONE;
            if (!cfg_tag_ok(ld, x, TAGS(TAG_INT) | TAGS(TAG_FLOAT), k->key, prefix, "a number", &tag)) {
                memset(mat, 0, sizeof *mat);
                return 0;
            }
            const char *s = x->type == YAML_SCALAR_NODE ? (const char *)x->data.scalar.value : "";
            size_t n = x->type == YAML_SCALAR_NODE ? x->data.scalar.length : 0;
            if (x->type != YAML_SCALAR_NODE || (tag == TAG_NONE && !cfg_is_plain(x)) || !parse_double(s, n, &v)) {
                cfg_report_got(ld, x, k->key, prefix, "a number");
                memset(mat, 0, sizeof *mat);
                return 0;
            }
            if (is_tiny(s, n, v) || fabs(v) > CFG_MAT_ABS_MAX) {
                char what[96];
                snprintf(what, sizeof what, "a number of magnitude 0 or in [%.17g, %g]", DBL_MIN, CFG_MAT_ABS_MAX);
                cfg_report_got(ld, x, k->key, prefix, what);
                memset(mat, 0, sizeof *mat);
                return 0;
            }
            mat->v[r * cols + c] = v;
        }
    }
    mat->rows = rows;
    mat->cols = cols;
    return 1;
}

/* The explicit tags allowed on a value of type t (TAGS() bits). */
static unsigned type_tags(cfg_type t)
{
    switch (t) {
    case CFG_INT: return TAGS(TAG_INT);
    case CFG_DOUBLE: return TAGS(TAG_INT) | TAGS(TAG_FLOAT);
    case CFG_BOOL: return TAGS(TAG_BOOL);
    case CFG_STRING:
    case CFG_ENUM: return TAGS(TAG_STR);
    default: return TAGS(TAG_SEQ);
    }
}

int cfg_set_value(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node)
{
    int tag = TAG_NONE;
    if (!cfg_tag_ok(ld, node, type_tags(k->type), k->key, "",
                    k->type == CFG_ENUM ? "one of the choices" : type_expect(k->type), &tag))
        return 0;
    if (k->type == CFG_ENUM_LIST)
        return set_enum_list(ld, k, node);
    if (k->type == CFG_MATRIX)
        return set_matrix(ld, k, node);
    if (k->type == CFG_INT_LIST)
        return set_int_list(ld, k, node);
    if (node->type != YAML_SCALAR_NODE) {
        if (k->type == CFG_ENUM) {
            char expect[256];
            cfg_buf e = { expect, sizeof expect, 0 };
            cfg_buf_printf(&e, "one of ");
            cfg_buf_choices(&e, k);
            cfg_report_got(ld, node, k->key, "", expect);
        } else {
            cfg_report_got(ld, node, k->key, "", type_expect(k->type));
        }
        return 0;
    }
    const char *s = (const char *)node->data.scalar.value;
    size_t n = node->data.scalar.length;
    long long iv = 0;
    if (tag == TAG_INT && k->type == CFG_DOUBLE && !parse_int(s, n, &iv)) {
        char text[CFG_GOT_MAX + 8];
        cfg_buf t = { text, sizeof text, 0 };
        text[0] = '\0';
        cfg_buf_escaped(&t, s, n, CFG_GOT_MAX);
        cfg_report(ld, cfg_pos_of(node), k->key, "got !!int \"%s\", expected an integer literal (or no tag)", text);
        return 0;
    }
    char msg[512];
    cfg_buf b = { msg, sizeof msg, 0 };
    msg[0] = '\0';
    /* a standard tag says how to read the text: !!str as a string, the others as plain */
    int quoted = tag == TAG_STR ? 1 : tag != TAG_NONE ? 0 : !cfg_is_plain(node);
    if (cfg_set_scalar(k, s, n, quoted, ld->out, &b))
        return 1;
    cfg_report(ld, cfg_pos_of(node), k->key, "%s", msg);
    return 0;
}

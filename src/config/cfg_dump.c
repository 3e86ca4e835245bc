/* cfg_dump.c - text out of the schema: the growing text buffer every message and the dump are
 * written into, the defaults, the resolved-config dump (YAML that loads back to the same config)
 * and the names of enum values.
 */
#include "config/cfg_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char cfg_dump_header[] = "# resolved fleetmerge config (defaults filled)\n";

/* ---- text output: a growing count of needed bytes, written while room lasts ---- */

void cfg_buf_printf(cfg_buf *b, const char *fmt, ...)
{
    va_list ap;
    char dummy[1];
    int room = b->len < b->cap;
    va_start(ap, fmt);
    int n = vsnprintf(room ? b->p + b->len : dummy, room ? b->cap - b->len : sizeof dummy, fmt, ap);
    va_end(ap);
    if (n > 0)
        b->len += (size_t)n;
}

void cfg_buf_putc(cfg_buf *b, char c)
{
    if (b->len + 1 < b->cap) {
        b->p[b->len] = c;
        b->p[b->len + 1] = '\0';
    } else if (b->len < b->cap) {
        b->p[b->len] = '\0'; /* truncated: keep the string terminated */
    }
    b->len++;
}

/* The body of a YAML double-quoted scalar (no quotes), at most `max` input bytes then "...". */
void cfg_buf_escaped(cfg_buf *b, const char *s, size_t n, size_t max)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (i == max) {
            cfg_buf_printf(b, "...");
            return;
        }
        if (c == '"' || c == '\\')
            cfg_buf_printf(b, "\\%c", c);
        else if (c == '\n')
            cfg_buf_printf(b, "\\n");
        else if (c == '\t')
            cfg_buf_printf(b, "\\t");
        else if (c == '\r')
            cfg_buf_printf(b, "\\r");
        else if (c < 0x20 || c == 0x7f)
            cfg_buf_printf(b, "\\x%02x", c);
        else
            cfg_buf_putc(b, (char)c);
    }
}

/* "[a, b, c]" of an enum's choices. */
void cfg_buf_choices(cfg_buf *b, const cfg_key *k)
{
    cfg_buf_putc(b, '[');
    for (int i = 0; k->choices[i]; i++)
        cfg_buf_printf(b, "%s%s", i ? ", " : "", k->choices[i]);
    cfg_buf_putc(b, ']');
}

/* ---- defaults, dump, names ---- */

/* Default of an enum list, written "[a, b, c]". */
static void default_list(const cfg_key *k, fm_config *out)
{
    int *vals = cfg_field(out, k), count = 0, cap = (int)(k->size / sizeof(int));
    const char *s = k->def;
    while (*s && count < cap) {
        while (*s == '[' || *s == ' ' || *s == ',')
            s++;
        size_t n = strcspn(s, ",]");
        int v = k->type == CFG_INT_LIST ? atoi(s) : cfg_choice_index(k, s, n);
        if (n == 0)
            break;
        if (v >= 0)
            vals[count++] = v;
        s += n;
        if (*s == ']')
            break;
    }
    memcpy((char *)out + k->count_offset, &count, sizeof count);
}

void fm_cfg_defaults(fm_config *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    out->sweep.count = 1, out->sweep.index = -1;
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const cfg_key *k = &cfg_keys[i];
        char scratch[256];
        cfg_buf msg = { scratch, sizeof scratch, 0 };
        if (!k->def)
            continue;
        if (k->type == CFG_ENUM_LIST || k->type == CFG_INT_LIST)
            default_list(k, out);
        else /* defaults are valid by construction; test_config checks every one */
            (void)cfg_set_scalar(k, k->def, strlen(k->def), k->type == CFG_STRING, out, &msg);
    }
}

/* Length of a fixed-size string field (it always holds a NUL, but do not trust it). */
static size_t field_strlen(const char *s, size_t cap)
{
    const char *nul = memchr(s, '\0', cap);
    return nul ? (size_t)(nul - s) : cap;
}

static void dump_value(cfg_buf *b, const cfg_key *k, const fm_config *cfg)
{
    const void *p = cfg_cfield(cfg, k);
    int iv = 0;
    double dv = 0;
    switch (k->type) {
    case CFG_INT: cfg_buf_printf(b, "%lld", cfg_load_int(cfg, k)); break;
    case CFG_DOUBLE:
        memcpy(&dv, p, sizeof dv);
        cfg_buf_printf(b, "%.17g", dv); /* 17 digits: re-loading gives the same bits */
        break;
    case CFG_BOOL:
        memcpy(&iv, p, sizeof iv);
        cfg_buf_printf(b, "%s", iv ? "true" : "false");
        break;
    case CFG_STRING:
        cfg_buf_putc(b, '"');
        cfg_buf_escaped(b, p, field_strlen(p, k->size), k->size);
        cfg_buf_putc(b, '"');
        break;
    case CFG_ENUM: {
        const char *name = fm_cfg_enum_name(k->key, (int)cfg_load_int(cfg, k));
        if (name)
            cfg_buf_printf(b, "%s", name);
        else /* corrupt value: printed so it shows, and so the dump does not re-load */
            cfg_buf_printf(b, "%lld", cfg_load_int(cfg, k));
        break;
    }
    case CFG_ENUM_LIST: {
        int count = 0;
        memcpy(&count, (const char *)cfg + k->count_offset, sizeof count);
        cfg_buf_putc(b, '[');
        for (int i = 0; i < count && i < (int)(k->size / sizeof(int)); i++) {
            memcpy(&iv, (const char *)p + (size_t)i * sizeof(int), sizeof iv);
            const char *name = fm_cfg_enum_name(k->key, iv);
            if (name)
                cfg_buf_printf(b, "%s%s", i ? ", " : "", name);
            else
                cfg_buf_printf(b, "%s%d", i ? ", " : "", iv);
        }
        cfg_buf_putc(b, ']');
        break;
    }
    case CFG_INT_LIST: {
        int count = 0;
        memcpy(&count, (const char *)cfg + k->count_offset, sizeof count);
        cfg_buf_putc(b, '[');
        for (int i = 0; i < count && i < (int)(k->size / sizeof(int)); i++) {
            memcpy(&iv, (const char *)p + (size_t)i * sizeof(int), sizeof iv);
            cfg_buf_printf(b, "%s%d", i ? ", " : "", iv);
        }
        cfg_buf_putc(b, ']');
        break;
    }
    case CFG_MATRIX: {
        const fm_cfg_matrix *m = p;
        cfg_buf_putc(b, '[');
        for (int r = 0; r < m->rows; r++) {
            cfg_buf_printf(b, "%s[", r ? ", " : "");
            for (int c = 0; c < m->cols; c++)
                cfg_buf_printf(b, "%s%.17g", c ? ", " : "", m->v[r * m->cols + c]);
            cfg_buf_putc(b, ']');
        }
        cfg_buf_putc(b, ']');
        break;
    }
    default: break;
    }
}

int fm_cfg_dump(const fm_config *cfg, char *buf, int cap)
{
    cfg_buf b = { buf, (buf && cap > 0) ? (size_t)cap : 0, 0 };
    const char *section = NULL;
    size_t section_n = 0;
    if (b.cap)
        buf[0] = '\0';
    if (!cfg)
        return 0;
    cfg_buf_printf(&b, "%s", cfg_dump_header);
    for (size_t i = 0; i < CFG_NKEYS; i++) {
        const cfg_key *k = &cfg_keys[i];
        size_t n = cfg_section_len(k->key);
        if (k->type == CFG_MATRIX && ((const fm_cfg_matrix *)cfg_cfield(cfg, k))->rows <= 0)
            continue; /* not given */
        if (!section || n != section_n || memcmp(section, k->key, n) != 0) {
            section = k->key;
            section_n = n;
            cfg_buf_printf(&b, "%.*s:\n", (int)n, k->key);
        }
        cfg_buf_printf(&b, "  %s: ", k->key + n + 1);
        dump_value(&b, k, cfg);
        cfg_buf_putc(&b, '\n');
    }
    return b.len > (size_t)0x7fffffff ? 0x7fffffff : (int)b.len;
}

const char *fm_cfg_enum_name(const char *key, int value)
{
    if (!key || value < 0)
        return NULL;
    int i = cfg_key_index(key);
    if (i < 0 || (cfg_keys[i].type != CFG_ENUM && cfg_keys[i].type != CFG_ENUM_LIST))
        return NULL;
    for (int j = 0; cfg_keys[i].choices[j]; j++)
        if (j == value)
            return cfg_keys[i].choices[j];
    return NULL;
}

fm_status fm_cfg_dump_alloc(const fm_config *cfg, char **out, fm_err *err)
{
    fm_status status = FM_OK;
    *out = NULL;
    int need = fm_cfg_dump(cfg, NULL, 0) + 1;
    FM_ALLOC(*out, need);
    fm_cfg_dump(cfg, *out, need);
cleanup:
    return status;
}

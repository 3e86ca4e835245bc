/* cfg_load.c - loading a config: the loader's state and error list, the explicit YAML tags, the
 * walk over the document's sections and keys, and the load itself (size limit -> a pass over the
 * parse events -> defaults -> the document -> --set overrides -> the sweep point -> the checks).
 */
#define _POSIX_C_SOURCE 200809L /* fstat, fileno */
#include "config/cfg_internal.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* ---- the loader: positions, seen keys and the error list of one load ---- */

static const char *const tag_names[TAG_COUNT] = {
    "", "!!str", "!!int", "!!float", "!!bool", "!!null", "!!seq", "!!map", "",
};

cfg_pos cfg_pos_of(const yaml_node_t *node)
{
    cfg_pos p = { 1, 1 };
    if (node) {
        p.line = (int)node->start_mark.line + 1;
        p.col = (int)node->start_mark.column + 1;
    }
    return p;
}

static void add_line(cfg_loader *ld, const char *line)
{
    fm_err *err = ld->err;
    ld->nerr++;
    if (!err)
        return;
    if (ld->nerr == 1) {
        ld->owns_msg = err->code == FM_OK;
        fm_fail(err, FM_ECONFIG, "%s", line);
        ld->msglen = strlen(err->msg);
        return;
    }
    if (!ld->owns_msg)
        return;
    size_t n = strlen(line);
    if (ld->dropped || ld->msglen + 1 + n + CFG_MSG_RESERVE >= sizeof err->msg) {
        ld->dropped++;
        return;
    }
    err->msg[ld->msglen] = '\n';
    memcpy(err->msg + ld->msglen + 1, line, n + 1);
    ld->msglen += 1 + n;
}

/* Record `FILE:LINE:COL: KEY: MESSAGE`. */
void cfg_report(cfg_loader *ld, cfg_pos at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void cfg_report(cfg_loader *ld, cfg_pos at, const char *key, const char *fmt, ...)
{
    char line[CFG_LINE_MAX];
    va_list ap;
    /* a key set on the command line is reported as its override (line -1 - s: override s) */
    const char *set = ld->set_label ? ld->set_label : at.line < 0 ? cfg_sets[-1 - at.line] : NULL;
    int n = set ? snprintf(line, sizeof line, "%s: --set %s: %s: ", ld->name, set, key)
                : snprintf(line, sizeof line, "%s:%d:%d: %s: ", ld->name, at.line, at.col, key);
    if (n >= 0 && (size_t)n < sizeof line) {
        va_start(ap, fmt);
        vsnprintf(line + n, sizeof line - (size_t)n, fmt, ap);
        va_end(ap);
    }
    add_line(ld, line);
}

/* Close the list: "... (N more errors)" if some did not fit. */
static void finish_errors(cfg_loader *ld)
{
    fm_err *err = ld->err;
    if (!err || !ld->owns_msg || !ld->dropped)
        return;
    snprintf(err->msg + ld->msglen, sizeof err->msg - ld->msglen, "\n... (%d more errors)", ld->dropped);
}

/* ---- explicit tags ---- */

/* The tag of node n as written (TAG_NONE if untagged); *text gets its name for messages. */
static int node_tag(const cfg_loader *ld, const yaml_node_t *n, const char **text)
{
    size_t lo = 0, hi = ld->ntags, at = n->start_mark.index;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ld->tags[mid].index < at)
            lo = mid + 1;
        else
            hi = mid;
    }
    for (; lo < ld->ntags && ld->tags[lo].index == at; lo++)
        if (ld->tags[lo].kind == (int)n->type) {
            *text = ld->tags[lo].text;
            return ld->tags[lo].id;
        }
    *text = "";
    return TAG_NONE;
}

/* An explicit tag on n must be one of `allowed` (TAGS() bits): else report "PREFIXgot tag T,
 * expected WHAT (untagged or ...)" at n and return 0. *id gets the tag (TAG_NONE if none). */
int cfg_tag_ok(cfg_loader *ld, const yaml_node_t *n, unsigned allowed, const char *key, const char *prefix,
               const char *what, int *id)
{
    const char *text = "";
    *id = node_tag(ld, n, &text);
    if (*id == TAG_NONE || (allowed & TAGS(*id)))
        return 1;
    char list[96];
    cfg_buf b = { list, sizeof list, 0 };
    int count = 0, shown = 0;
    list[0] = '\0';
    for (int t = TAG_STR; t < TAG_OTHER; t++)
        count += (allowed & TAGS(t)) != 0;
    cfg_buf_printf(&b, "untagged");
    for (int t = TAG_STR; t < TAG_OTHER; t++)
        if (allowed & TAGS(t))
            cfg_buf_printf(&b, "%s%s", ++shown == count ? " or " : ", ", tag_names[t]);
    cfg_report(ld, cfg_pos_of(n), key, "%sgot tag %s, expected %s (%s)", prefix, text, what, list);
    return 0;
}

/* ---- walking the document ---- */

cfg_section *cfg_find_section(cfg_loader *ld, const char *s, size_t n)
{
    for (int i = 0; i < ld->nsec; i++)
        if (cfg_text_is(s, n, ld->sec[i].name))
            return &ld->sec[i];
    return NULL;
}

/* "section.key" (escaped) for messages about a key that may not exist. */
static void key_label(char *out, size_t cap, const char *sec, const yaml_node_t *key)
{
    cfg_buf b = { out, cap, 0 };
    out[0] = '\0';
    if (sec)
        cfg_buf_printf(&b, "%s.", sec);
    cfg_buf_escaped(&b, (const char *)key->data.scalar.value, key->data.scalar.length, CFG_GOT_MAX);
}

static void load_section(cfg_loader *ld, const char *sec, const yaml_node_t *map)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *val = yaml_document_get_node(ld->doc, p->value);
        char label[160];
        int tag = TAG_NONE;
        if (!cfg_tag_ok(ld, key, TAGS(TAG_STR), sec, "", "a key name", &tag))
            continue;
        if (key->type != YAML_SCALAR_NODE) {
            cfg_report_got(ld, key, sec, "key ", "a key name");
            continue;
        }
        int i = cfg_find_key(sec, (const char *)key->data.scalar.value, key->data.scalar.length);
        if (i < 0) {
            key_label(label, sizeof label, sec, key);
            cfg_report(ld, cfg_pos_of(key), label, "unknown key");
            continue;
        }
        if (ld->seen[i]) {
            cfg_report(ld, cfg_pos_of(key), cfg_keys[i].key, "duplicate key");
            continue;
        }
        ld->seen[i] = 1;
        ld->key_at[i] = cfg_pos_of(key);
        if (!cfg_set_value(ld, &cfg_keys[i], val))
            ld->bad[i] = 1;
    }
}

static void load_root(cfg_loader *ld, const yaml_node_t *root)
{
    int tag = TAG_NONE;
    if (!root) /* empty document: like an empty mapping */
        return;
    if (!cfg_tag_ok(ld, root, TAGS(TAG_MAP), "config", "", "a mapping", &tag)) {
        ld->root_bad = 1;
        return;
    }
    if (root->type != YAML_MAPPING_NODE) {
        cfg_report(ld, cfg_pos_of(root), "config", "expected a mapping");
        ld->root_bad = 1;
        return;
    }
    for (yaml_node_pair_t *p = root->data.mapping.pairs.start; p < root->data.mapping.pairs.top; p++) {
        const yaml_node_t *key = yaml_document_get_node(ld->doc, p->key);
        const yaml_node_t *val = yaml_document_get_node(ld->doc, p->value);
        char label[160];
        if (!cfg_tag_ok(ld, key, TAGS(TAG_STR), "config", "", "a section name", &tag))
            continue;
        if (key->type != YAML_SCALAR_NODE) {
            cfg_report_got(ld, key, "config", "key ", "a section name");
            continue;
        }
        const char *name = (const char *)key->data.scalar.value;
        size_t n = key->data.scalar.length;
        int sweep = cfg_text_is(name, n, "sweep");
        key_label(label, sizeof label, NULL, key);
        if (!sweep && !cfg_is_section(name, n)) {
            cfg_report(ld, cfg_pos_of(key), label, "unknown section");
            continue;
        }
        if (cfg_find_section(ld, name, n)) {
            cfg_report(ld, cfg_pos_of(key), label, "duplicate key");
            continue;
        }
        if (ld->nsec == CFG_MAX_SECTIONS) /* cannot happen: sections are unique and few */
            continue;
        cfg_section *sec = &ld->sec[ld->nsec++];
        sec->name = name;
        sec->at = cfg_pos_of(val);
        sec->bad = 0;
        if (sweep) { /* read after the sections (sweep values override them) */
            ld->sweep = val;
            continue;
        }
        if (!cfg_tag_ok(ld, val, TAGS(TAG_MAP), label, "", "a mapping", &tag)) {
            sec->bad = 1;
            continue;
        }
        if (val->type == YAML_SCALAR_NODE && cfg_is_plain(val) &&
            cfg_is_null_text((const char *)val->data.scalar.value, val->data.scalar.length))
            continue; /* "section:" with nothing under it */
        if (val->type != YAML_MAPPING_NODE) {
            cfg_report(ld, cfg_pos_of(val), label, "expected a mapping");
            sec->bad = 1;
            continue;
        }
        load_section(ld, name, val);
    }
}

/* ---- loading ---- */

static void copy_source(fm_config *out, const char *name)
{
    size_t n = strlen(name);
    if (n >= sizeof out->source)
        n = sizeof out->source - 1; /* messages use the full name; `source` keeps a prefix */
    memset(out->source, 0, sizeof out->source);
    memcpy(out->source, name, n);
}

/* Line and column (1-based; columns count characters, like libyaml's marks) of byte `offset`. */
static cfg_pos pos_of_offset(const char *text, size_t len, size_t offset)
{
    cfg_pos at = { 1, 1 };
    size_t i = (len >= 3 && memcmp(text, "\xef\xbb\xbf", 3) == 0) ? 3 : 0; /* libyaml skips a BOM */
    if (offset > len)
        offset = len;
    for (; i < offset; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '\n' || (c == '\r' && (i + 1 == len || text[i + 1] != '\n')))
            at.line++, at.col = 1;
        else if ((c & 0xc0) != 0x80 && c != '\r') /* not a UTF-8 continuation byte */
            at.col++;
    }
    return at;
}

static void report_yaml(cfg_loader *ld, const yaml_parser_t *parser)
{
    const char *problem = parser->problem ? parser->problem : "cannot parse the document";
    if (parser->error == YAML_READER_ERROR) { /* encoding errors: no problem_mark, a byte offset */
        cfg_pos at = pos_of_offset(ld->text, ld->len, parser->problem_offset);
        if (parser->problem_value >= 0)
            cfg_report(ld, at, "yaml", "%s (byte 0x%02x)", problem, (unsigned)parser->problem_value);
        else
            cfg_report(ld, at, "yaml", "%s", problem);
        return;
    }
    cfg_pos at = { (int)parser->problem_mark.line + 1, (int)parser->problem_mark.column + 1 };
    cfg_report(ld, at, "yaml", "%s", problem);
}

/* TAG_* of a resolved tag ("tag:yaml.org,2002:int" for !!int). */
static int tag_id(const char *tag)
{
    static const char core[] = "tag:yaml.org,2002:";
    if (strncmp(tag, core, sizeof core - 1) != 0)
        return TAG_OTHER;
    for (int t = TAG_STR; t < TAG_OTHER; t++)
        if (strcmp(tag + sizeof core - 1, tag_names[t] + 2) == 0)
            return t;
    return TAG_OTHER;
}

/* Record the explicit tag (NULL: none) of a node of `kind` that starts at `mark`. */
static fm_status add_tag(cfg_loader *ld, const yaml_char_t *tag, yaml_mark_t mark, int kind, fm_err *err)
{
    static const char core[] = "tag:yaml.org,2002:";
    fm_status status = FM_OK;
    if (!tag)
        goto cleanup;
    if (ld->ntags == ld->tags_cap) {
        size_t cap = ld->tags_cap ? 2 * ld->tags_cap : 16;
        cfg_tag *grown = realloc(ld->tags, cap * sizeof *grown);
        FM_CHECK(grown, FM_ENOMEM, "%s: out of memory reading YAML tags", ld->name);
        ld->tags = grown, ld->tags_cap = cap;
    }
    cfg_tag *t = &ld->tags[ld->ntags++];
    const char *s = (const char *)tag;
    cfg_buf b = { t->text, sizeof t->text, 0 };
    t->index = mark.index, t->kind = kind, t->id = tag_id(s);
    t->text[0] = '\0';
    if (strncmp(s, core, sizeof core - 1) == 0) { /* shown as written: !!name */
        cfg_buf_printf(&b, "!!");
        s += sizeof core - 1;
    }
    cfg_buf_escaped(&b, s, strlen(s), CFG_TAG_TEXT - 8);
cleanup:
    return status;
}

static int tag_order(const void *a, const void *b)
{
    const cfg_tag *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

/* A pass over the parse events before yaml_parser_load builds the document. It reports YAML
 * errors, refuses lists and mappings nested deeper than CFG_DEPTH_MAX at the first level too
 * deep (libyaml's scanner is quadratic in the nesting depth; the pass stops there, after
 * ~1 KB of look-ahead, not at the end of the file), and records the explicit tags. *ok = 0
 * after reporting a problem; the status is FM_ENOMEM or FM_OK. */
static fm_status scan_events(cfg_loader *ld, int *ok, fm_err *err)
{
    fm_status status = FM_OK;
    yaml_parser_t parser;
    yaml_event_t ev;
    int have_parser = 0, have_event = 0, depth = 0, done = 0;
    *ok = 1;
    FM_CHECK(yaml_parser_initialize(&parser), FM_ENOMEM, "%s: cannot create a YAML parser", ld->name);
    have_parser = 1;
    yaml_parser_set_input_string(&parser, (const unsigned char *)ld->text, ld->len);
    while (!done) {
        if (!yaml_parser_parse(&parser, &ev)) {
            FM_CHECK(parser.error != YAML_MEMORY_ERROR, FM_ENOMEM, "%s: out of memory parsing YAML", ld->name);
            report_yaml(ld, &parser);
            *ok = 0;
            break;
        }
        have_event = 1;
        if (ev.type == YAML_SEQUENCE_START_EVENT || ev.type == YAML_MAPPING_START_EVENT) {
            int seq = ev.type == YAML_SEQUENCE_START_EVENT;
            if (++depth > CFG_DEPTH_MAX) {
                cfg_pos at = { (int)ev.start_mark.line + 1, (int)ev.start_mark.column + 1 };
                cfg_report(ld, at, "yaml", "got lists and mappings nested %d deep, expected at most %d", depth,
                           CFG_DEPTH_MAX);
                *ok = 0;
                done = 1;
            } else {
                FM_TRY(add_tag(ld, seq ? ev.data.sequence_start.tag : ev.data.mapping_start.tag, ev.start_mark,
                               seq ? YAML_SEQUENCE_NODE : YAML_MAPPING_NODE, err));
            }
        } else if (ev.type == YAML_SEQUENCE_END_EVENT || ev.type == YAML_MAPPING_END_EVENT) {
            depth--;
        } else if (ev.type == YAML_SCALAR_EVENT) {
            FM_TRY(add_tag(ld, ev.data.scalar.tag, ev.start_mark, YAML_SCALAR_NODE, err));
        } else if (ev.type == YAML_STREAM_END_EVENT) {
            done = 1;
        }
        yaml_event_delete(&ev);
        have_event = 0;
    }
    if (ld->ntags > 1) /* already in document order; sorted for the binary search all the same */
        qsort(ld->tags, ld->ntags, sizeof *ld->tags, tag_order);
cleanup:
    if (have_event)
        yaml_event_delete(&ev);
    if (have_parser)
        yaml_parser_delete(&parser);
    return status;
}

/* Load the document from `parser` into ld->out and run every check. Problems with the config go
 * to the loader's error list; the return value is FM_ENOMEM or FM_OK. The checks run before the
 * document is freed: the loader's section names point into it. */
static fm_status load_document(cfg_loader *ld, yaml_parser_t *parser, fm_err *err)
{
    fm_status status = FM_OK;
    yaml_document_t doc, extra;
    int have_doc = 0, have_extra = 0;

    have_doc = yaml_parser_load(parser, &doc);
    FM_CHECK(have_doc || parser->error != YAML_MEMORY_ERROR, FM_ENOMEM, "%s: out of memory parsing YAML",
             ld->name);
    if (!have_doc) {
        report_yaml(ld, parser);
        goto cleanup;
    }
    ld->doc = &doc;
    load_root(ld, yaml_document_get_root_node(&doc));
    cfg_load_sets(ld);
    cfg_load_sweep(ld);
    have_extra = yaml_parser_load(parser, &extra); /* must be the end of the stream */
    FM_CHECK(have_extra || parser->error != YAML_MEMORY_ERROR, FM_ENOMEM, "%s: out of memory parsing YAML",
             ld->name);
    if (!have_extra)
        report_yaml(ld, parser);
    else if (yaml_document_get_root_node(&extra))
        cfg_report(ld, cfg_pos_of(yaml_document_get_root_node(&extra)), "yaml",
                   "expected one document, found a second one");
    cfg_check_all(ld);

cleanup:
    ld->doc = NULL;
    if (have_extra)
        yaml_document_delete(&extra);
    if (have_doc)
        yaml_document_delete(&doc);
    return status;
}

static fm_status cfg_load(const char *text, size_t len, const char *name, int point, int use_sets,
                          fm_config *out, fm_err *err)
{
    fm_status status = FM_OK;
    yaml_parser_t parser;
    int have_parser = 0, ok = 0;
    cfg_loader ld;

    memset(&ld, 0, sizeof ld);
    ld.point = point;
    ld.use_sets = use_sets;
    ld.name = name;
    ld.text = text;
    ld.len = len;
    ld.err = err;
    ld.out = out;
    fm_cfg_defaults(out);
    copy_source(out, name);

    FM_CHECK(len <= (size_t)CFG_FILE_MAX, FM_ECONFIG,
             "%s: got %zu bytes, expected a config of at most %ld bytes (1 MiB)", name, len, CFG_FILE_MAX);
    FM_TRY(scan_events(&ld, &ok, err));
    if (ok) {
        FM_CHECK(yaml_parser_initialize(&parser), FM_ENOMEM, "%s: cannot create a YAML parser", name);
        have_parser = 1;
        yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
        FM_TRY(load_document(&ld, &parser, err));
    }
    if (ld.nerr > 0) {
        finish_errors(&ld);
        status = FM_ECONFIG;
        fm_err_at(err, __FILE__, __LINE__);
    }

cleanup:
    if (have_parser)
        yaml_parser_delete(&parser);
    free(ld.tags);
    return status;
}

fm_status fm_cfg_load_string(const char *text, const char *name, fm_config *out, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(text && out, FM_EINVAL, "fm_cfg_load_string: NULL %s", text ? "out" : "text");
    FM_TRY(cfg_load(text, strlen(text), name ? name : "<string>", -1, 0, out, err));
cleanup:
    return status;
}

static const char *file_kind(mode_t mode)
{
    if (S_ISDIR(mode))
        return "a directory";
    if (S_ISCHR(mode))
        return "a character device";
    if (S_ISBLK(mode))
        return "a block device";
    if (S_ISFIFO(mode))
        return "a pipe";
    return "a special file";
}

/* Whole file into a malloc'd buffer (*text, *len). A config is a regular file of at most
 * CFG_FILE_MAX bytes: anything else is a config error (exit code 2), said before reading. */
static fm_status read_file(const char *path, char **text, size_t *len, fm_err *err)
{
    fm_status status = FM_OK;
    size_t cap = 0, n = 0;
    char *buf = NULL;
    struct stat st;
    FILE *f = NULL;
    *text = NULL;
    /* a FIFO would block fopen before fstat could refuse it: look first (fstat below still decides) */
    FM_CHECK(stat(path, &st) != 0 || S_ISREG(st.st_mode), FM_ECONFIG,
             "cannot read config '%s': not a regular file (%s)", path, file_kind(st.st_mode));
    f = fopen(path, "rb");
    /* a config that cannot be opened is a usage error (exit code 2), not an I/O failure */
    FM_CHECK(f, FM_ECONFIG, "cannot open config '%s': %s", path, strerror(errno));
    FM_CHECK(fstat(fileno(f), &st) == 0, FM_EIO, "cannot read config '%s': %s", path, strerror(errno));
    FM_CHECK(S_ISREG(st.st_mode), FM_ECONFIG, "cannot read config '%s': not a regular file (%s)", path,
             file_kind(st.st_mode));
    FM_CHECK(st.st_size <= CFG_FILE_MAX, FM_ECONFIG,
             "cannot read config '%s': got %lld bytes, expected at most %ld (1 MiB)", path, (long long)st.st_size,
             CFG_FILE_MAX);
    cap = (size_t)st.st_size + 1; /* one more: a file that grew since fstat is noticed */
    buf = malloc(cap + 1);
    FM_CHECK(buf, FM_ENOMEM, "out of memory reading config '%s'", path);
    for (;;) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0)
            break;
        if (n == cap) { /* it grew: read on, up to one byte more than the limit */
            FM_CHECK(cap <= (size_t)CFG_FILE_MAX, FM_ECONFIG,
                     "cannot read config '%s': got more than %ld bytes, expected at most %ld (1 MiB)", path,
                     CFG_FILE_MAX, CFG_FILE_MAX);
            size_t ncap = 2 * cap > (size_t)CFG_FILE_MAX + 1 ? (size_t)CFG_FILE_MAX + 1 : 2 * cap;
            char *nb = realloc(buf, ncap + 1);
            FM_CHECK(nb, FM_ENOMEM, "out of memory reading config '%s'", path);
            buf = nb, cap = ncap;
        }
    }
    FM_CHECK(!ferror(f), FM_EIO, "cannot read config '%s': %s", path, strerror(errno));
    buf[n] = '\0';
    *text = buf;
    *len = n;
    buf = NULL;
cleanup:
    free(buf);
    if (f)
        fclose(f);
    return status;
}

fm_status fm_cfg_load_point(const char *path, int index, fm_config *out, fm_err *err)
{
    fm_status status = FM_OK;
    char *text = NULL;
    size_t len = 0;
    FM_CHECK(path && out, FM_EINVAL, "fm_cfg_load_file: NULL %s", path ? "out" : "path");
    FM_TRY(read_file(path, &text, &len, err));
    FM_TRY(cfg_load(text, len, path, index, 1, out, err));
cleanup:
    free(text);
    return status;
}

fm_status fm_cfg_load_file(const char *path, fm_config *out, fm_err *err)
{
    return fm_cfg_load_point(path, -1, out, err);
}

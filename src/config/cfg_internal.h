/* cfg_internal.h - what the files of the config loader share (src/config/cfg_*.c); not for callers,
 * who use config/cfg.h.
 *
 * fleetmerge configuration: YAML (libyaml document API) -> typed, validated fm_config.
 * Everything is driven by one schema table, cfg_keys[] (cfg_schema.c): parsing, defaults, range and
 * choice checks, fm_cfg_dump and fm_cfg_enum_name all walk it, and docs/config.md mirrors it.
 * Loading is: size limit -> a pass over libyaml's parse events (nesting depth limit, explicit
 * tags recorded) -> defaults -> one pass over the YAML document (type, tag, range, choice,
 * duplicate and unknown-key errors, each at the line:col of the key or value) -> required keys
 * -> checks that involve several keys. Every error of a pass is collected into err->msg, one per
 * line.
 *
 *   cfg_schema.c  the schema table and the lookups by key name
 *   cfg_load.c    the loader (state, error list, explicit tags), walking the document, loading
 *   cfg_value.c   one value into its field: scalars, lists, matrices
 *   cfg_sweep.c   --set overrides and sweep points
 *   cfg_check.c   the checks after the pass (cross-key rules)
 *   cfg_dump.c    text output, defaults, the dump, enum names
 */
#ifndef FM_CFG_INTERNAL_H
#define FM_CFG_INTERNAL_H

#include "config/cfg.h"

#include <stddef.h>

#include <yaml.h>

/* ---- the schema (cfg_schema.c) ---- */

typedef enum cfg_type {
    CFG_INT = 0,   /* int or int64_t field; YAML integer literal */
    CFG_DOUBLE,    /* double; YAML int, decimal or exponent literal, finite */
    CFG_BOOL,      /* int 0/1; true/false/yes/no/on/off */
    CFG_STRING,    /* char[FM_CFG_STR] */
    CFG_ENUM,      /* int, index into choices */
    CFG_ENUM_LIST, /* int[], YAML sequence of choices, count in count_offset */
    CFG_MATRIX,    /* fm_cfg_matrix, YAML list of rows of numbers */
    CFG_INT_LIST,  /* int[], YAML sequence of integers in [min, max], count in count_offset */
    CFG_TYPE_COUNT
} cfg_type;

enum { CFG_LO_OPEN = 1, CFG_HI_OPEN = 2 };  /* cfg_key.open: bound excluded */
enum {                                      /* cfg_key.flags */
    CFG_REQUIRED = 1,
    CFG_DIRNAME = 2,  /* CFG_STRING: a directory name, [A-Za-z0-9._-], not . or .. */
    CFG_DIRPATH = 4,  /* CFG_STRING: a directory path, not "" */
    CFG_ZERO_OK = 8,  /* CFG_DOUBLE: 0 is allowed besides [min, max] */
    CFG_SLURMTIME = 16, /* CFG_STRING: "" or a Slurm time limit (sbatch --time's formats) */
};
#define CFG_MAX_CHOICES 12

typedef struct cfg_key {
    const char *key;       /* "section.name" */
    cfg_type type;
    size_t offset, size;   /* of the field in fm_config */
    size_t count_offset;   /* CFG_ENUM_LIST, CFG_INT_LIST: offset of the int element count */
    const char *def;       /* default as YAML text ("[a, b]" for lists); NULL: no default */
    double min, max;       /* CFG_INT, CFG_DOUBLE: allowed range; CFG_STRING: max = longest (0: the field) */
    int open;              /* CFG_LO_OPEN | CFG_HI_OPEN */
    const char *choices[CFG_MAX_CHOICES + 1]; /* enums: names in the order of the C enum, NULL-ended */
    int flags;             /* CFG_REQUIRED | CFG_DIRNAME | CFG_DIRPATH | CFG_ZERO_OK */
    const char *meaning;   /* one line; docs/config.md says the same */
} cfg_key;

#define CFG_NKEYS 123 /* entries of cfg_keys[]; cfg_schema.c checks it at compile time */
extern const cfg_key cfg_keys[]; /* sized by its initializers, not CFG_NKEYS, so the check sees a wrong count */

/* Length of the section part of "section.key". */
size_t cfg_section_len(const char *key);
/* 1 if some key's section is the n bytes at s. */
int cfg_is_section(const char *s, size_t n);
/* Index of key `section.<the n bytes at s>` in cfg_keys, -1 if none. */
int cfg_find_key(const char *sec, const char *s, size_t n);
/* Index of "section.key" in cfg_keys, -1 if none. */
int cfg_key_index(const char *key);

#define CFG_MAX_SECTIONS 16
#define CFG_GOT_MAX 60       /* characters of a bad value quoted in a message */
#define CFG_LINE_MAX 1024    /* one error line */
#define CFG_MSG_RESERVE 40   /* room kept in err->msg for "... (N more errors)" */
#define CFG_FILE_MAX (1L << 20) /* bytes of a config (file or string) */
#define CFG_DEPTH_MAX 64     /* nesting of lists and mappings, counted from the top-level mapping */
#define CFG_TAG_TEXT 40      /* characters of a tag kept for messages */
#define CFG_MAT_ABS_MAX 1e6  /* largest magnitude of a matrix entry */

/* ---- text output (cfg_dump.c): a growing count of needed bytes, written while room lasts ---- */

typedef struct cfg_buf {
    char *p;
    size_t cap, len; /* len: bytes needed so far (may exceed cap) */
} cfg_buf;

void cfg_buf_printf(cfg_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cfg_buf_putc(cfg_buf *b, char c);
/* The body of a YAML double-quoted scalar (no quotes), at most `max` input bytes then "...". */
void cfg_buf_escaped(cfg_buf *b, const char *s, size_t n, size_t max);
/* "[a, b, c]" of an enum's choices. */
void cfg_buf_choices(cfg_buf *b, const cfg_key *k);

/* ---- the loader (cfg_load.c): positions, seen keys and the error list of one load ---- */

typedef struct cfg_pos {
    int line, col; /* 1-based */
} cfg_pos;

/* Explicit YAML tags. libyaml's document API replaces a missing tag by the default one, so the
 * tags as written are recorded from the parse events (scan_events) and looked up by the node's
 * start position and kind. */
typedef enum cfg_tag_id {
    TAG_NONE = 0, /* untagged */
    TAG_STR, TAG_INT, TAG_FLOAT, TAG_BOOL, TAG_NULL, TAG_SEQ, TAG_MAP,
    TAG_OTHER,    /* any other tag: !foo, !, !!binary, ... */
    TAG_COUNT
} cfg_tag_id;
#define TAGS(id) (1u << (id))

typedef struct cfg_tag {
    size_t index;             /* start_mark.index of the tagged node (characters) */
    int kind;                 /* yaml_node_type_t of the node */
    int id;                   /* cfg_tag_id */
    char text[CFG_TAG_TEXT];  /* the tag for messages: "!!str", "!foo" */
} cfg_tag;

typedef struct cfg_section {
    const char *name; /* points into the YAML document */
    cfg_pos at;       /* the section's value (its mapping) */
    int bad;          /* not a mapping: its keys are not reported missing */
} cfg_section;

typedef struct cfg_loader {
    const char *name; /* file name used in messages */
    const char *text; /* the config's bytes (for the positions of encoding errors) */
    size_t len;
    fm_err *err;
    yaml_document_t *doc;
    fm_config *out;
    int nerr;     /* errors reported */
    int dropped;  /* errors that did not fit in err->msg */
    int owns_msg; /* err->msg holds our first error (err was clear) */
    size_t msglen;
    int root_bad; /* top level is not a mapping */
    unsigned char seen[CFG_NKEYS], bad[CFG_NKEYS];
    cfg_pos key_at[CFG_NKEYS];
    int nsec;
    cfg_section sec[CFG_MAX_SECTIONS];
    const yaml_node_t *sweep; /* the sweep section's mapping, if any */
    int point;                /* sweep point to load, -1 = none */
    cfg_tag *tags;            /* explicit tags, sorted by index (malloc'ed) */
    size_t ntags, tags_cap;
    int use_sets;             /* apply the command line's --set overrides (file loads) */
    const char *set_label;    /* while an override is applied: its "KEY=VALUE" (messages) */
    int set_of[CFG_NKEYS];    /* 1 + the override that set key i, 0 = none */
} cfg_loader;

/* The command line's --set KEY=VALUE overrides (fm_cfg_set_overrides, cfg_sweep.c): process-wide, set once. */
extern const char *const *cfg_sets;
extern int cfg_nsets;

/* Position (1-based) of a node; 1:1 for NULL. */
cfg_pos cfg_pos_of(const yaml_node_t *node);
/* Record `FILE:LINE:COL: KEY: MESSAGE`. */
void cfg_report(cfg_loader *ld, cfg_pos at, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* An explicit tag on n must be one of `allowed` (TAGS() bits), else reported; *id gets the tag. */
int cfg_tag_ok(cfg_loader *ld, const yaml_node_t *n, unsigned allowed, const char *key, const char *prefix,
               const char *what, int *id);
/* The loader's record of the top-level section of that name, NULL if not given. */
cfg_section *cfg_find_section(cfg_loader *ld, const char *s, size_t n);

/* ---- values (cfg_value.c) ---- */

int cfg_is_plain(const yaml_node_t *n);
int cfg_text_is(const char *s, size_t n, const char *word);
int cfg_is_null_text(const char *s, size_t n);
/* Index of the n bytes at s among k's choices, -1 if none. */
int cfg_choice_index(const cfg_key *k, const char *s, size_t n);
/* k's field in cfg. */
void *cfg_field(fm_config *cfg, const cfg_key *k);
const void *cfg_cfield(const fm_config *cfg, const cfg_key *k);
/* An int or int64_t field of CFG_INT or CFG_ENUM. */
long long cfg_load_int(const fm_config *cfg, const cfg_key *k);
/* Parse scalar text for key k into cfg. `quoted`: the YAML scalar was quoted (a string).
 * On failure writes "got ..., expected ..." into msg and returns 0. */
int cfg_set_scalar(const cfg_key *k, const char *s, size_t n, int quoted, fm_config *cfg, cfg_buf *msg);
/* Item i of a sequence node; its length. */
yaml_node_t *cfg_item(cfg_loader *ld, const yaml_node_t *seq, size_t i);
size_t cfg_seq_len(const yaml_node_t *seq);
/* Report "PREFIXgot <node>, expected <what>" at node. */
void cfg_report_got(cfg_loader *ld, const yaml_node_t *node, const char *key, const char *prefix, const char *what);
/* Set key k of ld->out from node (any type); 0 after reporting a problem. */
int cfg_set_value(cfg_loader *ld, const cfg_key *k, const yaml_node_t *node);

/* ---- overrides and sweeps (cfg_sweep.c), checks (cfg_check.c) ---- */

/* Apply the --set overrides (file loads only), after the file's values. */
void cfg_load_sets(cfg_loader *ld);
/* Count the sweep's points, validate every value, and apply point ld->point's values to ld->out. */
void cfg_load_sweep(cfg_loader *ld);
/* Every check after the pass (required keys, cross-key rules). */
void cfg_check_all(cfg_loader *ld);

#endif

/* fuzz_config.c - libFuzzer harness for the YAML config loader (src/config/cfg.h).
 *
 * Input: the bytes of a config file. They are written to one scratch file per process (under
 * $TMPDIR, else /dev/shm, else /tmp) because fm_cfg_load_point takes a path. The harness loads
 * the base config, then, when the text mentions a sweep section, the sweep points 0, count - 1,
 * one chosen by the input's hash and `count` (out of range, an error path). A successfully
 * loaded config is dumped (fm_cfg_dump_alloc) and the dump is loaded back from memory: the
 * checkpoint reader compares such dumps, so a dump that does not reload is a bug (abort).
 * Any other status is fine; crashes, leaks, UB and timeouts are the findings.
 * Seeds: tests/fuzz/corpus/fuzz_config/; dictionary: tests/fuzz/fuzz_config.dict.
 */
#define _GNU_SOURCE /* memmem */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/cfg.h"
#include "fuzz_common.h"

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    fuzz_setup("fuzz_config", ".yaml");
    return 0;
}

/* FNV-1a of the input: picks a sweep point deterministically. */
static uint32_t hash_bytes(const uint8_t *data, size_t size)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < size; i++)
        h = (h ^ data[i]) * 16777619u;
    return h;
}

/* A loaded config must dump to YAML that loads again, to the same dump. */
static void check_roundtrip(const fm_config *cfg)
{
    fm_err err;
    char *dump = NULL, *again = NULL;
    fm_config *back = malloc(sizeof *back);
    if (!back)
        return;
    fm_err_clear(&err);
    if (fm_cfg_dump_alloc(cfg, &dump, &err) == FM_OK) {
        fm_err_clear(&err);
        if (fm_cfg_load_string(dump, "<dump>", back, &err) != FM_OK) {
            fprintf(stderr, "fuzz_config: the dump of a loaded config does not reload:\n%s\n--- dump:\n%s\n",
                    err.msg, dump);
            abort();
        }
        back->sweep = cfg->sweep; /* not part of the dump */
        fm_err_clear(&err);
        if (fm_cfg_dump_alloc(back, &again, &err) == FM_OK && strcmp(dump, again) != 0) {
            fprintf(stderr, "fuzz_config: dump -> load -> dump differs:\n--- first:\n%s\n--- second:\n%s\n",
                    dump, again);
            abort();
        }
    }
    free(again);
    free(dump);
    free(back);
}

static void load_point(int index, fm_config *cfg)
{
    fm_err err;
    char what[64];
    fm_err_clear(&err);
    fm_status st = fm_cfg_load_point(scratch_path, index, cfg, &err);
    snprintf(what, sizeof what, "fm_cfg_load_point(%d)", index);
    report(what, st, &err);
    if (st == FM_OK)
        check_roundtrip(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fm_config *cfg = calloc(1, sizeof *cfg); /* ~100 KB: not on the stack */
    if (!cfg)
        return 0;
    cfg->sweep.count = 1;
    write_scratch(data, size);
    load_point(-1, cfg);
    int count = cfg->sweep.count; /* set by the loader (also when the config has errors) */
    if (memmem(data, size, "sweep", 5)) {
        if (count < 1)
            count = 1;
        int pick = (int)(hash_bytes(data, size) % (uint32_t)count);
        load_point(0, cfg);
        if (count > 1)
            load_point(count - 1, cfg);
        if (pick != 0 && pick != count - 1)
            load_point(pick, cfg);
        load_point(count, cfg); /* out of range: an error */
    }
    free(cfg);
    return 0;
}

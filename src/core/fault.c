/* fault.c - see fault.h. The parsed FLEET_FAULT is process-wide state, written once by
 * fm_fault_init (before any phase runs) and only read afterwards. */
#include "core/fault.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { FAULT_MAX = 16, FAULT_PHASE = 64 };

typedef struct fault_entry {
    char phase[FAULT_PHASE]; /* "merge" matches every "merge:METHOD" */
    int rank;
    fm_fault_kind kind;
} fault_entry;

static const char *PHASES[] = {"data",     "training",   "merge",    "pooled",  "task_specific",
                               "finetune", "evaluation", "barriers", "results", "collective_write",
                               "checkpoint", "resume"};
static const char PHASE_LIST[] = "data, training, merge (or merge:METHOD), pooled, task_specific, finetune, "
                                 "evaluation, barriers, results, collective_write, checkpoint, resume";

static struct {
    int rank;
    int n;
    fault_entry e[FAULT_MAX];
    int nonfinite_robot, nonfinite_round; /* the "ROBOT,ROUND" form; -1 when unset */
} faults = {.rank = -1, .nonfinite_robot = -1, .nonfinite_round = -1};

const char *fm_fault_phases(void) { return PHASE_LIST; }

/* A known phase name, or merge:METHOD with a non-empty METHOD. */
static int known_phase(const char *p)
{
    if (!strncmp(p, "merge:", 6))
        return p[6] != '\0';
    for (size_t i = 0; i < sizeof PHASES / sizeof PHASES[0]; i++)
        if (!strcmp(p, PHASES[i]))
            return 1;
    return 0;
}

/* One entry "PHASE@RANK[:hang]" (NUL-terminated, modified in place) into *e. */
static fm_status parse_entry(char *s, fault_entry *e, fm_err *err)
{
    char *at = strrchr(s, '@'), *mode = NULL, *end = NULL;
    if (!at)
        return fm_fail(err, FM_EINVAL, "FLEET_FAULT: '%s': expected PHASE@RANK[:hang]", s);
    *at = '\0';
    mode = strchr(at + 1, ':');
    if (mode)
        *mode++ = '\0';
    long r = strtol(at + 1, &end, 10);
    if (end == at + 1 || *end || r < 0 || r > 1000000)
        return fm_fail(err, FM_EINVAL, "FLEET_FAULT: '%s@%s': RANK must be an integer >= 0", s, at + 1);
    if (!known_phase(s) || strlen(s) >= FAULT_PHASE)
        return fm_fail(err, FM_EINVAL, "FLEET_FAULT: unknown phase '%s', expected one of: %s", s, PHASE_LIST);
    if (mode && strcmp(mode, "hang"))
        return fm_fail(err, FM_EINVAL, "FLEET_FAULT: '%s@%ld:%s': the only mode is 'hang'", s, r, mode);
    memcpy(e->phase, s, strlen(s) + 1); /* shorter than FAULT_PHASE: checked above */
    e->rank = (int)r;
    e->kind = mode ? FM_FAULT_HANG : FM_FAULT_FAIL;
    return FM_OK;
}

/* The older "ROBOT,ROUND" form: nonzero (and recorded) when spec is exactly two integers. */
static int parse_nonfinite(const char *spec)
{
    int robot = -1, round = -1, used = 0;
    if (sscanf(spec, "%d,%d%n", &robot, &round, &used) != 2 || spec[used] != '\0')
        return 0;
    faults.nonfinite_robot = robot;
    faults.nonfinite_round = round;
    return 1;
}

fm_status fm_fault_init(int rank, fm_err *err)
{
    fm_status status = FM_OK;
    const char *spec = getenv("FLEET_FAULT");
    char buf[1024];
    faults.rank = rank;
    faults.n = 0;
    if (!spec || !spec[0] || parse_nonfinite(spec))
        return FM_OK;
    FM_CHECK(strlen(spec) < sizeof buf, FM_EINVAL, "FLEET_FAULT: longer than %zu characters", sizeof buf - 1);
    snprintf(buf, sizeof buf, "%s", spec);
    fault_entry parsed[FAULT_MAX];
    int n = 0;
    for (char *tok = buf, *next = NULL; tok; tok = next) {
        next = strchr(tok, ',');
        if (next)
            *next++ = '\0';
        FM_CHECK(n < FAULT_MAX, FM_EINVAL, "FLEET_FAULT: more than %d entries", FAULT_MAX);
        FM_TRY(parse_entry(tok, &parsed[n], err));
        n++;
    }
    memcpy(faults.e, parsed, sizeof(fault_entry) * (size_t)n);
    faults.n = n;
cleanup:
    return status;
}

/* Entry phase `want` matches the call site's `phase`: equal, or "merge" for any "merge:METHOD". */
static int phase_matches(const char *want, const char *phase)
{
    size_t len = strlen(want);
    return !strcmp(want, phase) || (!strncmp(want, phase, len) && phase[len] == ':');
}

fm_fault_kind fm_fault(const char *phase)
{
    for (int i = 0; phase && i < faults.n; i++)
        if (faults.e[i].rank == faults.rank && phase_matches(faults.e[i].phase, phase))
            return faults.e[i].kind;
    return FM_FAULT_NONE;
}

fm_status fm_fault_fail(fm_err *err, const char *phase)
{
    return fm_fail(err, FM_EIO, "rank %d: injected fault in %s (FLEET_FAULT)", faults.rank, phase);
}

int fm_fault_nonfinite(int round)
{
    return faults.nonfinite_robot >= 0 && faults.nonfinite_robot == faults.rank && faults.nonfinite_round == round;
}

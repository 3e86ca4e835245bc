/* fault.h - fault injection for the tests: FLEET_FAULT makes chosen ranks fail at chosen phases.
 *
 *   FLEET_FAULT=PHASE@RANK[:hang][,PHASE@RANK[:hang]...]
 *
 * PHASE is one of the names in fm_fault_phases() (docs: README "Testing", docs/faults.md);
 * `merge` matches every merge method and `merge:METHOD` (e.g. merge:git_rebasin) only that one.
 * RANK is the MPI rank (robot) that fails. Without a mode the rank returns an ordinary error
 * "rank R: injected fault in PHASE (FLEET_FAULT)" at that point; with `:hang` it stops there
 * forever (the caller arms the watchdog first: io/guard.h), to prove that a stuck rank ends the job.
 * The older form "ROBOT,ROUND" (two integers, nothing else) makes that robot's parameters
 * non-finite after its local training in merging round ROUND (1-based): fm_fault_nonfinite().
 * Unset or empty: no faults (normal use). Process-wide, set once before any phase runs. */
#ifndef FM_FAULT_H
#define FM_FAULT_H

#include "core/core.h"

typedef enum fm_fault_kind {
    FM_FAULT_NONE = 0, /* this rank does not fail here */
    FM_FAULT_FAIL,     /* return an ordinary error */
    FM_FAULT_HANG,     /* stop here forever */
    FM_FAULT_KIND_COUNT
} fm_fault_kind;

/* Parse FLEET_FAULT for this process's MPI rank. FM_EINVAL naming the bad entry and the valid
 * phases when the variable is malformed (no fault is then injected anywhere). */
fm_status fm_fault_init(int rank, fm_err *err);
/* What this rank should do at `phase` (a name of fm_fault_phases(), or "merge:METHOD"). */
fm_fault_kind fm_fault(const char *phase);
/* Record the ordinary error of an injected fault at `phase` in err; returns FM_EIO. */
fm_status fm_fault_fail(fm_err *err, const char *phase);
/* Nonzero when this rank's parameters are to be made non-finite in merging round `round` (1-based). */
int fm_fault_nonfinite(int round);
/* The phase names, comma separated (for messages and --help). */
const char *fm_fault_phases(void);

#endif

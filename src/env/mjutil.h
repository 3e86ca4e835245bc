/* mjutil.h - what the MuJoCo benchmarks (tooluse, multitask) share: compiling an MJCF text held in
 * memory, quieting MuJoCo's warnings, and the bad-state test after a step. */
#ifndef FM_MJUTIL_H
#define FM_MJUTIL_H

#include <mujoco/mujoco.h>

/* Compile the MJCF text xml through an in-memory file; NULL on failure with MuJoCo's message (or
 * "out of memory") in errbuf. */
mjModel *fm_mj_load_xml(const char *xml, char *errbuf, int errsz);

/* MuJoCo's warnings (e.g. "Linesearch objective is not convex") would be printed on stdout by the
 * default handler; the ones that matter (bad qpos / qvel / qacc) are read from d->warning after
 * every step instead (fm_mj_unstable). MuJoCo's errors keep their default handler (print and
 * exit): they only come from running out of memory in mj_makeData / mj_copyModel, and a handler
 * that returned would let MuJoCo continue on a NULL buffer. Installs the quiet warning handler. */
void fm_mj_quiet_warnings(void);

/* 1 if MuJoCo reported a bad qpos, qvel or qacc in d (it then resets the state: the episode is
 * over), else 0. */
int fm_mj_unstable(const mjData *d);

#endif

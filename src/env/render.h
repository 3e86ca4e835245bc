/* render.h - offscreen, CPU-only rendering of MuJoCo scenes (OSMesa + llvmpipe) and PNG output,
 * for `fleet render` (PNG frames of tool-use episodes).
 *
 * One renderer per process at a time: OSMesa binds its context to the calling thread and MuJoCo
 * 2.2.2 keeps one process-wide table of GL function pointers, so fm_render_open fails with
 * FM_EINVAL while another renderer is open (open, close, open again is fine). All calls on a
 * renderer must come from the thread that opened it, and no other thread may call MuJoCo while
 * a render call runs: MuJoCo errors are caught by temporarily replacing the process-wide
 * mju_user_error handler (its default prints and exits), which turns them into FM_EIO.
 *
 * Images are 8-bit RGB, rgb[height][width][3], top row first.
 * Status codes: FM_EINVAL for bad arguments (including an image larger than the model's offscreen
 * buffer, an unknown camera, a model other than the one the renderer was opened for), FM_EIO when
 * OSMesa / OpenGL / MuJoCo's renderer fail or a file cannot be written, FM_ENOMEM.
 */
#ifndef FM_RENDER_H
#define FM_RENDER_H

#include <mujoco/mujoco.h>

#include "core/core.h"

typedef struct fm_renderer fm_renderer; /* opaque */

/* Create an OSMesa context (RGBA, 24-bit depth, 8-bit stencil) and make it current, then
 * MuJoCo's rendering context for m (fonts at 100%, drawing into its offscreen framebuffer), an
 * mjvScene for up to 2000 geoms and default mjvOption. width x height (pixels, > 0) may not exceed
 * the model's offscreen buffer, m->vis.global.offwidth x offheight (MJCF <visual><global
 * offwidth=".." offheight=".."/>; default 640 x 480), else FM_EINVAL naming both sizes.
 * m is borrowed and must outlive the renderer; frames must use the same m. On failure *out is
 * NULL and nothing is left allocated or current. */
fm_status fm_render_open(fm_renderer **out, const mjModel *m, int width, int height, fm_err *err);

/* Render one frame of (m, d) (d's positions must be up to date, e.g. after mj_forward) from a
 * free camera looking at lookat[3] (m) from `distance` (m, > 0), azimuth and elevation (degrees,
 * MuJoCo's convention), and write the RGB pixels into rgb (width * height * 3 bytes, top row
 * first). d is only read (mjData* because MuJoCo's API is not const-correct). */
fm_status fm_render_frame(fm_renderer *r, const mjModel *m, mjData *d, const double lookat[3],
                          double distance, double azimuth, double elevation, unsigned char *rgb,
                          fm_err *err);

/* Same from the model's camera named `camera` (mjCAMERA_FIXED); an unknown name is FM_EINVAL
 * naming it. */
fm_status fm_render_frame_camera(fm_renderer *r, const mjModel *m, mjData *d, const char *camera,
                                 unsigned char *rgb, fm_err *err);

/* Free the scene, MuJoCo's rendering context and the OSMesa context. NULL-safe. */
void fm_render_close(fm_renderer *r);

/* Write rgb (width x height, 8-bit RGB, top row first) as a PNG to path + ".tmp", then rename it
 * to path, so a failure never leaves a partial file at path; on failure the .tmp is removed.
 * Errors (FM_EIO) name the path and the errno or libpng message; bad arguments are FM_EINVAL. */
fm_status fm_png_write(const char *path, const unsigned char *rgb, int width, int height,
                       fm_err *err);

#endif

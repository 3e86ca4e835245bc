/* render.c - offscreen MuJoCo rendering through OSMesa (llvmpipe), PNG output through libpng.
 *
 * MuJoCo 2.2.2 loads its GL functions (glad) when mjr_makeContext runs, through the first of
 * eglGetProcAddress, OSMesaGetProcAddress, glXGetProcAddressARB in the process's global symbols
 * (linking libOSMesa is enough; libGL/GLX does not interfere, libEGL does, see loader_hint),
 * checks them by querying the current context, and keeps that loader for the rest of the
 * process. So the OSMesa context must be current before mjr_makeContext. No environment
 * variable is needed (llvmpipe is OSMesa's default driver). MuJoCo draws into its own
 * offscreen framebuffer (m->vis.global.offwidth x offheight); the OSMesa buffer is only the
 * "window" that a context needs to be made current.
 */
#define _POSIX_C_SOURCE 200809L
#include "env/render.h"

#include <GL/osmesa.h>
#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#define RENDER_MAXGEOM 2000

struct fm_renderer {
    const mjModel *m;     /* borrowed: the model the context was made for */
    int width, height;    /* image size in pixels */
    OSMesaContext gl;     /* NULL until created */
    unsigned char *glbuf; /* OSMesa's window buffer, width x height RGBA (not drawn into) */
    unsigned char *row;   /* width * 3 bytes of scratch for the vertical flip */
    int holds_slot;       /* 1: this renderer is the process's open renderer */
    int scn_made;         /* 1: mjv_makeScene ran (mjv_freeScene needed) */
    mjrContext con;
    mjvScene scn;
    mjvOption opt;
    mjvPerturb pert;
};

/* Process-wide state, see render.h: the jump target and message of the MuJoCo call running
 * under mj_guarded, and whether a renderer is open. */
static struct {
    jmp_buf env;
    char msg[1024];
} mj_trap;
static int render_slot_taken;

static void mj_trap_error(const char *msg)
{
    snprintf(mj_trap.msg, sizeof mj_trap.msg, "%s", msg ? msg : "(no message)");
    longjmp(mj_trap.env, 1);
}

typedef void (*mj_call_fn)(fm_renderer *r, void *arg);

/* 0 if fn returned, 1 if it raised a MuJoCo error (no locals live across setjmp). */
static int mj_run(mj_call_fn fn, fm_renderer *r, void *arg)
{
    if (setjmp(mj_trap.env) != 0)
        return 1;
    fn(r, arg);
    return 0;
}

/* Run fn(r, arg) with MuJoCo errors caught: returns 1, with MuJoCo's message in mj_trap.msg,
 * if it raised one. MuJoCo's render and visualization code is C, so jumping out of it skips no
 * destructors; GL objects it made before failing are freed by fm_render_close. */
static int mj_guarded(mj_call_fn fn, fm_renderer *r, void *arg)
{
    void (*prev)(const char *) = mju_user_error;
    mju_user_error = mj_trap_error;
    int failed = mj_run(fn, r, arg);
    mju_user_error = prev;
    return failed;
}

/* MuJoCo 2.2.2 takes the first of eglGetProcAddress, OSMesaGetProcAddress, glXGetProcAddressARB
 * found in the process's global symbols; EGL's functions do not reach an OSMesa context, so
 * mjr_makeContext then fails with "gladLoadGL error". Explain that case. */
static const char *loader_hint(void)
{
    void *self = dlopen(NULL, RTLD_LAZY);
    int egl = self && dlsym(self, "eglGetProcAddress") != NULL;
    if (self)
        dlclose(self);
    return egl ? " (libEGL is loaded in this process and MuJoCo 2.2.2 prefers its GL loader to "
                 "OSMesa's: do not link or load libEGL in a program that renders)"
               : "";
}

static void call_make_context(fm_renderer *r, void *arg)
{
    (void)arg;
    mjr_makeContext(r->m, &r->con, mjFONTSCALE_100);
}

static void call_set_offscreen(fm_renderer *r, void *arg)
{
    (void)arg;
    mjr_setBuffer(mjFB_OFFSCREEN, &r->con);
}

static void call_make_scene(fm_renderer *r, void *arg)
{
    (void)arg;
    mjv_makeScene(r->m, &r->scn, RENDER_MAXGEOM);
}

static fm_status check_open_args(fm_renderer **out, const mjModel *m, int width, int height,
                                 fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(out && m, FM_EINVAL, "fm_render_open: NULL %s", out ? "model" : "output handle");
    FM_CHECK(width > 0 && height > 0, FM_EINVAL, "fm_render_open: image size %d x %d, expected > 0",
             width, height);
    FM_CHECK(width <= m->vis.global.offwidth && height <= m->vis.global.offheight, FM_EINVAL,
             "fm_render_open: image %d x %d exceeds the model's offscreen buffer %d x %d "
             "(raise <visual><global offwidth=\"..\" offheight=\"..\"/> in the MJCF)",
             width, height, m->vis.global.offwidth, m->vis.global.offheight);
    FM_CHECK(!render_slot_taken, FM_EINVAL,
             "fm_render_open: another renderer is open (one per process; close it first)");
cleanup:
    return status;
}

/* OSMesa context with its window buffer, current on this thread. */
static fm_status gl_open(fm_renderer *r, fm_err *err)
{
    fm_status status = FM_OK;
    FM_ALLOC(r->glbuf, (size_t)r->width * (size_t)r->height * 4);
    r->gl = OSMesaCreateContextExt(OSMESA_RGBA, 24, 8, 0, NULL);
    FM_CHECK(r->gl, FM_EIO,
             "fm_render_open: OSMesaCreateContextExt(RGBA, depth 24, stencil 8) failed");
    FM_CHECK(OSMesaMakeCurrent(r->gl, r->glbuf, GL_UNSIGNED_BYTE, r->width, r->height), FM_EIO,
             "fm_render_open: OSMesaMakeCurrent(%d x %d) failed", r->width, r->height);
cleanup:
    return status;
}

/* MuJoCo's rendering context, switched to its offscreen framebuffer, and the scene. */
static fm_status mj_open(fm_renderer *r, fm_err *err)
{
    fm_status status = FM_OK;
    mjr_defaultContext(&r->con);
    FM_CHECK(!mj_guarded(call_make_context, r, NULL), FM_EIO,
             "fm_render_open: mjr_makeContext: MuJoCo error: %s%s", mj_trap.msg, loader_hint());
    FM_CHECK(r->con.offFBO != 0, FM_EIO, "fm_render_open: MuJoCo created no offscreen framebuffer");
    FM_CHECK(!mj_guarded(call_set_offscreen, r, NULL), FM_EIO,
             "fm_render_open: mjr_setBuffer: MuJoCo error: %s", mj_trap.msg);
    FM_CHECK(r->con.currentBuffer == mjFB_OFFSCREEN, FM_EIO,
             "fm_render_open: cannot switch to MuJoCo's offscreen framebuffer");
    mjv_defaultScene(&r->scn);
    r->scn_made = 1;
    FM_CHECK(!mj_guarded(call_make_scene, r, NULL), FM_EIO,
             "fm_render_open: mjv_makeScene: MuJoCo error: %s", mj_trap.msg);
    mjv_defaultOption(&r->opt);
    mjv_defaultPerturb(&r->pert);
cleanup:
    return status;
}

fm_status fm_render_open(fm_renderer **out, const mjModel *m, int width, int height, fm_err *err)
{
    fm_status status = FM_OK;
    fm_renderer *r = NULL;
    if (out)
        *out = NULL;
    FM_TRY(check_open_args(out, m, width, height, err));
    FM_ALLOC(r, 1);
    r->m = m;
    r->width = width;
    r->height = height;
    r->holds_slot = 1;
    render_slot_taken = 1;
    FM_ALLOC(r->row, (size_t)width * 3);
    FM_TRY(gl_open(r, err));
    FM_TRY(mj_open(r, err));
    *out = r;
    r = NULL;
cleanup:
    fm_render_close(r);
    return status;
}

void fm_render_close(fm_renderer *r)
{
    if (!r)
        return;
    if (r->gl && OSMesaGetCurrentContext() != r->gl)
        OSMesaMakeCurrent(r->gl, r->glbuf, GL_UNSIGNED_BYTE, r->width, r->height);
    if (r->scn_made)
        mjv_freeScene(&r->scn);
    /* Without loaded GL functions (mjr_makeContext failed early) there is nothing to delete,
     * and mjr_freeContext would call through null pointers. */
    if (r->con.glInitialized)
        mjr_freeContext(&r->con);
    if (r->gl) {
        OSMesaMakeCurrent(NULL, NULL, 0, 0, 0); /* release the thread's binding */
        OSMesaDestroyContext(r->gl);
    }
    if (r->holds_slot)
        render_slot_taken = 0;
    free(r->glbuf);
    free(r->row);
    free(r);
}

typedef struct draw_args {
    const mjModel *m;
    mjData *d;
    mjvCamera cam;
    unsigned char *rgb;
} draw_args;

static void call_draw(fm_renderer *r, void *arg)
{
    draw_args *a = arg;
    mjrRect viewport = {0, 0, r->width, r->height};
    mjv_updateScene(a->m, a->d, &r->opt, &r->pert, &a->cam, mjCAT_ALL, &r->scn);
    mjr_setBuffer(mjFB_OFFSCREEN, &r->con);
    mjr_render(viewport, &r->scn, &r->con);
    mjr_readPixels(a->rgb, NULL, viewport, &r->con);
}

/* mjr_readPixels returns the bottom row first; swap rows in place. */
static void flip_rows(unsigned char *rgb, unsigned char *row, int width, int height)
{
    size_t stride = (size_t)width * 3;
    for (int i = 0, j = height - 1; i < j; i++, j--) {
        unsigned char *a = rgb + (size_t)i * stride, *b = rgb + (size_t)j * stride;
        memcpy(row, a, stride);
        memcpy(a, b, stride);
        memcpy(b, row, stride);
    }
}

static fm_status render_view(fm_renderer *r, const char *fn, const mjModel *m, mjData *d,
                             const mjvCamera *cam, unsigned char *rgb, fm_err *err)
{
    fm_status status = FM_OK;
    draw_args a = {m, d, *cam, rgb};
    if (OSMesaGetCurrentContext() != r->gl)
        FM_CHECK(OSMesaMakeCurrent(r->gl, r->glbuf, GL_UNSIGNED_BYTE, r->width, r->height), FM_EIO,
                 "%s: OSMesaMakeCurrent failed", fn);
    FM_CHECK(!mj_guarded(call_draw, r, &a), FM_EIO, "%s: MuJoCo error: %s", fn, mj_trap.msg);
    flip_rows(rgb, r->row, r->width, r->height);
cleanup:
    return status;
}

static fm_status check_frame_args(const char *fn, const fm_renderer *r, const mjModel *m,
                                  const mjData *d, const unsigned char *rgb, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(r && m && d && rgb, FM_EINVAL, "%s: NULL %s", fn,
             !r ? "renderer" : !m ? "model" : !d ? "data" : "image");
    FM_CHECK(m == r->m, FM_EINVAL, "%s: the renderer was opened for another model", fn);
cleanup:
    return status;
}

fm_status fm_render_frame(fm_renderer *r, const mjModel *m, mjData *d, const double lookat[3],
                          double distance, double azimuth, double elevation, unsigned char *rgb,
                          fm_err *err)
{
    fm_status status = FM_OK;
    const char *fn = "fm_render_frame";
    mjvCamera cam;
    FM_TRY(check_frame_args(fn, r, m, d, rgb, err));
    FM_CHECK(lookat && isfinite(lookat[0]) && isfinite(lookat[1]) && isfinite(lookat[2]), FM_EINVAL,
             "%s: lookat is NULL or not finite", fn);
    FM_CHECK(isfinite(distance) && distance > 0, FM_EINVAL, "%s: distance %g, expected > 0", fn,
             distance);
    FM_CHECK(isfinite(azimuth) && isfinite(elevation), FM_EINVAL,
             "%s: azimuth %g, elevation %g, expected finite angles", fn, azimuth, elevation);
    mjv_defaultCamera(&cam);
    cam.type = mjCAMERA_FREE;
    for (int i = 0; i < 3; i++)
        cam.lookat[i] = lookat[i];
    cam.distance = distance;
    cam.azimuth = azimuth;
    cam.elevation = elevation;
    FM_TRY(render_view(r, fn, m, d, &cam, rgb, err));
cleanup:
    return status;
}

fm_status fm_render_frame_camera(fm_renderer *r, const mjModel *m, mjData *d, const char *camera,
                                 unsigned char *rgb, fm_err *err)
{
    fm_status status = FM_OK;
    const char *fn = "fm_render_frame_camera";
    mjvCamera cam;
    int id = -1;
    FM_TRY(check_frame_args(fn, r, m, d, rgb, err));
    FM_CHECK(camera, FM_EINVAL, "%s: NULL camera name", fn);
    id = mj_name2id(m, mjOBJ_CAMERA, camera);
    FM_CHECK(id >= 0, FM_EINVAL, "%s: camera '%s' not found in the model (%d named camera%s)", fn,
             camera, m->ncam, m->ncam == 1 ? "" : "s");
    mjv_defaultCamera(&cam);
    cam.type = mjCAMERA_FIXED;
    cam.fixedcamid = id;
    FM_TRY(render_view(r, fn, m, d, &cam, rgb, err));
cleanup:
    return status;
}

/* ---- PNG ---- */

/* Encode to the open file f (libpng's simplified API: no setjmp here). */
static fm_status png_encode(FILE *f, const char *path, const unsigned char *rgb, int width,
                            int height, fm_err *err)
{
    fm_status status = FM_OK;
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    img.width = (png_uint_32)width;
    img.height = (png_uint_32)height;
    img.format = PNG_FORMAT_RGB;
    FM_CHECK(png_image_write_to_stdio(&img, f, 0, rgb, (png_int_32)width * 3, NULL), FM_EIO,
             "%s: libpng: %s", path, img.message);
cleanup:
    return status;
}

fm_status fm_png_write(const char *path, const unsigned char *rgb, int width, int height,
                       fm_err *err)
{
    fm_status status = FM_OK;
    char *tmp = NULL;
    FILE *f = NULL;
    int have_tmp = 0; /* 1: tmp exists and must be removed on failure */
    size_t len = path ? strlen(path) : 0;
    FM_CHECK(len > 0, FM_EINVAL, "fm_png_write: empty or NULL path");
    FM_CHECK(rgb, FM_EINVAL, "%s: NULL image", path);
    FM_CHECK(width > 0 && height > 0 && width <= PNG_USER_WIDTH_MAX && height <= PNG_USER_HEIGHT_MAX,
             FM_EINVAL, "%s: image size %d x %d, expected 1..%d x 1..%d", path, width, height,
             PNG_USER_WIDTH_MAX, PNG_USER_HEIGHT_MAX);
    FM_ALLOC(tmp, len + 5);
    snprintf(tmp, len + 5, "%s.tmp", path);
    f = fopen(tmp, "wb");
    FM_CHECK(f, FM_EIO, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    have_tmp = 1;
    FM_TRY(png_encode(f, path, rgb, width, height, err));
    FM_CHECK(fflush(f) == 0 && !ferror(f), FM_EIO, "%s: cannot write %s: %s", path, tmp,
             strerror(errno));
    int closed = fclose(f);
    f = NULL;
    FM_CHECK(closed == 0, FM_EIO, "%s: cannot close %s: %s", path, tmp, strerror(errno));
    FM_CHECK(rename(tmp, path) == 0, FM_EIO, "%s: cannot rename %s to %s: %s", path, tmp, path,
             strerror(errno));
    have_tmp = 0;
cleanup:
    if (f)
        fclose(f);
    if (have_tmp)
        remove(tmp);
    free(tmp);
    return status;
}

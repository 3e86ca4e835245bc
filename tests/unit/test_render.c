/* test_render.c - offscreen MuJoCo rendering (OSMesa) and PNG output: a red box on a gray plane
 * seen from a free camera and from a named fixed camera (image not uniform, red at the centre,
 * not in the corner, centre changes when the box moves away), PNG round trip through libpng,
 * the error paths (unknown camera, oversized image, second renderer, other model, unwritable
 * PNG path), close / reopen, the time of one 640 x 480 frame, and a MuJoCo error (gladLoadGL
 * fails when libEGL is loaded) coming back as a status instead of an exit. */
#define _POSIX_C_SOURCE 200809L
#include <GL/gl.h>
#include <dlfcn.h>
#include <png.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "env/render.h"
#include "tap.h"

enum { W = 160, H = 120, BIG_W = 640, BIG_H = 480 };

static const char *MJCF =
    "<mujoco model=\"render_test\">\n"
    "  <visual><global offwidth=\"640\" offheight=\"480\"/></visual>\n"
    "  <asset><material name=\"red\" rgba=\"1 0 0 1\" specular=\"0\"/></asset>\n"
    "  <worldbody>\n"
    "    <light name=\"sun\" pos=\"0 0 3\" dir=\"0 0 -1\" directional=\"true\"/>\n"
    "    <geom name=\"floor\" type=\"plane\" size=\"2 2 0.1\" rgba=\"0.5 0.5 0.5 1\"/>\n"
    "    <body name=\"box\" pos=\"0 0 0.1\">\n"
    "      <joint name=\"slide\" type=\"slide\" axis=\"1 0 0\"/>\n"
    "      <geom name=\"box\" type=\"box\" size=\"0.1 0.1 0.1\" material=\"red\"/>\n"
    "    </body>\n"
    "    <camera name=\"overhead\" pos=\"0 0 1.5\" xyaxes=\"1 0 0 0 1 0\"/>\n"
    "  </worldbody>\n"
    "</mujoco>\n";

static char tmpdir[64];

static const char *in_tmp(const char *name)
{
    static char buf[8][256];
    static int next;
    char *p = buf[next++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", tmpdir, name);
    return p;
}

static int exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static mjModel *load_model(void)
{
    char error[1000] = "";
    const char *path = in_tmp("scene.xml");
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(MJCF, f);
    fclose(f);
    mjModel *m = mj_loadXML(path, NULL, error, sizeof error);
    if (!m)
        printf("# mj_loadXML: %s\n", error);
    return m;
}

static const unsigned char *px(const unsigned char *rgb, int width, int row, int col)
{
    return rgb + ((size_t)row * width + col) * 3;
}

static int red_dominant(const unsigned char *p)
{
    return p[0] > p[1] + 40 && p[0] > p[2] + 40;
}

static int uniform(const unsigned char *rgb, int n)
{
    for (int i = 1; i < n; i++)
        if (memcmp(rgb, rgb + 3 * i, 3) != 0)
            return 0;
    return 1;
}

static void show(const char *what, const unsigned char *p)
{
    printf("# %s: rgb (%d, %d, %d)\n", what, p[0], p[1], p[2]);
}

static const double LOOKAT[3] = {0, 0, 0.1};

static void test_free_camera(fm_renderer *r, const mjModel *m, mjData *d, unsigned char *rgb)
{
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_render_frame(r, m, d, LOOKAT, 1.0, 90.0, -30.0, rgb, &err);
    is_int(st, FM_OK, "free camera frame renders");
    if (st != FM_OK)
        printf("# %s [%s]\n", err.msg, err.trace);
    ok(!uniform(rgb, W * H), "free camera: image is not uniform");
    const unsigned char *c = px(rgb, W, H / 2, W / 2), *corner = px(rgb, W, 0, 0);
    if (!ok(red_dominant(c), "free camera: centre pixel is red (the box)"))
        show("centre", c);
    if (!ok(!red_dominant(corner), "free camera: top-left corner is not red"))
        show("corner", corner);
    /* top row first: the floor (gray, lit) fills the bottom rows, the sky the top ones */
    const unsigned char *bottom = px(rgb, W, H - 1, W / 2), *top = px(rgb, W, 0, W / 2);
    if (!ok(bottom[0] + bottom[1] + bottom[2] > top[0] + top[1] + top[2],
            "free camera: bottom row (floor) is brighter than the top row (sky): rows not flipped"))
        show("bottom", bottom), show("top", top);
}

static void test_named_camera(fm_renderer *r, const mjModel *m, mjData *d, unsigned char *rgb)
{
    fm_err err;
    fm_err_clear(&err);
    fm_status st = fm_render_frame_camera(r, m, d, "overhead", rgb, &err);
    is_int(st, FM_OK, "named camera frame renders");
    if (st != FM_OK)
        printf("# %s [%s]\n", err.msg, err.trace);
    ok(!uniform(rgb, W * H), "named camera: image is not uniform");
    const unsigned char *c = px(rgb, W, H / 2, W / 2), *corner = px(rgb, W, H - 1, W - 1);
    if (!ok(red_dominant(c), "named camera: centre pixel is red (the box from above)"))
        show("centre", c);
    if (!ok(!red_dominant(corner), "named camera: bottom-right corner is not red (floor)"))
        show("corner", corner);
}

static void test_box_moves(fm_renderer *r, const mjModel *m, mjData *d, unsigned char *rgb)
{
    fm_err err;
    unsigned char before[3], after[3];
    fm_err_clear(&err);
    fm_render_frame(r, m, d, LOOKAT, 1.0, 90.0, -30.0, rgb, &err);
    memcpy(before, px(rgb, W, H / 2, W / 2), 3);
    d->qpos[0] = 50.0; /* slide the box far out of view */
    mj_forward(m, d);
    is_int(fm_render_frame(r, m, d, LOOKAT, 1.0, 90.0, -30.0, rgb, &err), FM_OK,
           "frame after moving the box");
    memcpy(after, px(rgb, W, H / 2, W / 2), 3);
    ok(memcmp(before, after, 3) != 0, "centre pixel changes when the box moves out of view");
    if (!ok(!red_dominant(after), "centre pixel is no longer red"))
        show("centre", after);
    d->qpos[0] = 0.0;
    mj_forward(m, d);
    fm_render_frame(r, m, d, LOOKAT, 1.0, 90.0, -30.0, rgb, &err);
    ok(red_dominant(px(rgb, W, H / 2, W / 2)), "box back at the origin: centre red again");
}

/* Read a PNG back with libpng as 8-bit RGB; returns a malloc'd buffer or NULL. */
static unsigned char *png_read(const char *path, int *width, int *height)
{
    png_image img;
    memset(&img, 0, sizeof img);
    img.version = PNG_IMAGE_VERSION;
    if (!png_image_begin_read_from_file(&img, path)) {
        printf("# libpng read %s: %s\n", path, img.message);
        return NULL;
    }
    img.format = PNG_FORMAT_RGB;
    unsigned char *buf = malloc(PNG_IMAGE_SIZE(img));
    if (!buf || !png_image_finish_read(&img, NULL, buf, 0, NULL)) {
        printf("# libpng read %s: %s\n", path, buf ? img.message : "out of memory");
        png_image_free(&img);
        free(buf);
        return NULL;
    }
    *width = (int)img.width;
    *height = (int)img.height;
    return buf;
}

static void test_png(const unsigned char *rgb)
{
    fm_err err;
    int w = 0, h = 0;
    const char *path = in_tmp("frame.png");
    fm_err_clear(&err);
    is_int(fm_png_write(path, rgb, W, H, &err), FM_OK, "fm_png_write to the temporary directory");
    ok(!exists(in_tmp("frame.png.tmp")), "no .tmp left after a successful write");
    unsigned char *back = png_read(path, &w, &h);
    ok(back != NULL, "libpng reads the PNG back");
    is_int(w, W, "PNG width");
    is_int(h, H, "PNG height");
    ok(back && w == W && h == H && memcmp(back, rgb, (size_t)W * H * 3) == 0,
       "PNG pixels equal the rendered bytes");
    free(back);

    const char *bad = "/nonexistent-fleet-dir/sub/frame.png";
    fm_err_clear(&err);
    is_int(fm_png_write(bad, rgb, W, H, &err), FM_EIO, "PNG into a missing directory: FM_EIO");
    has_str(err.msg, bad, "PNG error names the path");
    has_str(err.msg, "No such file or directory", "PNG error gives the errno message");
    ok(!exists(bad) && !exists("/nonexistent-fleet-dir/sub/frame.png.tmp"),
       "failed PNG write leaves neither the file nor the .tmp");
    fm_err_clear(&err);
    is_int(fm_png_write(in_tmp("zero.png"), rgb, 0, H, &err), FM_EINVAL, "PNG of width 0: FM_EINVAL");
    ok(!exists(in_tmp("zero.png")) && !exists(in_tmp("zero.png.tmp")), "PNG of width 0 writes nothing");
}

static void test_errors(fm_renderer *r, const mjModel *m, mjData *d, unsigned char *rgb)
{
    fm_err err;
    fm_renderer *r2 = (fm_renderer *)&err; /* must be reset to NULL on failure */
    fm_err_clear(&err);
    is_int(fm_render_frame_camera(r, m, d, "no_such_cam", rgb, &err), FM_EINVAL,
           "unknown camera: FM_EINVAL");
    has_str(err.msg, "camera 'no_such_cam' not found", "unknown camera: message names it");

    fm_err_clear(&err);
    is_int(fm_render_open(&r2, m, BIG_W + 1, BIG_H, &err), FM_EINVAL, "641 x 480 image: FM_EINVAL");
    has_str(err.msg, "image 641 x 480 exceeds the model's offscreen buffer 640 x 480",
            "oversized image: message gives both sizes");
    ok(r2 == NULL, "failed open sets *out to NULL");

    fm_err_clear(&err);
    is_int(fm_render_open(&r2, m, W, H, &err), FM_EINVAL, "second renderer while one is open: FM_EINVAL");
    has_str(err.msg, "another renderer is open", "second renderer: message");

    fm_err_clear(&err);
    double nan_at[3] = {0, NAN, 0};
    is_int(fm_render_frame(r, m, d, nan_at, 1.0, 0, 0, rgb, &err), FM_EINVAL, "non-finite lookat: FM_EINVAL");
    fm_err_clear(&err);
    is_int(fm_render_frame(r, m, d, LOOKAT, 0.0, 0, 0, rgb, &err), FM_EINVAL, "distance 0: FM_EINVAL");
    has_str(err.msg, "distance 0, expected > 0", "distance 0: message");

    mjModel *other = load_model();
    fm_err_clear(&err);
    is_int(fm_render_frame(r, other, d, LOOKAT, 1.0, 0, 0, rgb, &err), FM_EINVAL, "other model: FM_EINVAL");
    has_str(err.msg, "opened for another model", "other model: message");
    mj_deleteModel(other);

    /* the renderer still works after the failures */
    fm_err_clear(&err);
    is_int(fm_render_frame_camera(r, m, d, "overhead", rgb, &err), FM_OK, "renderer works after errors");
}

/* Reopen at 640 x 480 (also checks close + open) and time frames. */
static void test_timing(const mjModel *m, mjData *d)
{
    fm_err err;
    fm_renderer *r = NULL;
    unsigned char *rgb = malloc((size_t)BIG_W * BIG_H * 3);
    fm_err_clear(&err);
    fm_status st = fm_render_open(&r, m, BIG_W, BIG_H, &err);
    is_int(st, FM_OK, "reopen at 640 x 480 after close");
    if (st != FM_OK || !rgb) {
        printf("# %s\n", err.msg);
        free(rgb);
        return;
    }
    fm_render_frame(r, m, d, LOOKAT, 1.0, 90.0, -30.0, rgb, &err); /* warm-up (shader JIT) */
    enum { FRAMES = 10 };
    double t0 = fm_now();
    int fails = 0;
    for (int i = 0; i < FRAMES; i++)
        fails += fm_render_frame(r, m, d, LOOKAT, 1.0, 90.0 + 10.0 * i, -30.0, rgb, &err) != FM_OK;
    double dt = (fm_now() - t0) / FRAMES;
    is_int(fails, 0, "%d frames at 640 x 480", FRAMES);
    ok(red_dominant(px(rgb, BIG_W, BIG_H / 2, BIG_W / 2)), "640 x 480: centre pixel red");
    printf("# one 640 x 480 frame (render + read + flip): %.1f ms with %s\n", dt * 1e3,
           (const char *)glGetString(GL_RENDERER));
    fm_render_close(r);
    free(rgb);
}

/* With libEGL in the global scope MuJoCo 2.2.2 loads GL through EGL, which cannot reach the
 * OSMesa context: mjr_makeContext raises a MuJoCo error, which must come back as FM_EIO (the
 * default handler would exit). MuJoCo keeps the loader it found first, so this runs in a child
 * forked before anything renders; the child sends back both attempts' status, whether *out was
 * reset, and the first message. */
typedef struct egl_report {
    int loaded, st1, st2, out_null;
    char msg[sizeof(((fm_err *)0)->msg)];
} egl_report;

static void egl_child(const mjModel *m, int fd)
{
    static egl_report rep;
    fm_err err;
    fm_renderer *r = (fm_renderer *)&rep; /* must be reset to NULL */
    void *egl = dlopen("libEGL.so.1", RTLD_NOW | RTLD_GLOBAL);
    rep.loaded = egl != NULL;
    if (egl) {
        fm_err_clear(&err);
        rep.st1 = fm_render_open(&r, m, W, H, &err);
        rep.out_null = r == NULL;
        snprintf(rep.msg, sizeof rep.msg, "%s", err.msg);
        fm_render_close(r);
        fm_err_clear(&err);
        r = NULL;
        rep.st2 = fm_render_open(&r, m, W, H, &err);
        fm_render_close(r);
    }
    ssize_t n = write(fd, &rep, sizeof rep);
    _exit(n == (ssize_t)sizeof rep ? 0 : 1);
}

static void test_mujoco_error(const mjModel *m)
{
    static egl_report rep;
    int fd[2], wstatus = 0;
    if (!ok(pipe(fd) == 0, "pipe"))
        return;
    fflush(stdout);
    pid_t pid = fork();
    if (pid == 0) {
        close(fd[0]);
        egl_child(m, fd[1]);
    }
    close(fd[1]);
    ssize_t n = pid > 0 ? read(fd[0], &rep, sizeof rep) : -1;
    close(fd[0]);
    if (pid > 0)
        waitpid(pid, &wstatus, 0);
    if (!ok(n == (ssize_t)sizeof rep && WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0,
            "child with libEGL reports back (no exit from MuJoCo's error handler, no crash)")) {
        printf("#   read %zd bytes, wait status 0x%x\n", n, wstatus);
        return;
    }
    if (!rep.loaded) {
        ok(1, "MuJoCo error becomes a status # SKIP libEGL.so.1 not available");
        return;
    }
    is_int(rep.st1, FM_EIO, "mjr_makeContext failure (libEGL loaded): FM_EIO");
    has_str(rep.msg, "mjr_makeContext: MuJoCo error: gladLoadGL error", "MuJoCo's message is kept");
    has_str(rep.msg, "libEGL is loaded in this process", "message explains the cause");
    ok(rep.out_null, "failed open sets *out to NULL");
    is_int(rep.st2, FM_EIO, "slot released after the failure: a second attempt fails the same way");
}

/* Sanitizer builds render with softpipe instead of llvmpipe: `make asan` runs with
 * fast_unwind_on_malloc=0, and then llvmpipe deadlocks in its first frame (LLVM's JIT registers
 * its unwind tables with libgcc; libgcc then mallocs under its unwinder lock, and ASan's slow
 * unwinder, called from that malloc, takes the same lock). softpipe with DRAW_USE_LLVM=0 runs no
 * LLVM code. Explicit settings in the environment are kept. */
static void sanitizer_driver(void)
{
#if defined(__SANITIZE_ADDRESS__)
    setenv("GALLIUM_DRIVER", "softpipe", 0);
    setenv("DRAW_USE_LLVM", "0", 0);
    printf("# sanitizer build: GALLIUM_DRIVER=%s DRAW_USE_LLVM=%s\n", getenv("GALLIUM_DRIVER"),
           getenv("DRAW_USE_LLVM"));
#endif
}

int main(void)
{
    fm_err err;
    fm_renderer *r = NULL;
    static unsigned char rgb[W * H * 3];
    sanitizer_driver();
    snprintf(tmpdir, sizeof tmpdir, "/tmp/fm_render_XXXXXX");
    if (!mkdtemp(tmpdir)) {
        ok(0, "mkdtemp");
        return done_testing();
    }
    mjModel *m = load_model();
    mjData *d = m ? mj_makeData(m) : NULL;
    ok(m && d, "MJCF scene loads");
    if (m)
        test_mujoco_error(m); /* first: forks before anything renders */
    if (m && d) {
        mj_forward(m, d);
        fm_err_clear(&err);
        fm_status st = fm_render_open(&r, m, W, H, &err);
        is_int(st, FM_OK, "fm_render_open 160 x 120");
        if (st != FM_OK)
            printf("# %s [%s]\n", err.msg, err.trace);
    }
    if (r) {
        test_free_camera(r, m, d, rgb);
        test_png(rgb);
        test_named_camera(r, m, d, rgb);
        test_box_moves(r, m, d, rgb);
        test_errors(r, m, d, rgb);
        fm_render_close(r);
        fm_render_close(NULL);
        test_timing(m, d);
    }
    if (d)
        mj_deleteData(d);
    if (m)
        mj_deleteModel(m);
    const char *names[] = {"scene.xml", "frame.png"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        remove(in_tmp(names[i]));
    rmdir(tmpdir);
    return done_testing();
}

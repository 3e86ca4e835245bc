/* tooluse_obs.c - observations of the tool-use benchmark (layouts in tooluse.h): surface points
 * sampled once per task on the tool and object geoms, the point cloud and the keypoint
 * observation in the end-effector frame. */
#include <math.h>
#include <string.h>

#include <mujoco/mujoco.h>

#include "env/tooluse/tooluse_internal.h"

/* ---------------------------------------------------------------- point sampling */

static double geom_area(const mjModel *m, int g)
{
    const mjtNum *s = m->geom_size + 3 * g;
    switch (m->geom_type[g]) {
    case mjGEOM_BOX: return 8 * (s[0] * s[1] + s[1] * s[2] + s[0] * s[2]);
    case mjGEOM_CYLINDER: return 4 * M_PI * s[0] * s[1] + 2 * M_PI * s[0] * s[0];
    case mjGEOM_CAPSULE: return 4 * M_PI * s[0] * s[1] + 4 * M_PI * s[0] * s[0];
    case mjGEOM_SPHERE: return 4 * M_PI * s[0] * s[0];
    case mjGEOM_MESH: {
        int id = m->geom_dataid[g];
        const float *v = m->mesh_vert + 3 * m->mesh_vertadr[id];
        const int *f = m->mesh_face + 3 * m->mesh_faceadr[id];
        double a = 0;
        for (int i = 0; i < m->mesh_facenum[id]; i++) {
            const float *p = v + 3 * f[3 * i], *q = v + 3 * f[3 * i + 1], *r = v + 3 * f[3 * i + 2];
            double u[3] = {q[0] - p[0], q[1] - p[1], q[2] - p[2]}, w[3] = {r[0] - p[0], r[1] - p[1], r[2] - p[2]};
            double c[3] = {u[1] * w[2] - u[2] * w[1], u[2] * w[0] - u[0] * w[2], u[0] * w[1] - u[1] * w[0]};
            a += 0.5 * sqrt(c[0] * c[0] + c[1] * c[1] + c[2] * c[2]);
        }
        return a;
    }
    default: return 0;
    }
}

static void unit_sphere(fm_rng *r, double v[3])
{
    double z = 2 * fm_rng_uniform(r) - 1, a = 2 * M_PI * fm_rng_uniform(r), s = sqrt(fmax(0, 1 - z * z));
    v[0] = s * cos(a);
    v[1] = s * sin(a);
    v[2] = z;
}

/* A uniform point on the surface of geom g, in the geom frame. */
static void geom_sample(const mjModel *m, int g, fm_rng *r, double p[3])
{
    const mjtNum *s = m->geom_size + 3 * g;
    switch (m->geom_type[g]) {
    case mjGEOM_BOX: {
        double a[3] = {s[1] * s[2], s[0] * s[2], s[0] * s[1]};
        double u = fm_rng_uniform(r) * (a[0] + a[1] + a[2]);
        int ax = u < a[0] ? 0 : u < a[0] + a[1] ? 1 : 2;
        for (int i = 0; i < 3; i++)
            p[i] = (2 * fm_rng_uniform(r) - 1) * s[i];
        p[ax] = fm_rng_uniform(r) < 0.5 ? -s[ax] : s[ax];
        break;
    }
    case mjGEOM_CYLINDER: {
        double side = 4 * M_PI * s[0] * s[1], cap = 2 * M_PI * s[0] * s[0];
        double a = 2 * M_PI * fm_rng_uniform(r);
        if (fm_rng_uniform(r) * (side + cap) < side) {
            p[0] = s[0] * cos(a);
            p[1] = s[0] * sin(a);
            p[2] = (2 * fm_rng_uniform(r) - 1) * s[1];
        } else {
            double rad = s[0] * sqrt(fm_rng_uniform(r));
            p[0] = rad * cos(a);
            p[1] = rad * sin(a);
            p[2] = fm_rng_uniform(r) < 0.5 ? -s[1] : s[1];
        }
        break;
    }
    case mjGEOM_CAPSULE: {
        double side = 4 * M_PI * s[0] * s[1], sph = 4 * M_PI * s[0] * s[0];
        if (fm_rng_uniform(r) * (side + sph) < side) {
            double a = 2 * M_PI * fm_rng_uniform(r);
            p[0] = s[0] * cos(a);
            p[1] = s[0] * sin(a);
            p[2] = (2 * fm_rng_uniform(r) - 1) * s[1];
        } else {
            unit_sphere(r, p);
            for (int i = 0; i < 3; i++)
                p[i] *= s[0];
            p[2] += p[2] >= 0 ? s[1] : -s[1];
        }
        break;
    }
    case mjGEOM_SPHERE:
        unit_sphere(r, p);
        for (int i = 0; i < 3; i++)
            p[i] *= s[0];
        break;
    case mjGEOM_MESH: {
        int id = m->geom_dataid[g];
        const float *v = m->mesh_vert + 3 * m->mesh_vertadr[id];
        const int *f = m->mesh_face + 3 * m->mesh_faceadr[id];
        int nf = m->mesh_facenum[id];
        double total = geom_area(m, g), u = fm_rng_uniform(r) * total, acc = 0;
        int k = nf - 1;
        for (int i = 0; i < nf; i++) {
            const float *a = v + 3 * f[3 * i], *b = v + 3 * f[3 * i + 1], *c = v + 3 * f[3 * i + 2];
            double e1[3] = {b[0] - a[0], b[1] - a[1], b[2] - a[2]}, e2[3] = {c[0] - a[0], c[1] - a[1], c[2] - a[2]};
            double x[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2], e1[0] * e2[1] - e1[1] * e2[0]};
            acc += 0.5 * sqrt(x[0] * x[0] + x[1] * x[1] + x[2] * x[2]);
            if (u < acc) {
                k = i;
                break;
            }
        }
        const float *a = v + 3 * f[3 * k], *b = v + 3 * f[3 * k + 1], *c = v + 3 * f[3 * k + 2];
        double r1 = sqrt(fm_rng_uniform(r)), r2 = fm_rng_uniform(r);
        for (int i = 0; i < 3; i++)
            p[i] = (1 - r1) * a[i] + r1 * (1 - r2) * b[i] + r1 * r2 * c[i];
        break;
    }
    default:
        p[0] = p[1] = p[2] = 0;
        break;
    }
}

/* n points over the geoms of one class (1 tool, 2 object), area-weighted. */
fm_status fm_tu_sample_points(const mjModel *m, const int *cls, int which, int n, fm_rng *r, double *pts,
                              int *gid, fm_err *err)
{
    fm_status status = FM_OK;
    double total = 0;
    for (int g = 0; g < m->ngeom; g++)
        if (cls[g] == which)
            total += geom_area(m, g);
    FM_CHECK(total > 0, FM_EINVAL, "tool-use scene has no %s geometry to sample points from",
             which == 1 ? "tool" : "object");
    for (int i = 0; i < n; i++) {
        double u = fm_rng_uniform(r) * total, acc = 0;
        int pick = -1;
        for (int g = 0; g < m->ngeom; g++) {
            if (cls[g] != which)
                continue;
            pick = g;
            acc += geom_area(m, g);
            if (u < acc)
                break;
        }
        gid[i] = pick;
        geom_sample(m, pick, r, pts + 3 * i);
    }
cleanup:
    return status;
}


/* v = Re^T (w - pe): a world point in the end-effector frame. */
static void to_ee(const double pe[3], const double Re[9], const double *w, double *v)
{
    double x[3] = {w[0] - pe[0], w[1] - pe[1], w[2] - pe[2]};
    for (int a = 0; a < 3; a++)
        v[a] = Re[a] * x[0] + Re[3 + a] * x[1] + Re[6 + a] * x[2];
}

/* The keypoint observation (layout in tooluse.h). */
static void observe_keypoints(const fm_tu_episode *e, const double pe[3], const double Re[9], double *obs)
{
    const fm_tu_task *t = e->t;
    const mjModel *m = e->m;
    const mjData *d = e->d;
    const mjtNum *tp = d->xpos + 3 * t->body_tool, *tr = d->xmat + 9 * t->body_tool;
    for (int k = 0; k < FM_TU_NKP; k++) {
        double w[3];
        for (int a = 0; a < 3; a++)
            w[a] = tp[a] + tr[3 * a] * t->kp[k][0] + tr[3 * a + 1] * t->kp[k][1] + tr[3 * a + 2] * t->kp[k][2];
        to_ee(pe, Re, w, obs + 3 * k);
    }
    int bo = t->body_obj;
    to_ee(pe, Re, d->xpos + 3 * bo, obs + 12);
    const mjtNum *Ro = d->xmat + 9 * bo;
    for (int i = 0; i < 3; i++) /* (Re^T Ro)[i][j] */
        for (int j = 0; j < 3; j++)
            obs[15 + 3 * i + j] = Re[i] * Ro[j] + Re[3 + i] * Ro[3 + j] + Re[6 + i] * Ro[6 + j];
    for (int k = 0; k < 2; k++) {
        int jn = t->jnt_obj[k] >= 0 ? t->jnt_obj[k] : t->jnt_obj[0];
        to_ee(pe, Re, d->xpos + 3 * m->jnt_bodyid[jn], obs + 24 + 3 * k);
    }
    obs[30] = fm_tu_progress(e); /* already relative to the start */
    for (int f = 0; f < FM_TU_NFAMILY; f++)
        obs[31 + f] = f == t->tool.family ? 1.0 : 0.0;
}

void fm_tu_observe(fm_tu_episode *e, fm_rng *r, double *obs)
{
    const fm_tu_task *t = e->t;
    const mjData *d = e->d;
    double pe[3], Re[9];
    fm_tu_ee_pose(e, pe, Re);
    if (e->env->obs == FM_TU_OBS_KEYPOINTS) {
        observe_keypoints(e, pe, Re, obs);
        if (e->env->proprio) {
            memcpy(obs + FM_TU_KP_DIM, pe, sizeof(double) * 3);
            memcpy(obs + FM_TU_KP_DIM + 3, Re, sizeof(double) * 9);
        }
        return;
    }
    int n = t->npoints, half = n / 2;
    double sd = e->env->point_noise;
    for (int i = 0; i < n; i++) {
        int g = t->pts_geom[i];
        const double *l = t->pts + 3 * i, *gp = d->geom_xpos + 3 * g, *gm = d->geom_xmat + 9 * g;
        double w[3], v[3];
        for (int a = 0; a < 3; a++)
            w[a] = gp[a] + gm[3 * a] * l[0] + gm[3 * a + 1] * l[1] + gm[3 * a + 2] * l[2];
        to_ee(pe, Re, w, v);
        double *o = obs + FM_TU_CHANNELS * i;
        for (int a = 0; a < 3; a++)
            o[a] = v[a] + sd * fm_rng_normal(r);
        o[3] = i < half ? 1.0 : 0.0;
    }
    if (e->env->proprio) {
        double *o = obs + FM_TU_CHANNELS * n;
        for (int a = 0; a < 3; a++)
            o[a] = pe[a];
        for (int a = 0; a < 9; a++)
            o[3 + a] = Re[a];
    }
}


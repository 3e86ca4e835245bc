/* lap.c - dense linear assignment by shortest augmenting paths (Jonker-Volgenant style).
 *
 * Used for the permutation alignment of linear policies (Eq. G.12, a maximization of
 * <P, M>) and for weight matching. Rows are inserted one at a time. For a new row, a
 * Dijkstra-like scan over the columns with reduced costs c[i][j] - u[i] - v[j] (nonnegative on
 * every assigned row, zero on its assigned column) finds the cheapest alternating path to a
 * free column; the dual potentials u, v are then updated so that they stay feasible and the path
 * is flipped. Each row costs O(n^2), so a solve is O(n^3).
 *
 * Determinism: among columns at equal distance, a free column wins (the path ends there), then
 * the lowest index. Integer-valued costs are handled in exact arithmetic.
 */
#include "lap.h"

#include <math.h>
#include <stdlib.h>

/* Solver state: cost (scaled by sign: -1 maximizes), potentials, the matching and the
 * per-row scan state. */
typedef struct lap_ws {
    int n;
    double sign;
    const double *cost;
    double *u, *v, *dist;   /* dist[j]: shortest alternating path length to column j */
    int *col4row, *row4col; /* -1 = unassigned */
    int *pred;              /* row preceding column j on its shortest path */
    unsigned char *row_seen, *col_done;
} lap_ws;

/* Relax every unscanned column from row i, reached at distance d. Returns the unscanned column
 * closest to the start (ties: free first, then lowest index), or -1 if none is at finite distance. */
static int lap_relax(lap_ws *w, int i, double d)
{
    const double *ci = w->cost + (size_t)i * w->n;
    int best = -1;
    for (int j = 0; j < w->n; j++) {
        if (w->col_done[j])
            continue;
        double r = d + w->sign * ci[j] - w->u[i] - w->v[j];
        if (r < w->dist[j]) {
            w->dist[j] = r;
            w->pred[j] = i;
        }
        if (best < 0) {
            if (w->dist[j] < INFINITY)
                best = j;
        } else if (w->dist[j] < w->dist[best] ||
                   (w->dist[j] == w->dist[best] && w->row4col[j] < 0 && w->row4col[best] >= 0)) {
            best = j;
        }
    }
    return best;
}

/* Keep the potentials feasible after a scan that ended at distance d: rows and columns on the
 * shortest-path tree move by how much closer than d they were reached. */
static void lap_update_duals(lap_ws *w, int cur, double d)
{
    w->u[cur] += d;
    for (int i = 0; i < w->n; i++)
        if (w->row_seen[i] && i != cur)
            w->u[i] += d - w->dist[w->col4row[i]];
    for (int j = 0; j < w->n; j++)
        if (w->col_done[j])
            w->v[j] -= d - w->dist[j];
}

/* Flip the alternating path from the free column `sink` back to row `cur`. */
static void lap_augment(lap_ws *w, int cur, int sink)
{
    int j = sink;
    for (;;) {
        int i = w->pred[j];
        int next = w->col4row[i];
        w->row4col[j] = i;
        w->col4row[i] = j;
        if (i == cur)
            break;
        j = next;
    }
}

/* Assign the unassigned row `cur` along a shortest augmenting path. */
static fm_status lap_add_row(lap_ws *w, int cur, fm_err *err)
{
    fm_status status = FM_OK;
    int i = cur, sink = -1;
    double d = 0.0;
    for (int k = 0; k < w->n; k++) {
        w->dist[k] = INFINITY;
        w->pred[k] = -1;
        w->row_seen[k] = 0;
        w->col_done[k] = 0;
    }
    while (sink < 0) {
        w->row_seen[i] = 1;
        int j = lap_relax(w, i, d);
        FM_CHECK(j >= 0, FM_ENUMERIC, "lap: no finite augmenting path for row %d (costs too large?)", cur);
        w->col_done[j] = 1;
        d = w->dist[j];
        if (w->row4col[j] < 0)
            sink = j;
        else
            i = w->row4col[j];
    }
    lap_update_duals(w, cur, d);
    lap_augment(w, cur, sink);
cleanup:
    return status;
}

static fm_status lap_check(int n, const double *cost, const int *perm, fm_err *err)
{
    fm_status status = FM_OK;
    FM_CHECK(n >= 1, FM_EINVAL, "lap: n = %d, expected n >= 1", n);
    FM_CHECK(cost && perm, FM_EINVAL, "lap: %s is NULL", cost ? "perm" : "cost");
    for (int i = 0; i < n; i++)
        for (int j = 0; j < n; j++)
            FM_CHECK(isfinite(cost[(size_t)i * n + j]), FM_EINVAL, "lap: cost[%d][%d] is not finite", i, j);
cleanup:
    return status;
}

fm_status lap_solve(int n, const double *cost, int maximize, int *perm, double *total, fm_err *err)
{
    fm_status status = FM_OK;
    double *dbuf = NULL;
    int *ibuf = NULL;
    unsigned char *flags = NULL;
    FM_TRY(lap_check(n, cost, perm, err));
    FM_ALLOC(dbuf, 3 * (size_t)n);
    FM_ALLOC(ibuf, 2 * (size_t)n);
    FM_ALLOC(flags, 2 * (size_t)n);
    lap_ws w = {n, maximize ? -1.0 : 1.0, cost, dbuf, dbuf + n, dbuf + 2 * n, perm, ibuf, ibuf + n,
                flags, flags + n};
    for (int k = 0; k < n; k++) {
        w.col4row[k] = -1;
        w.row4col[k] = -1;
    }
    for (int i = 0; i < n; i++)
        FM_TRY(lap_add_row(&w, i, err));
    if (total) {
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += cost[(size_t)i * n + perm[i]];
        *total = sum;
    }
cleanup:
    free(dbuf);
    free(ibuf);
    free(flags);
    return status;
}

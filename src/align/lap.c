/* lap.c - dense linear assignment by shortest augmenting paths (Jonker-Volgenant, LAPJV).
 *
 * Used for the permutation alignment of linear policies (Eq. G.12, a maximization of
 * <P, M>) and for weight matching. Maximization minimizes a negated copy (n^2 doubles). The solver keeps
 * column potentials v; an assigned row i has the implicit potential u[i] = c[i][x[i]] - v[x[i]],
 * and the invariant is that x[i] minimizes the reduced cost c[i][j] - v[j] over the row
 * (so c[i][j] - u[i] - v[j] >= 0, with equality on the matching). Phases (Jonker & Volgenant,
 * Computing 38, 1987):
 *   1. column reduction: v[j] = min over column j; each column's lowest-index minimizing row
 *      takes the column if that row is still unassigned (columns in ascending order);
 *   2. reduction transfer: a row holding exactly one column lowers that column's v by the
 *      smallest reduced cost among its other columns, so other rows see the column as dearer;
 *   3. augmenting row reduction (twice): each free row takes the column of its smallest reduced
 *      cost, lowering v there by the gap to the second smallest, and evicts the previous owner
 *      (cheap, approximate augmenting paths);
 *   4. shortest augmenting paths for the rows still free: a Dijkstra scan over the columns in
 *      reduced costs, all columns at the current minimum distance scanned together, then the
 *      potentials of the scanned columns are updated and the path is flipped. O(n^2) per row.
 * Memory access is row-major throughout (phase 1 scans rows, keeping a running column minimum).
 *
 * Determinism: no randomness and a fixed order everywhere. Ties: phase 1 prefers the lowest row,
 * phase 3 a free column among the minimizers (lowest index), else the two lowest indices, and
 * phase 4 a free column among the columns at the minimum distance. A constant matrix gives the
 * identity. Integer-valued costs are handled in exact arithmetic (only sums and differences of
 * costs are formed).
 */
#include "lap.h"

#include <math.h>
#include <stdlib.h>

/* Phase 3 step budget per free row and pass (tuned by bench/bench_lap: 4..10 are all close). */
enum { LAP_ARR_BUDGET = 8 };

/* Solver state. c is the (sign-adjusted) n x n cost matrix, row-major. */
typedef struct lap_ws {
    int n;
    const double *c;
    double *v;      /* column potentials */
    double *d;      /* phase 4: shortest path length to each column */
    int *x, *y;     /* x[i]: column of row i, y[j]: row of column j; -1 = unassigned */
    int *free_rows; /* rows still unassigned */
    int *cols;      /* phase 4: [0, low) scanned, [low, up) at the minimum distance, [up, n) to do */
    int *pred;      /* phase 4: row preceding column j on its shortest path */
} lap_ws;

/* Phases 1 and 2. Returns the number of free rows, listed in ascending order in free_rows. */
static int lap_init(lap_ws *w)
{
    const int n = w->n;
    const double *c = w->c;
    double *v = w->v;
    int *x = w->x, *y = w->y, *count = w->cols; /* cols doubles as the per-row column count */
    for (int j = 0; j < n; j++) {
        v[j] = c[j];
        y[j] = 0;
    }
    for (int i = 1; i < n; i++) {
        const double *ci = c + (size_t)i * n;
        for (int j = 0; j < n; j++)
            if (ci[j] < v[j]) {
                v[j] = ci[j];
                y[j] = i;
            }
    }
    for (int i = 0; i < n; i++) {
        x[i] = -1;
        count[i] = 0;
    }
    for (int j = 0; j < n; j++) {
        int i = y[j];
        if (count[i]++ == 0)
            x[i] = j;
        else
            y[j] = -1;
    }
    int nfree = 0;
    for (int i = 0; i < n; i++) {
        if (count[i] == 0) {
            w->free_rows[nfree++] = i;
        } else if (count[i] == 1 && n > 1) {
            const double *ci = c + (size_t)i * n;
            int j1 = x[i];
            double m = INFINITY;
            for (int j = 0; j < n; j++) {
                double h = ci[j] - v[j];
                if (j != j1 && h < m)
                    m = h;
            }
            v[j1] -= m;
        }
    }
    return nfree;
}

/* Phase 3: one pass of augmenting row reduction over the nfree rows in free_rows. Returns the
 * number of rows left free (listed at the front of free_rows). A row evicted from a column whose
 * potential dropped is processed again at once, but only while the pass has taken fewer than
 * LAP_ARR_BUDGET * nfree steps: on random matrices these eviction chains run on like an auction
 * (about 110 steps per free row at n = 1024, 90% of the solve time), while phase 4 finishes the
 * last rows faster. The budget keeps the pass at O(nfree * n) work, and also stops long chains of
 * tiny decreases in floating point. Past it, evicted rows are left to the next pass/phase. */
static int lap_arr(lap_ws *w, int nfree)
{
    const int n = w->n;
    double *v = w->v;
    int *x = w->x, *y = w->y, *fr = w->free_rows;
    int cur = 0, nnew = 0;
    long long steps = 0;
    while (cur < nfree) {
        steps++;
        int i = fr[cur++];
        const double *ci = w->c + (size_t)i * n;
        double v1 = ci[0] - v[0], v2 = INFINITY; /* smallest and second smallest reduced cost */
        int j1 = 0, j2 = -1;
        for (int j = 1; j < n; j++) {
            double h = ci[j] - v[j];
            if (h < v2) {
                if (h >= v1) {
                    v2 = h;
                    j2 = j;
                } else {
                    v2 = v1;
                    j2 = j1;
                    v1 = h;
                    j1 = j;
                }
            }
        }
        int i0 = y[j1];
        if (v1 == v2 && i0 >= 0) { /* tie: a free minimizing column ends the chain here */
            for (int j = 0; j < n; j++)
                if (y[j] < 0 && ci[j] - v[j] == v1) {
                    j1 = j;
                    i0 = -1;
                    break;
                }
        }
        double vnew = v[j1] - (v2 - v1);
        int lowers = vnew < v[j1];
        if (steps < (long long)LAP_ARR_BUDGET * nfree) {
            if (lowers)
                v[j1] = vnew;
            else if (i0 >= 0 && j2 >= 0) {
                j1 = j2;
                i0 = y[j2];
            }
            if (i0 >= 0) {
                if (lowers)
                    fr[--cur] = i0;
                else
                    fr[nnew++] = i0;
            }
        } else if (i0 >= 0) {
            fr[nnew++] = i0;
        }
        if (i0 >= 0)
            x[i0] = -1;
        x[i] = j1;
        y[j1] = i;
    }
    return nnew;
}

/* Phase 4: assign the free row f along a shortest augmenting path. */
static fm_status lap_augment(lap_ws *w, int f, fm_err *err)
{
    fm_status status = FM_OK;
    const int n = w->n;
    const double *c = w->c;
    double *v = w->v, *d = w->d;
    int *x = w->x, *y = w->y, *cols = w->cols, *pred = w->pred;
    const double *cf = c + (size_t)f * n;
    for (int j = 0; j < n; j++) {
        d[j] = cf[j] - v[j];
        pred[j] = f;
        cols[j] = j;
    }
    int low = 0, up = 0, last = 0, sink = -1;
    double mn = 0.0;
    while (sink < 0) {
        if (up == low) { /* nothing left at the current distance: collect the next minimum */
            last = low;
            mn = INFINITY;
            for (int k = up; k < n; k++) {
                int j = cols[k];
                double h = d[j];
                if (h <= mn) {
                    if (h < mn) {
                        up = low;
                        mn = h;
                    }
                    cols[k] = cols[up];
                    cols[up++] = j;
                }
            }
            FM_CHECK(up > low && mn < INFINITY, FM_ENUMERIC,
                     "lap: no finite augmenting path for row %d (costs too large?)", f);
            for (int k = low; k < up; k++)
                if (y[cols[k]] < 0) {
                    sink = cols[k];
                    break;
                }
            if (sink >= 0)
                break;
        }
        int j1 = cols[low++], i = y[j1];
        const double *ci = c + (size_t)i * n;
        double h = ci[j1] - v[j1] - mn;
        for (int k = up; k < n; k++) {
            int j = cols[k];
            double r = ci[j] - v[j] - h;
            if (r < d[j]) {
                d[j] = r;
                pred[j] = i;
                if (r <= mn) {
                    if (y[j] < 0) {
                        sink = j;
                        break;
                    }
                    cols[k] = cols[up];
                    cols[up++] = j;
                }
            }
        }
    }
    for (int k = 0; k < last; k++) { /* columns finished below the final distance */
        int j = cols[k];
        v[j] += d[j] - mn;
    }
    for (int j = sink;;) { /* flip the path */
        int i = pred[j], next = x[i];
        y[j] = i;
        x[i] = j;
        if (i == f)
            break;
        j = next;
    }
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
    double *dbuf = NULL, *neg = NULL;
    int *ibuf = NULL;
    FM_TRY(lap_check(n, cost, perm, err));
    FM_ALLOC(dbuf, 2 * (size_t)n);
    FM_ALLOC(ibuf, 4 * (size_t)n);
    if (maximize) {
        FM_ALLOC(neg, (size_t)n * n);
        for (size_t k = 0; k < (size_t)n * n; k++)
            neg[k] = -cost[k];
    }
    lap_ws w = {n, maximize ? neg : cost, dbuf, dbuf + n, perm, ibuf, ibuf + n, ibuf + 2 * n, ibuf + 3 * n};
    int nfree = lap_init(&w);
    for (int pass = 0; pass < 2 && nfree > 0; pass++)
        nfree = lap_arr(&w, nfree);
    for (int k = 0; k < nfree; k++)
        FM_TRY(lap_augment(&w, w.free_rows[k], err));
    if (total) {
        double sum = 0.0;
        for (int i = 0; i < n; i++)
            sum += cost[(size_t)i * n + perm[i]];
        *total = sum;
    }
cleanup:
    free(dbuf);
    free(ibuf);
    free(neg);
    return status;
}

#!/usr/bin/python3
"""Reference for bench_lap.c: scipy.optimize.linear_sum_assignment (minimization) on the very
same matrix, read from the float64 row-major file bench_lap wrote.
  ref_lap_scipy.py KIND N FILE   ->  lap KIND N best_ms total
Same protocol as bench_lap: one untimed warm-up solve, then 3 timed solves; best_ms is the
fastest; total is the optimal sum (%.17g). Only the linear_sum_assignment call is timed."""
import sys
import time

import numpy as np
from scipy.optimize import linear_sum_assignment

REPS = 3


def main():
    if len(sys.argv) != 4:
        sys.exit("usage: ref_lap_scipy.py KIND N FILE")
    kind, n, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    cost = np.fromfile(path, dtype=np.float64)
    if cost.size != n * n:
        sys.exit(f"ref_lap_scipy: {path} holds {cost.size} values, expected {n * n}")
    cost = cost.reshape(n, n)
    linear_sum_assignment(cost)  # warm-up
    best = float("inf")
    for _ in range(REPS):
        t0 = time.perf_counter()
        rows, cols = linear_sum_assignment(cost)
        best = min(best, time.perf_counter() - t0)
    total = float(cost[rows, cols].sum())
    print(f"lap {kind} {n} {1e3 * best:.4f} {total:.17g}")


if __name__ == "__main__":
    main()

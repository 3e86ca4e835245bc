#!/usr/bin/python3
"""Reference: the same BC loss + BPTT gradient of a dynamic linear policy in NumPy,
vectorized over trajectories (one matrix product per time step). Prints the same line as
bench_linbc: k p m n_traj T reps seconds steps_per_second.
usage: ref_linbc.py K P M NTRAJ T REPS"""
import sys
import time

import numpy as np


def loss_grad(A, B, C, Y, U):
    n, T, _ = Y.shape
    k = A.shape[0]
    S = np.zeros((n, T, k))
    s = np.zeros((n, k))
    for t in range(T):
        s = s @ A.T + Y[:, t] @ B.T
        S[:, t] = s
    R = S @ C.T - U
    dU = 2 * R
    gC = np.einsum("ntm,ntk->mk", dU, S)
    G = dU @ C
    g = np.zeros((n, k))
    gA = np.zeros_like(A)
    gB = np.zeros_like(B)
    for t in range(T - 1, -1, -1):
        g = G[:, t] + g @ A
        if t > 0:
            gA += g.T @ S[:, t - 1]
        gB += g.T @ Y[:, t]
    return float((R * R).sum()), gA, gB, gC


def main():
    k, p, m, n, T, reps = map(int, sys.argv[1:7])
    rng = np.random.default_rng(1)
    Y, U = rng.standard_normal((n, T, p)), rng.standard_normal((n, T, m))
    A, B, C = 0.1 * rng.standard_normal((k, k)), rng.standard_normal((k, p)), rng.standard_normal((m, k))
    t0 = time.perf_counter()
    for _ in range(reps):
        loss_grad(A, B, C, Y, U)
    dt = time.perf_counter() - t0
    print(f"{k} {p} {m} {n} {T} {reps} {dt:.6f} {reps * n * T / dt:.1f}")


if __name__ == "__main__":
    main()

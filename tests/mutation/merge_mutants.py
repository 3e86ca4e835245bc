#!/usr/bin/python3
"""merge_mutants.py - mutation test of the merge algorithms (issue 12, item 5): in a PRIVATE copy of
the tree, delete or swap one algorithm step at a time (src/merge/*.c, src/align/sinkhorn.c), rebuild
the unit tests there and record which tests kill the mutant. Never touches the working tree.

usage: /usr/bin/python3 tests/mutation/merge_mutants.py [--copy DIR] [NAME_SUBSTRING ...]

--copy DIR (default: a fresh temporary directory) receives a copy of the repository without .git,
build*/ and results/; it is built with BUILD=build-mut (-j2). Each mutant must match its source
text exactly once (else SKIPPED: the source moved on; update the pattern). About 15 s per mutant
on 2 cores (~10 min for all). Exit status 1 if a mutant survives or the unmutated tree fails.
"""
import argparse
import subprocess
import sys
import os
import tempfile
TESTS = ["test_merge", "test_merge_nn", "test_sinkhorn", "test_match", "test_lap", "test_apply",
         "test_merge_linear_ref", "test_merge_nn_ref"]
L, N, S, MT = "src/merge/merge_linear.c", "src/merge/merge_nn.c", "src/align/sinkhorn.c", "src/merge/match.c"
MUTANTS = [
 ("G.14 P-step deleted", L, "gl_step_P(d, local + i * n, merged, lr, P + i * kk, &w);", ";"),
 ("theta-bar step deleted", L, "merged[j] -= lr / LA * g[j];", ";"),
 ("theta-bar C step deleted", L, "merged[j] -= lr / LC * g[j];", ";"),
 ("linear_gl normalization off", L, "if (cfg->merge.gl_normalize)\n", "if (0)\n"),
 ("G.11/G.12 LAP call deleted", L, "FM_TRY(lap_solve(k, M, 1, perm, NULL, err));", "(void)M;"),
 ("G.12 without P_prev (A' Abar)", L, "memcpy(tmp + r * k, Ab + perm[r] * k, sizeof(double) * k);", "memcpy(tmp + r * k, Ab + r * k, sizeof(double) * k);"),
 ("G.12 B term dropped", L, "la_gemm(0, 1, k, k, p, 1.0, B, Bb, 1.0, M);", ";"),
 ("G.12 merge step unaligned", L, "perm_apply(d, perm + i * k, local + i * n, aligned + i * n);", "memcpy(aligned + i * n, local + i * n, sizeof(double) * n);"),
 ("MergeMany sweeps deleted", N, "for (sweep = 0; sweep < o->mm_sweeps && N > 1; sweep++) {", "for (sweep = 0; sweep < 0 && N > 1; sweep++) {"),
 ("MergeMany: target = mean incl. self", N, "w->target[j] = (float)(((double)N * w->mean[j] - w->tmp[j]) / (N - 1));", "w->target[j] = w->mean[j];"),
 ("weight matching: 1 pass", MT, "for (pass = 0; pass < max_passes; pass++) {", "for (pass = 0; pass < 1; pass++) {"),
 ("weight matching: LAP skipped", MT, "FM_TRY(lap_solve(n, M, 1, next, NULL, err));", "memcpy(next, perms[g], sizeof(int) * n);"),
 ("Sinkhorn column normalization deleted", S, "sk_col_normalize(n, w->M, u, tau, v, w->tmp);", "memset(v, 0, sizeof(double) * n);"),
 ("merge_nn Sinkhorn iters = 1", N, "fm_sinkhorn_opts so = {.tau = o->tau, .iters = o->sk_iters};", "fm_sinkhorn_opts so = {.tau = o->tau, .iters = 1};"),
 ("soft update in fleet_merge off", N, "        FM_TRY(soft_update(&local[i], &data[i], tg, o, &r, fp->p[i], variant == FM_VARIANT_SOFT ? fs->P[i] : NULL,\n                           acc, err));", "        (void)tg, (void)fs, (void)r;"),
 ("soft step: gradient sign flipped", N, "fm_adam_step_f64(s->L[g], s->m[g], s->v[g], s->dL[g], nn, o->lr, t);", "for (size_t q = 0; q < nn; q++) s->dL[g][q] = -s->dL[g][q];\n        fm_adam_step_f64(s->L[g], s->m[g], s->v[g], s->dL[g], nn, o->lr, t);"),
 ("soft step: Sinkhorn backward skipped", N, "FM_TRY(fm_sinkhorn_backward(s->sk[g], s->dP[g], s->dL[g], err));", "memcpy(s->dL[g], s->dP[g], sizeof(double) * nn);"),
 ("soft step: interpolation alpha = 1", N, "s->wint[j] = a * s->wp[j] + (1.0f - a) * ref[j];", "s->wint[j] = s->wp[j];"),
 ("soft step: no interpolation alpha = 0", N, "s->wint[j] = a * s->wp[j] + (1.0f - a) * ref[j];", "s->wint[j] = 0.5f * s->wp[j] + 0.5f * ref[j];"),
 ("fleet_merge_soft -> fleet_merge", N, "FM_TRY(fleet_merge(FM_VARIANT_SOFT, local", "FM_TRY(fleet_merge(FM_VARIANT_HARD, local"),
 ("fleet_merge_simplex -> fleet_merge", N, "FM_TRY(fleet_merge(FM_VARIANT_SIMPLEX, local", "FM_TRY(fleet_merge(FM_VARIANT_HARD, local"),
 ("fleet_merge_average -> fleet_merge", N, "FM_TRY(fleet_merge(FM_VARIANT_AVERAGE, local", "FM_TRY(fleet_merge(FM_VARIANT_HARD, local"),
 ("fleet_merge -> fleet_merge_average", N, "FM_TRY(fleet_merge(FM_VARIANT_HARD, local", "FM_TRY(fleet_merge(FM_VARIANT_AVERAGE, local"),
 ("subset: everyone updates", N, "k = k < 1 ? 1 : k > N ? N : k;", "k = N;"),
 ("subset: same subset every epoch", N, "fm_rng_seed(&r, seed, FM_RANK_SHARED, FM_STREAM_MERGE + 1000 + (uint64_t)e);", "fm_rng_seed(&r, seed, FM_RANK_SHARED, FM_STREAM_MERGE + 1000); (void)e;"),
 ("hard projection deleted (perms kept)", N, "FM_TRY(fm_perm_project(n, s.P[g], next, err));", "memcpy(next, perms[g], sizeof(int) * n);"),
 ("linear_gl: gl_start ignored (identity)", L, "if (cfg->merge.gl_start == FM_GL_START_IDENTITY || k > 32) {", "if (1) {"),
 ("linear_perm: no convergence stop", L, "        if (changed == 0.0)\n            break;\n", ""),
 ("soft step: alpha dropped from gradient", N, "s->grad[j] *= (float)(a / count);", "s->grad[j] *= (float)(1.0 / count);"),
 ("fleet_merge: line 13 reference skipped", N, "    FM_TRY(reference(variant, local, fp, &fs, red, w, err)); /* line 13 */", "    (void)fs;"),
 ("soft update starts at identity logits", N, "fm_perm_matrix(n, perms[g], s.L[g]);", "for (int q = 0; q < n * n; q++) s.L[g][q] = q % (n + 1) == 0;"),
 ("fleet_merge_soft: soft P not kept", N, "variant == FM_VARIANT_SOFT ? fs->P[i] : NULL", "NULL"),
 ("MergeMany: anchor start skipped", N, "    FM_TRY(anchor_match(local, o, red, seed, fp, w, err));\n    for (sweep", "    for (sweep"),
 ("simplex: alpha = uniform instead of w_self", N, "    *alpha = (float)a;\n    return tg->tmp;", "    *alpha = (float)fm_rng_uniform(r);\n    return tg->tmp;"),
]

ROOT = None


def sh(cmd, timeout=600):
    return subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=timeout)

def run_tests():
    failed = []
    for t in TESTS:
        try:
            r = sh("OPENBLAS_NUM_THREADS=1 timeout 120 build-mut/tests/%s" % t, timeout=150)
            if r.returncode != 0:
                nfail = r.stdout.count("not ok")
                failed.append("%s(%s)" % (t, nfail if nfail else "rc=%d" % r.returncode))
        except subprocess.TimeoutExpired:
            failed.append("%s(timeout)" % t)
    return failed

def main():
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--copy", default=None)
    ap.add_argument("only", nargs="*")
    a = ap.parse_args()
    repo = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ROOT = a.copy or tempfile.mkdtemp(prefix="fm-mut-")
    os.makedirs(ROOT, exist_ok=True)
    subprocess.run("tar --exclude=./.git --exclude='./build*' --exclude=./results -cf - . | tar -C '%s' -xf -" % ROOT,
                   shell=True, cwd=repo, check=True)
    targets = " ".join("build-mut/tests/" + t for t in TESTS)
    b = sh("make -j2 BUILD=build-mut EXTRA_CFLAGS=-Wno-error %s" % targets)
    if b.returncode != 0:
        print("the unmutated copy does not build:", b.stderr[-500:])
        return 1
    base = run_tests()
    print("copy:", ROOT, "unmutated failures:", base or "none", flush=True)
    survivors = 0
    for name, f, old, new in MUTANTS:
        if a.only and not any(o in name for o in a.only):
            continue
        path = os.path.join(ROOT, f)
        src = open(path).read()
        cnt = src.count(old)
        if cnt != 1:
            print("%-45s SKIPPED: pattern found %d times" % (name, cnt), flush=True)
            continue
        open(path, "w").write(src.replace(old, new))
        try:
            b = sh("make -j2 BUILD=build-mut EXTRA_CFLAGS=-Wno-error %s" % targets)
            if b.returncode != 0:
                print("%-45s BUILD FAILED: %s" % (name, [x for x in b.stderr.splitlines() if "error" in x][:3]), flush=True)
                continue
            failed = run_tests()
            survivors += not failed
            print("%-45s killed by: %s" % (name, ", ".join(failed) if failed else "NONE (survived)"), flush=True)
        finally:
            open(path, "w").write(src)
    return 1 if survivors or base else 0


if __name__ == "__main__":
    sys.exit(main())

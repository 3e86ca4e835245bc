#!/usr/bin/python3
"""merge_mutants.py - mutation test of the merge algorithms (issue 12, item 5): in a PRIVATE copy of
the tree, delete or swap one algorithm step at a time (src/merge/*.c, src/align/sinkhorn.c), rebuild
the unit tests there and record which tests kill the mutant. Never touches the working tree.

usage: /usr/bin/python3 tests/mutation/merge_mutants.py [--copy DIR] [-v] [NAME_SUBSTRING ...]

--copy DIR (default: a fresh temporary directory) receives a copy of the repository without .git,
build*/ and results/; it is built with BUILD=build-mut (-j2). Each mutant must match its source
text exactly once (else SKIPPED: the source moved on; update the pattern). -v lists the failing
checks of each killing test. About 15 s per mutant
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
 ("linear_gl normalization off", L, "if (cfg->merge.gl_normalize != FM_GL_NORM_NONE)\n", "if (0)\n"),
 ("linear_gl frobenius scale -> determinant", L, "double s = how == FM_GL_NORM_FROBENIUS ? sqrt(acc[0] / acc[1]) : exp(acc[0] / acc[1]);", "double s = exp(acc[0] / acc[1]);"),
 ("linear_gl permutation start: P_i = T_i (no transpose)", L, "Pi[r * k + c] = Pi[c * k + r], Pi[c * k + r] = t;", "(void)t;"),
 ("linear_gl permutation start ignored", L, "if (cfg->merge.gl_start == FM_GL_START_PERMUTATION) {", "if (0) {"),
 ("linear_gl gl_tol ignored", L, "converged = it > 0 && cfg->merge.gl_tol > 0.0 && obj_window - obj <= cfg->merge.gl_tol * obj_window;", "converged = 0;"),
 ("linear_gl gl_select: last iterate returned", L, "memcpy(merged, best.bar, sizeof(double) * n);", ";"),
 ("linear_gl gl_select: keeps the worst", L, "if (b->step < 0 || loss < b->loss) {", "if (b->step < 0 || loss > b->loss) {"),
 ("linear_gl gl_select: only step 0 checked", L, "if (select && (it % FM_GL_TOL_WINDOW == 0 || last))", "if (select && it == 0)"),
 ("linear_gl gl_select: last step not scored", L, "if (select && (it % FM_GL_TOL_WINDOW == 0 || last))", "if (select && it % FM_GL_TOL_WINDOW == 0)"),
 ("linear_gl gl_select: gl_tol's stop not scored", L, "if (select && (it % FM_GL_TOL_WINDOW == 0 || last))", "if (select && !converged && (it % FM_GL_TOL_WINDOW == 0 || last))"),
 ("linear_gl gl_select: BC loss not a mean", L, "*loss = acc[0] / acc[1];", "*loss = acc[0];"),
 ("linear_gl gl_select: last iterate's objective", L, "info->objective = best.objective, info->selected = best.step,", "info->selected = best.step,"),
 ("G.11/G.12 LAP call deleted", L, "FM_TRY(lap_solve(k, M, 1, perm, NULL, err));", "(void)M;"),
 ("G.12 without P_prev (A' Abar)", L, "memcpy(tmp + r * k, Ab + perm[r] * k, sizeof(double) * k);", "memcpy(tmp + r * k, Ab + r * k, sizeof(double) * k);"),
 ("G.12 B term dropped", L, "la_gemm(0, 1, k, k, p, 1.0, B, Bb, 1.0, M);", ";"),
 ("G.12 merge step unaligned", L, "perm_apply(d, perm + i * k, local + i * n, aligned + i * n);", "memcpy(aligned + i * n, local + i * n, sizeof(double) * n);"),
 ("MergeMany sweeps deleted", N, "for (sweep = 0; sweep < o->mm_sweeps && N > 1; sweep++) {", "for (sweep = 0; sweep < 0 && N > 1; sweep++) {"),
 ("MergeMany: target = mean incl. self", N, "w->target[j] = (float)((sum[j] - w->tmp[j]) / (N - 1));\n", "w->target[j] = (float)(sum[j] / N);\n"),
 ("weight matching: 1 pass", MT, "for (pass = 0; pass < max_passes; pass++) {", "for (pass = 0; pass < 1; pass++) {"),
 ("weight matching: LAP skipped", MT, "FM_TRY(lap_solve(n, M, 1, next, NULL, err));", "memcpy(next, perms[g], sizeof(int) * n);"),
 ("Sinkhorn column normalization deleted", S, "sk_col_normalize(n, w->M, u, tau, v, w->tmp);", "memset(v, 0, sizeof(double) * n);"),
 ("merge_nn Sinkhorn iters = 1", N, "fm_sinkhorn_opts so = {.tau = o->tau, .iters = o->sk_iters};", "fm_sinkhorn_opts so = {.tau = o->tau, .iters = 1};"),
 ("soft update in fleet_merge off", N, "        FM_TRY(soft_update(&local[i], &data[i], tg, o, &r, fp->p[i], variant == FM_VARIANT_SOFT ? fs->P[i] : NULL,\n                           NULL, acc, err));", "        (void)tg, (void)fs, (void)r;"),
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
 ("linear_gl: gl_start ignored (identity)", L, "if (cfg->merge.gl_start == FM_GL_START_IDENTITY) {", "if (1) {"),
 ("linear_perm: no convergence stop", L, "        if (changed == 0.0)\n            break;\n", ""),
 ("soft step: alpha dropped from gradient", N, "s->grad[j] *= (float)(a / count);", "s->grad[j] *= (float)(1.0 / count);"),
 ("fleet_merge: line 13 reference skipped", N, "    FM_TRY(reference(variant, local, fp, &fs, red, w, err)); /* line 13 */", "    (void)fs;"),
 ("soft update starts at identity logits", N, "fm_perm_matrix(n, perms[g], s.L[g]);", "for (int q = 0; q < n * n; q++) s.L[g][q] = q % (n + 1) == 0;"),
 ("fleet_merge_soft: soft P not kept", N, "variant == FM_VARIANT_SOFT ? fs->P[i] : NULL", "NULL"),
 ("MergeMany: anchor start skipped", N, "    FM_TRY(anchor_match(local, o, red, seed, fp, w, err));\n    FM_TRY(aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err));\n    for (sweep", "    FM_TRY(aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err));\n    for (sweep"),
 ("simplex: alpha = uniform instead of w_self", N, "    *alpha = (float)a;\n    return tg->tmp;", "    *alpha = (float)fm_rng_uniform(r);\n    return tg->tmp;"),
 # sinkhorn_data (App. F): MergeMany frame, SoftUpdate re-match, logits kept across sweeps
 ("sinkhorn_data: logits re-initialized each sweep", N, "if (keep && keep->started) {", "if (0 && keep && keep->started) {"),
 ("sinkhorn_data: target = full mean incl. self", N, "w->target[j] = (float)((sum[j] - w->tmp[j]) / (N - 1)); /* mean of the others */", "w->target[j] = (float)(sum[j] / N);"),
 ("sinkhorn_data: target = robot 0's model", N, "w->target[j] = (float)((sum[j] - w->tmp[j]) / (N - 1)); /* mean of the others */", "w->target[j] = (m - who)->w[j]; /* serial reducer: local[0] */"),
 ("sinkhorn_data: sweeps deleted", N, "for (; N > 1 && done < o->mm_sweeps; done++) {", "for (; N > 1 && done < 0; done++) {"),
 ("sinkhorn_data: one sweep only", N, "for (; N > 1 && done < o->mm_sweeps; done++) {", "for (; N > 1 && done < 1; done++) {"),
 ("sinkhorn_data: soft update skipped", N, "FM_TRY(soft_update(m, d, &tg, o, &r, perms, NULL, keep, acc, err));", "(void)tg, (void)r, (void)keep;"),
 ("sinkhorn_data: anchor start skipped", N, "    if (o->init_wm && !o->shared_start)\n        FM_TRY(anchor_match(local, o, red, seed, fp, w, err));\n    FM_TRY(aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err));\n    for (size_t j", "    FM_TRY(aligned_mean(local, fp, red, w->tmp, w->acc, w->mean, err));\n    for (size_t j"),
 ("sinkhorn_data: re-match not added to the running sum", N, "            delta_apply(msg, P, sum);\n        }\n        FM_TRY(log_epoch(red, log, done, acc, err));", "        }\n        FM_TRY(log_epoch(red, log, done, acc, err));"),
 ("sinkhorn_data: sum gets the old alignment (no re-projection)", N, "fm_layout_permute(l, (const int *const *)perms, m->w, w->target); /* the new aligned model */", "memcpy(w->target, w->tmp, sizeof(float) * P);"),
 ("sinkhorn_data -> fleet_merge", N, "case FM_MERGE_SINKHORN_DATA: FM_TRY(sinkhorn_data(local, data, o, red, seed, &fp, &w, log, err)); break;", "case FM_MERGE_SINKHORN_DATA: FM_TRY(fleet_merge(FM_VARIANT_HARD, local, data, o, red, seed, &fp, &w, log, err)); break;"),
 ("sinkhorn_data -> git_rebasin", N, "case FM_MERGE_SINKHORN_DATA: FM_TRY(sinkhorn_data(local, data, o, red, seed, &fp, &w, log, err)); break;", "case FM_MERGE_SINKHORN_DATA: FM_TRY(merge_many(local, o, red, seed, &fp, &w, log, err)); FM_TRY(aligned_mean(local, &fp, red, w.tmp, w.acc, w.mean, err)); break;"),
 ("fleet_merge -> sinkhorn_data", N, "        FM_TRY(fleet_merge(FM_VARIANT_HARD, local, data, o, red, seed, &fp, &w, log, err));\n        break;\n    case FM_MERGE_FLEET_MERGE_SOFT:", "        FM_TRY(sinkhorn_data(local, data, o, red, seed, &fp, &w, log, err));\n        break;\n    case FM_MERGE_FLEET_MERGE_SOFT:"),
 ("sinkhorn_data: per-sweep reference loss not logged", N, "            FM_TRY(reference_loss(local, data, red, w, &log->ref_loss[done], err));", "            (void)data;"),
]

ROOT = None


def sh(cmd, timeout=600):
    return subprocess.run(cmd, shell=True, cwd=ROOT, capture_output=True, text=True, timeout=timeout)

VERBOSE = False


def run_tests():
    failed = []
    for t in TESTS:
        try:
            r = sh("OPENBLAS_NUM_THREADS=1 timeout 120 build-mut/tests/%s" % t, timeout=150)
            if r.returncode != 0:
                nfail = r.stdout.count("not ok")
                failed.append("%s(%s)" % (t, nfail if nfail else "rc=%d" % r.returncode))
                if VERBOSE:
                    failed[-1] += " [%s]" % "; ".join(x.split(" - ", 1)[-1][:90] for x in r.stdout.splitlines()
                                                        if x.startswith("not ok"))
        except subprocess.TimeoutExpired:
            failed.append("%s(timeout)" % t)
    return failed

def main():
    global ROOT
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    ap.add_argument("--copy", default=None)
    ap.add_argument("-v", "--verbose", action="store_true", help="also list the failing checks of each test")
    ap.add_argument("only", nargs="*")
    a = ap.parse_args()
    global VERBOSE
    VERBOSE = a.verbose
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

/* bench_tooluse.c - the tool-use expert over random scenes (issue 7: success >= 90% per tool
 * family over 100 scenes) and the simulation throughput (docs/tooluse.md).
 *
 * For every family and built-in instance, runs the keypoint expert on N random scenes (episode
 * randomization as in the benchmark; scene s of task h uses the stream
 * fm_rng_seed(seed, h, FM_STREAM_EVAL + 1000 + s)), counts successes and actions, and times
 * them; it also times one observation (point cloud of tool + object in the end-effector frame).
 * Prints a Markdown report to stdout, or writes it to --md FILE (FILE.tmp, then renamed).
 *   usage: bench_tooluse [--scenes N] [--instances I] [--points P] [--seed S] [--md FILE]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "env/tooluse/tooluse.h"

static const char *FAM[FM_TU_NFAMILY] = {"hammer", "wrench", "spatula", "knife"};

static void usage(void)
{
    fprintf(stderr, "usage: bench_tooluse [--scenes N] [--instances I] [--points P] [--seed S] [--md FILE]\n"
                    "  runs the tool-use expert on N random scenes per task (default 100, 4 instances per\n"
                    "  family, 1024 points) and reports success rates and simulation throughput\n");
}

static int arg_int(const char *s, int lo, int hi, int *out)
{
    char *end;
    long v = strtol(s, &end, 10);
    if (end == s || *end || v < lo || v > hi)
        return 0;
    *out = (int)v;
    return 1;
}

static void cpu_model(char *buf, size_t cap)
{
    snprintf(buf, cap, "unknown CPU");
    FILE *f = fopen("/proc/cpuinfo", "r");
    char line[512];
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(buf, cap, "%s", strchr(line, ':') + 2);
            buf[strcspn(buf, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
}

int main(int argc, char **argv)
{
    int scenes = 100, inst = 4, points = 1024, seed = 1;
    const char *md = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        int ok = v && ((!strcmp(a, "--scenes") && arg_int(v, 1, 100000, &scenes)) ||
                       (!strcmp(a, "--instances") && arg_int(v, 1, 16, &inst)) ||
                       (!strcmp(a, "--points") && arg_int(v, 2, 65536, &points) && points % 2 == 0) ||
                       (!strcmp(a, "--seed") && arg_int(v, 0, 2147483647, &seed)) ||
                       (!strcmp(a, "--md") && (md = v)));
        if (!ok) {
            fprintf(stderr, "bench_tooluse: bad or incomplete option %s%s%s\n", a, v ? " " : "", v ? v : "");
            usage();
            return 2;
        }
        i++;
    }
    int K = FM_TU_NFAMILY * inst;
    fm_tu_tool *tools = calloc((size_t)K, sizeof *tools);
    int *succ = calloc((size_t)K, sizeof *succ), *steps = calloc((size_t)K, sizeof *steps);
    double *secs = calloc((size_t)K, sizeof *secs);
    if (!tools || !succ || !steps || !secs)
        return 1;
    for (int h = 0; h < K; h++)
        fm_tu_tool_default(h % FM_TU_NFAMILY, h / FM_TU_NFAMILY, &tools[h]);
    fm_tooluse env;
    fm_err err;
    fm_err_clear(&err);
    if (fm_tooluse_build_tools(tools, K, 60, points, 1, 0.002, (uint64_t)seed, &env, &err) != FM_OK) {
        fprintf(stderr, "bench_tooluse: %s\n", err.msg);
        return 1;
    }
    for (int h = 0; h < K; h++) {
        double t0 = fm_now();
        for (int s = 0; s < scenes; s++) {
            fm_rng r;
            fm_rng_seed(&r, (uint64_t)seed, (uint64_t)h, FM_STREAM_EVAL + 1000 + (uint64_t)s);
            fm_episode_score sc;
            fm_tooluse_episode(&env, h, NULL, &r, &sc);
            succ[h] += sc.balanced;
            steps[h] += sc.steps;
        }
        secs[h] = fm_now() - t0;
        fprintf(stderr, "%-10s %3d/%d scenes, %.3f s per episode\n", tools[h].name, succ[h], scenes, secs[h] / scenes);
    }
    /* one observation: point cloud in the end-effector frame */
    double obs_us = 0;
    {
        fm_rng r;
        fm_rng_seed(&r, (uint64_t)seed, 0, FM_STREAM_EVAL);
        fm_tu_episode *e = NULL;
        double *obs = malloc(sizeof(double) * (size_t)fm_tooluse_obs_dim(&env));
        if (obs && fm_tu_episode_open(&env, 0, &r, &e, &err) == FM_OK) {
            int n = 2000;
            double t0 = fm_now();
            for (int i = 0; i < n; i++)
                fm_tu_observe(e, &r, obs);
            obs_us = (fm_now() - t0) / n * 1e6;
        }
        fm_tu_episode_close(e);
        free(obs);
    }
    char tmp[4200];
    FILE *out = stdout;
    if (md) {
        snprintf(tmp, sizeof tmp, "%s.tmp", md);
        out = fopen(tmp, "w");
        if (!out) {
            perror(tmp);
            return 1;
        }
    }
    char cpu[256], date[64];
    struct utsname u;
    uname(&u);
    cpu_model(cpu, sizeof cpu);
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&now));
    fprintf(out, "# Tool-use expert: success over random scenes\n\n");
    fprintf(out, "Measured by `build/bench/bench_tooluse --scenes %d --instances %d --points %d --seed %d` on %s\n"
                 "(%s, %s %s), one core. Scenes are random as in the benchmark (object pose, friction, mass, "
                 "tool offset, initial joints; docs/tooluse.md); an episode ends at success or after the "
                 "expert's plan.\n\n", scenes, inst, points, seed, date, cpu, u.sysname, u.release);
    fprintf(out, "| family |");
    for (int i = 0; i < inst; i++)
        fprintf(out, " %s-%d |", "inst", i);
    fprintf(out, " family total | s per episode | actions per s |\n|---|");
    for (int i = 0; i < inst + 3; i++)
        fprintf(out, "---|");
    fprintf(out, "\n");
    int all_ok = 1;
    for (int f = 0; f < FM_TU_NFAMILY; f++) {
        int s_tot = 0, a_tot = 0;
        double t_tot = 0;
        fprintf(out, "| %s |", FAM[f]);
        for (int i = 0; i < inst; i++) {
            int h = i * FM_TU_NFAMILY + f;
            fprintf(out, " %d/%d |", succ[h], scenes);
            s_tot += succ[h], a_tot += steps[h], t_tot += secs[h];
        }
        double rate = (double)s_tot / (scenes * inst);
        all_ok &= rate >= 0.9;
        fprintf(out, " **%.1f%%** | %.3f | %.0f |\n", 100 * rate, t_tot / (scenes * inst), a_tot / t_tot);
    }
    fprintf(out, "\nTarget: >= 90%% per family over the scenes: %s. One observation (%d points in the "
                 "end-effector frame with noise) takes %.1f us.\n", all_ok ? "met" : "NOT met", points, obs_us);
    if (md) {
        if (fclose(out) != 0 || rename(tmp, md) != 0) {
            perror(md);
            remove(tmp);
            return 1;
        }
        printf("report: %s\n", md);
    }
    fm_tooluse_free(&env);
    free(tools), free(succ), free(steps), free(secs);
    return all_ok ? 0 : 3;
}

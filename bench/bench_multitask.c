/* bench_multitask.c - the MT-10 experts over random scenes and the suite's speed (issue 14:
 * expert success >= 95% per task over 100 scenes; >= 5,000 environment steps per second per core
 * with the expert acting; docs/multitask.md).
 *
 * For every task: the expert (no noise) on N random scenes (scene s of task h uses the stream
 * fm_rng_seed(seed, h, 1000 + s)), its successes, actions and CPU time (steps per CPU second with
 * the expert choosing every action, observation included); then N demonstrations with DART noise (the
 * default env.mt_action_noise, 0.1) through fm_multitask_generate: scenes tried and demonstrations
 * per second. One process, one core. Prints a Markdown report to stdout (or --md FILE: FILE.tmp,
 * then renamed). Exit 3 if a task's expert is below 95%.
 *   usage: bench_multitask [--scenes N] [--seed S] [--md FILE]
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>

#include "env/multitask/multitask.h"

/* CPU seconds of this process: a rate per CPU second is the throughput of one core, also when other
 * jobs share the machine (a wall-clock rate would measure the share this process got). */
static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_multitask [--scenes N] [--seed S] [--md FILE]\n"
                    "  runs every MT-10 expert on N random scenes (default 100) and generates N DART\n"
                    "  demonstrations per task; reports success, env steps/s and demonstrations/s\n");
}

int main(int argc, char **argv)
{
    int scenes = 100, seed = 1;
    const char *md = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            usage();
            return 0;
        }
        char *end = NULL;
        long n = v ? strtol(v, &end, 10) : 0;
        int num = v && end != v && !*end;
        if (!strcmp(a, "--scenes") && num && n >= 1 && n <= 100000)
            scenes = (int)n;
        else if (!strcmp(a, "--seed") && num && n >= 0 && n <= 2147483647)
            seed = (int)n;
        else if (!strcmp(a, "--md") && v)
            md = v;
        else {
            fprintf(stderr, "bench_multitask: bad or incomplete option %s%s%s\n", a, v ? " " : "", v ? v : "");
            usage();
            return 2;
        }
        i++;
    }
    fm_multitask env;
    fm_err err;
    fm_err_clear(&err);
    if (fm_multitask_build_explicit(FM_MT_NTASK, 200, 3, 1, 0.1, &env, &err) != FM_OK) {
        fprintf(stderr, "bench_multitask: %s\n", err.msg);
        return 1;
    }
    char buf[16384];
    size_t len = 0;
    char cpu[256] = "unknown CPU", line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(cpu, sizeof cpu, "%s", strchr(line, ':') + 2);
            cpu[strcspn(cpu, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
    struct utsname u;
    uname(&u);
    time_t t0 = time(NULL);
    char date[32];
    strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", gmtime(&t0));
    len += (size_t)snprintf(buf + len, sizeof buf - len,
                            "# MT-10 experts and speed\n\nMeasured by `build/bench/bench_multitask --scenes %d --seed %d` "
                            "on %s (%s, %s %s), one process; rates per CPU second of the process (one core's throughput, "
                            "also on a shared machine). Expert: no noise, horizon 200, hold 3. Demonstrations: "
                            "DART noise 0.1 (the default), failed scenes re-drawn.\n\n"
                            "| task | expert success | actions per episode | env steps per CPU s (expert acting) | "
                            "demonstrations: scenes tried | demonstrations per CPU s |\n|---|---|---|---|---|---|\n",
                            scenes, seed, date, cpu, u.sysname, u.release);
    int worst = scenes, total_ok = 0;
    double total_steps = 0, total_secs = 0;
    for (int h = 0; h < env.K; h++) {
        int ok = 0;
        double steps = 0, t = now();
        for (int s = 0; s < scenes; s++) {
            fm_rng r;
            fm_rng_seed(&r, (uint64_t)seed, (uint64_t)h, 1000 + (uint64_t)s);
            fm_episode_score sc;
            fm_multitask_episode(&env, h, NULL, &r, &sc);
            ok += sc.balanced;
            steps += sc.steps;
        }
        double secs = now() - t;
        fm_rng r;
        fm_rng_seed(&r, (uint64_t)seed, (uint64_t)h, 999);
        int *tasks = malloc(sizeof(int) * (size_t)scenes), tried = 0;
        fm_demos d;
        if (!tasks)
            return 1;
        for (int s = 0; s < scenes; s++)
            tasks[s] = h;
        t = now();
        fm_status st = fm_multitask_generate(&env, tasks, scenes, &r, &d, &tried, &err);
        double gsecs = now() - t;
        free(tasks);
        if (st != FM_OK) {
            fprintf(stderr, "bench_multitask: %s\n", err.msg);
            return 1;
        }
        fm_demos_free(&d);
        worst = ok < worst ? ok : worst;
        total_ok += ok;
        total_steps += steps;
        total_secs += secs;
        len += (size_t)snprintf(buf + len, sizeof buf - len, "| %s | %d/%d | %.1f | %.0f | %d for %d | %.0f |\n",
                                fm_mt_task_name(h), ok, scenes, steps / scenes, steps / secs, tried, scenes,
                                scenes / gsecs);
    }
    len += (size_t)snprintf(buf + len, sizeof buf - len,
                            "| **all** | **%d/%d** | %.1f | **%.0f** | | |\n\nTargets: expert >= 95%% per task (%s), "
                            ">= 5,000 env steps/s per core with the expert acting (%s).\n",
                            total_ok, scenes * env.K, total_steps / (scenes * env.K), total_steps / total_secs,
                            worst * 100 >= 95 * scenes ? "met" : "MISSED", total_steps / total_secs >= 5000 ? "met" : "MISSED");
    fm_multitask_free(&env);
    if (md) {
        char tmp[4096];
        snprintf(tmp, sizeof tmp, "%s.tmp", md);
        FILE *o = fopen(tmp, "w");
        if (!o || fwrite(buf, 1, len, o) != len || fclose(o) != 0 || rename(tmp, md) != 0) {
            fprintf(stderr, "bench_multitask: cannot write %s\n", md);
            remove(tmp);
            return 1;
        }
    } else {
        fwrite(buf, 1, len, stdout);
    }
    return worst * 100 >= 95 * scenes ? 0 : 3;
}

/* main.c - the `fleet` command: setup, one subcommand, report, teardown. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/fault.h"
#include "fleet/fleet.h"
#include "io/h5io.h"

#define FLEET_VERSION "0.1.0"

static const char *USAGE =
    "usage: fleet <command> [options]\n"
    "\n"
    "fleetmerge: robot fleet learning by policy merging (FLEET-MERGE, ICLR 2024).\n"
    "Each MPI rank is one robot: mpirun -n N build/fleet run CONFIG\n"
    "\n"
    "commands:\n"
    "  run CONFIG     train every robot on its own data, merge, evaluate, write results\n"
    "  gen CONFIG     generate the robots' demonstrations into one HDF5 file\n"
    "  info FILE      describe a fleetmerge HDF5 file (demonstrations or results)\n"
    "  merge RESULTS  merge the local models saved in a results file, offline, in one process\n"
    "  sweep CONFIG   count or list the points of the config's sweep section\n"
    "  render SOURCE  PNG frames of a tool-use episode (expert or a saved policy), offscreen\n"
    "\n"
    "options:\n"
    "  -h, --help     show help (also `fleet <command> --help`)\n"
    "  --version      print the version and the build (git describe of the sources)\n"
    "\n"
    "Config keys: docs/config.md. File formats: docs/schema.md.\n";

static const char *USAGE_RUN =
    "usage: mpirun -n N fleet run CONFIG [--set KEY=VALUE]... [--sweep-index I] [--force] [--quiet] [--resume]\n"
    "                                    [--output FILE]\n"
    "\n"
    "Runs the experiment of CONFIG with one robot per MPI rank and writes\n"
    "<experiment.output_dir>/<experiment.name>/results.h5 (written to a .tmp name, then renamed).\n"
    "With rl.enabled: true every robot runs REINFORCE on its own cart-pole episodes instead, and the\n"
    "fleet averages the policies every rl.merge_every episodes (online RL, docs/rl.md).\n"
    "\n"
    "  --force        overwrite an existing results file\n"
    "  --quiet        no progress lines (the summary table is still printed)\n"
    "  --sweep-index I  run point I of the config's sweep section (e.g. $SLURM_ARRAY_TASK_ID);\n"
    "                 results go to <output_dir>/<name>/<I>/results.h5, a finished point is skipped\n"
    "  --resume       continue merging rounds from <results>.ckpt, and fail if there is none\n"
    "                 (re-running the same command resumes too, when a checkpoint exists)\n"
    "  --output FILE  write the results to FILE instead\n"
    "  --set KEY=VALUE  override a config key, e.g. --set fleet.alpha=0.1 --set 'merge.methods=[average]'\n"
    "                 (repeatable, the last one of a key wins; validated like the file's value and\n"
    "                 recorded in the results' /config; a swept key cannot be set)\n"
    "exit codes: 0 ok, 1 runtime failure, 2 bad config or a refused run (existing or stale results, a\n"
    "checkpoint of another run), 4 aborted (a rank stuck: the watchdog ended the job), 64 bad command line\n"
    "\n"
    "A failure on one rank ends every rank with its message. Environment:\n"
    "  FLEET_GUARD_SECONDS=S  a rank that failed alone ends the job if the others do not agree\n"
    "                 within S seconds (default 10)\n"
    "  FLEET_FAULT=PHASE@RANK[:hang][,...]  tests only: rank RANK fails (or hangs) at PHASE, one of\n"
    "                 data, training, merge[:METHOD], pooled, task_specific, finetune, evaluation,\n"
    "                 barriers, results, collective_write, checkpoint, resume (docs/faults.md)\n";

static const char *USAGE_GEN =
    "usage: mpirun -n N fleet gen CONFIG -o FILE [--set KEY=VALUE]... [--force]\n"
    "\n"
    "Every rank draws its robot's task mixture p_i ~ Dirichlet(alpha 1_K) and generates its\n"
    "demonstrations with the expert; the fleet writes them to one demonstrations file\n"
    "(docs/schema.md). Use it in a run with `fleet.data: FILE` and the same number of ranks.\n";

static const char *USAGE_RENDER =
    "usage: fleet render SOURCE --task H [--policy P] [--seed S] [--out DIR] [--size WxH] [--camera C] [--quiet]\n"
    "\n"
    "Writes DIR/frame_NNNN.png for one tool-use or MT-10 episode (env.kind: tooluse or multitask):\n"
    "the scene after every action, rendered offscreen (OSMesa, no GPU needed), until success (MT-10:\n"
    "the hold after it) or the horizon.\n"
    "\n"
    "  SOURCE         a results file (.h5: its config and saved policies) or a config file (expert only)\n"
    "  --task H       task index (tooluse: family H % 4, instance H / 4; multitask: the table's H-th task)\n"
    "  --policy P     expert (default), pooled, merged/<method> or local/<robot>\n"
    "  --seed S       scene seed (default 0)\n"
    "  --out DIR      output directory (default frames/), created if missing\n"
    "  --size WxH     image size (default 640x480, at most 1280x960)\n"
    "  --camera C     a scene camera (tooluse: front, overhead); default: a free camera over the table\n"
    "exit codes: 0 ok, 1 failure, 2 bad config, 64 bad command line\n";

static const char *USAGE_INFO =
    "usage: fleet info FILE\n"
    "\n"
    "Prints the attributes and datasets (shape, type) of a fleetmerge HDF5 file.\n";

static const char *USAGE_SWEEP =
    "usage: fleet sweep CONFIG [--set KEY=VALUE]... --count | --list | --ranks | --resources | --status\n"
    "\n"
    "A config's `sweep:` section lists section.key: [values] (cartesian product, the last key\n"
    "varying fastest), seeds: [...] and zip: [{k1: [...], k2: [...]}] groups that vary together.\n"
    "  --count   print the number of points (the size of a Slurm array: 0..count-1)\n"
    "  --list    print every point as `I: key=value ...`\n"
    "  --ranks   print every point's fleet.robots as `I: R` (0: not set, one robot per rank)\n"
    "  --resources  print `I: R T`: fleet.robots and experiment.time_limit (`-`: not set), what\n"
    "            slurm/submit_sweep.sh groups the points by\n"
    "  --status  print every point's state from its directory: done, stale (results of another config\n"
    "            or rank count), running (its lock is held), interrupted (a checkpoint: a rerun resumes\n"
    "            it), failed (its last run's exit code and error) or missing; exit 0 when every point\n"
    "            is done, 3 otherwise\n"
    "Every mode loads and validates every point: a bad point is an error (exit 2) in each.\n"
    "--set KEY=VALUE overrides a key for every point (as `fleet run --set`; pass the same ones there).\n"
    "Run point I with `mpirun -n N fleet run CONFIG --sweep-index I` (slurm/submit_sweep.sh).\n";

static const char *USAGE_MERGE =
    "usage: fleet merge RESULTS.h5 --method M -o OUT.h5 [--data DEMOS.h5] [--force]\n"
    "\n"
    "Merges the robots' local models stored in RESULTS.h5 (/models/local) with method M\n"
    "(average, linear_perm, linear_gl for linear policies; average, git_rebasin,\n"
    "sinkhorn_rebasin, fleet_merge, fleet_merge_soft, fleet_merge_simplex, fleet_merge_average,\n"
    "sinkhorn_data for neural ones) using the merge settings of the run's stored config, in this\n"
    "one process (the same code as the MPI fleet, with a serial reducer). Methods that train soft\n"
    "permutations on the robots' data need --data: a demonstrations file with one shard per robot\n"
    "(`fleet gen` with the run's config and rank count reproduces the run's data). Writes OUT.h5.\n";

static int want_help(int argc, char **argv)
{
    for (int i = 2; i < argc; i++)
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
            return 1;
    return 0;
}

static fm_status usage_error(const char *usage, const char *msg, const char *arg, fm_err *err)
{
    fm_fail(err, FM_EUSAGE, "%s%s%s\n%s", msg, arg ? ": " : "", arg ? arg : "", usage);
    return FM_EUSAGE;
}

/* Take every `--set KEY=VALUE` (or `--set=KEY=VALUE`) out of argv (*argc shrinks) and hand them to
 * the config loader (fm_cfg_set_overrides), which validates each like the file's value. */
enum { MAX_SETS = 256 };
static fm_status take_sets(int *argc, char **argv, const char *usage, fm_err *err)
{
    static const char *sets[MAX_SETS];
    int n = 0, j = 2;
    for (int i = 2; i < *argc; i++) {
        const char *v = NULL;
        if (!strcmp(argv[i], "--set"))
            v = i + 1 < *argc ? argv[++i] : NULL;
        else if (!strncmp(argv[i], "--set=", 6))
            v = argv[i] + 6;
        else {
            argv[j++] = argv[i];
            continue;
        }
        if (!v)
            return usage_error(usage, "--set needs KEY=VALUE, e.g. --set fleet.alpha=0.1", NULL, err);
        if (n == MAX_SETS)
            return usage_error(usage, "too many --set options (at most 256)", NULL, err);
        sets[n++] = v;
    }
    *argc = j;
    fm_cfg_set_overrides(sets, n);
    return FM_OK;
}

static fm_status cmd_run(int argc, char **argv, fm_err *err)
{
    fm_run_opts opts = {.sweep_index = -1};
    const char *config = NULL;
    if (take_sets(&argc, argv, USAGE_RUN, err) != FM_OK)
        return FM_EUSAGE;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--force"))
            opts.force = 1;
        else if (!strcmp(argv[i], "--quiet"))
            opts.quiet = 1;
        else if (!strcmp(argv[i], "--resume"))
            opts.resume = 1;
        else if (!strcmp(argv[i], "--sweep-index")) {
            char *end = NULL;
            long v = i + 1 < argc ? strtol(argv[i + 1], &end, 10) : -1;
            if (i + 1 >= argc || !end || *end || end == argv[i + 1] || v < 0 || v > 100000000)
                return usage_error(USAGE_RUN, "fleet run: --sweep-index needs an index >= 0, got",
                                   i + 1 < argc ? argv[i + 1] : "nothing", err);
            opts.sweep_index = (int)v;
            i++;
        }
        else if (!strcmp(argv[i], "--output") && i + 1 < argc)
            opts.output = argv[++i];
        else if (!strcmp(argv[i], "--output"))
            return usage_error(USAGE_RUN, "fleet run: --output needs a FILE", NULL, err);
        else if (argv[i][0] == '-')
            return usage_error(USAGE_RUN, "fleet run: unknown option", argv[i], err);
        else if (!config)
            config = argv[i];
        else
            return usage_error(USAGE_RUN, "fleet run: unexpected argument", argv[i], err);
    }
    if (!config)
        return usage_error(USAGE_RUN, "fleet run: missing CONFIG", NULL, err);
    return fm_world_run(config, &opts, err);
}

static fm_status cmd_gen(int argc, char **argv, fm_err *err)
{
    const char *config = NULL, *out = NULL;
    int force = 0;
    if (take_sets(&argc, argv, USAGE_GEN, err) != FM_OK)
        return FM_EUSAGE;
    for (int i = 2; i < argc; i++) {
        if ((!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output")) && i + 1 < argc)
            out = argv[++i];
        else if (!strcmp(argv[i], "-o") || !strcmp(argv[i], "--output"))
            return usage_error(USAGE_GEN, "fleet gen: -o needs a FILE", NULL, err);
        else if (!strcmp(argv[i], "--force"))
            force = 1;
        else if (argv[i][0] == '-')
            return usage_error(USAGE_GEN, "fleet gen: unknown option", argv[i], err);
        else if (!config)
            config = argv[i];
        else
            return usage_error(USAGE_GEN, "fleet gen: unexpected argument", argv[i], err);
    }
    if (!config || !out)
        return usage_error(USAGE_GEN, "fleet gen: need CONFIG and -o FILE", NULL, err);
    return fm_world_gen(config, out, force, err);
}

static fm_status cmd_merge(int argc, char **argv, fm_err *err)
{
    const char *results = NULL, *method = NULL, *out = NULL, *data = NULL;
    int force = 0;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if ((!strcmp(a, "--method") || !strcmp(a, "-o") || !strcmp(a, "--output") || !strcmp(a, "--data")) &&
            i + 1 >= argc)
            return usage_error(USAGE_MERGE, "fleet merge: option needs a value", a, err);
        if (!strcmp(a, "--method"))
            method = argv[++i];
        else if (!strcmp(a, "-o") || !strcmp(a, "--output"))
            out = argv[++i];
        else if (!strcmp(a, "--data"))
            data = argv[++i];
        else if (!strcmp(a, "--force"))
            force = 1;
        else if (a[0] == '-')
            return usage_error(USAGE_MERGE, "fleet merge: unknown option", a, err);
        else if (!results)
            results = a;
        else
            return usage_error(USAGE_MERGE, "fleet merge: unexpected argument", a, err);
    }
    if (!results || !method || !out)
        return usage_error(USAGE_MERGE, "fleet merge: need RESULTS, --method and -o", NULL, err);
    fm_status local = fm_world_rank() == 0 ? fm_fleet_merge_offline(results, method, data, out, force, err) : FM_OK;
    return fm_world_agree(local, err);
}

/* Rank 0 prints the count, the points or their rank counts; every rank returns the same status. Every
 * point is loaded (and so validated, cross-key rules included) in each mode, so a bad point is
 * caught before any of them is queued. */
enum { SWEEP_COUNT = 0, SWEEP_LIST, SWEEP_RANKS, SWEEP_RESOURCES };
static fm_status sweep_print(const char *config, int mode, fm_config *cfg, fm_err *err)
{
    fm_status status = FM_OK;
    FM_TRY(fm_cfg_load_file(config, cfg, err));
    int count = cfg->sweep.count;
    for (int i = 0; i < count; i++) {
        fm_status st = fm_cfg_load_point(config, i, cfg, err);
        if (st != FM_OK && count == 1 && strstr(err->msg, "no sweep section")) {
            fm_err_clear(err);
            FM_TRY(fm_cfg_load_file(config, cfg, err));
            if (mode == SWEEP_LIST)
                printf("0: (no sweep section: the config is its only point)\n");
            else if (mode == SWEEP_RANKS)
                printf("0: %d\n", cfg->fleet.robots);
            else if (mode == SWEEP_RESOURCES)
                printf("0: %d %s\n", cfg->fleet.robots, cfg->experiment.time_limit[0] ? cfg->experiment.time_limit : "-");
            break;
        }
        FM_TRY(st);
        if (mode == SWEEP_LIST)
            printf("%d: %s\n", i, cfg->sweep.overrides);
        else if (mode == SWEEP_RANKS)
            printf("%d: %d\n", i, cfg->fleet.robots);
        else if (mode == SWEEP_RESOURCES)
            printf("%d: %d %s\n", i, cfg->fleet.robots, cfg->experiment.time_limit[0] ? cfg->experiment.time_limit : "-");
    }
    if (mode == SWEEP_COUNT)
        printf("%d\n", count);
cleanup:
    return status;
}

static fm_status cmd_sweep(int argc, char **argv, fm_err *err)
{
    fm_status status = FM_OK;
    const char *config = NULL;
    int count = 0, list = 0, ranks = 0, stat = 0, res = 0;
    fm_config *cfg = NULL;
    if (take_sets(&argc, argv, USAGE_SWEEP, err) != FM_OK)
        return FM_EUSAGE;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--count"))
            count = 1;
        else if (!strcmp(argv[i], "--list"))
            list = 1;
        else if (!strcmp(argv[i], "--ranks"))
            ranks = 1;
        else if (!strcmp(argv[i], "--status"))
            stat = 1;
        else if (!strcmp(argv[i], "--resources"))
            res = 1;
        else if (argv[i][0] == '-')
            return usage_error(USAGE_SWEEP, "fleet sweep: unknown option", argv[i], err);
        else if (!config)
            config = argv[i];
        else
            return usage_error(USAGE_SWEEP, "fleet sweep: unexpected argument", argv[i], err);
    }
    if (!config || count + list + ranks + stat + res != 1)
        return usage_error(USAGE_SWEEP,
                           "fleet sweep: need CONFIG and one of --count, --list, --ranks, --resources, --status", NULL,
                           err);
    if (stat) {
        int all_done = 0;
        fm_status local = fm_world_rank() == 0 ? fm_fleet_sweep_status(config, stdout, &all_done, err) : FM_OK;
        if (local == FM_OK && fm_world_rank() == 0 && !all_done)
            local = fm_fail(err, FM_EPARTIAL, "%s: not every point is done (states above)", config);
        return fm_world_agree(local, err);
    }
    FM_ALLOC(cfg, 1);
    int mode = list ? SWEEP_LIST : ranks ? SWEEP_RANKS : res ? SWEEP_RESOURCES : SWEEP_COUNT;
    FM_TRY(fm_world_agree(fm_world_rank() == 0 ? sweep_print(config, mode, cfg, err) : FM_OK, err));
cleanup:
    free(cfg);
    return status;
}

static int parse_ll(const char *s, long long lo, long long hi, long long *out)
{
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        return 0;
    *out = v;
    return 1;
}

static fm_status cmd_render(int argc, char **argv, fm_err *err)
{
    fm_render_opts o = {.policy = "expert", .out_dir = "frames", .camera = "", .task = -1, .seed = 0,
                        .width = 640, .height = 480};
    long long v;
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i], *next = i + 1 < argc ? argv[i + 1] : NULL;
        int takes = !strcmp(a, "--task") || !strcmp(a, "--policy") || !strcmp(a, "--seed") || !strcmp(a, "--out") ||
                    !strcmp(a, "--size") || !strcmp(a, "--camera");
        if (takes && !next)
            return usage_error(USAGE_RENDER, "fleet render: missing value after", a, err);
        if (!strcmp(a, "--task")) {
            if (!parse_ll(next, 0, 1000000, &v))
                return usage_error(USAGE_RENDER, "fleet render: --task needs an integer >= 0, got", next, err);
            o.task = (int)v;
        } else if (!strcmp(a, "--seed")) {
            if (!parse_ll(next, 0, 2147483647LL, &v))
                return usage_error(USAGE_RENDER, "fleet render: --seed needs an integer in [0, 2^31), got", next, err);
            o.seed = v;
        } else if (!strcmp(a, "--size")) {
            if (sscanf(next, "%dx%d", &o.width, &o.height) != 2)
                return usage_error(USAGE_RENDER, "fleet render: --size needs WxH, got", next, err);
        } else if (!strcmp(a, "--policy")) {
            o.policy = next;
        } else if (!strcmp(a, "--out")) {
            o.out_dir = next;
        } else if (!strcmp(a, "--camera")) {
            o.camera = next;
        } else if (!strcmp(a, "--quiet")) {
            o.quiet = 1;
            continue;
        } else if (a[0] == '-') {
            return usage_error(USAGE_RENDER, "fleet render: unknown option", a, err);
        } else if (!o.source) {
            o.source = a;
            continue;
        } else {
            return usage_error(USAGE_RENDER, "fleet render: unexpected argument", a, err);
        }
        i++;
    }
    if (!o.source || o.task < 0)
        return usage_error(USAGE_RENDER, "fleet render: need SOURCE and --task H", NULL, err);
    fm_status local = fm_world_rank() == 0 ? fm_fleet_render(&o, err) : FM_OK;
    return fm_world_agree(local, err);
}

static fm_status cmd_info(int argc, char **argv, fm_err *err)
{
    if (argc != 3 || argv[2][0] == '-')
        return usage_error(USAGE_INFO, "fleet info: need exactly one FILE", NULL, err);
    fm_status local = fm_world_rank() == 0 ? fm_h5_describe(argv[2], stdout, err) : FM_OK;
    return fm_world_agree(local, err);
}

int main(int argc, char **argv)
{
    fm_world_init(&argc, &argv);
    int rank = fm_world_rank();
    fm_err err;
    fm_err_clear(&err);
    fm_status status = fm_fault_init(rank, &err); /* FLEET_FAULT: tests only (README "Testing") */
    const char *cmd = argc > 1 ? argv[1] : NULL;
    const char *help = NULL;
    if (status != FM_OK) {
        /* a malformed FLEET_FAULT is reported below, and no command runs */
    } else if (!cmd || !strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
        help = USAGE;
    else if (!strcmp(cmd, "--version")) {
        static char version[160];
        snprintf(version, sizeof version, "fleet %s (%s)\n", FLEET_VERSION, fm_version());
        help = version;
    }
    else if (!strcmp(cmd, "run"))
        help = want_help(argc, argv) ? USAGE_RUN : NULL, status = help ? FM_OK : cmd_run(argc, argv, &err);
    else if (!strcmp(cmd, "gen"))
        help = want_help(argc, argv) ? USAGE_GEN : NULL, status = help ? FM_OK : cmd_gen(argc, argv, &err);
    else if (!strcmp(cmd, "sweep"))
        help = want_help(argc, argv) ? USAGE_SWEEP : NULL, status = help ? FM_OK : cmd_sweep(argc, argv, &err);
    else if (!strcmp(cmd, "merge"))
        help = want_help(argc, argv) ? USAGE_MERGE : NULL, status = help ? FM_OK : cmd_merge(argc, argv, &err);
    else if (!strcmp(cmd, "render"))
        help = want_help(argc, argv) ? USAGE_RENDER : NULL, status = help ? FM_OK : cmd_render(argc, argv, &err);
    else if (!strcmp(cmd, "info"))
        help = want_help(argc, argv) ? USAGE_INFO : NULL, status = help ? FM_OK : cmd_info(argc, argv, &err);
    else
        status = usage_error(USAGE, "fleet: unknown command", cmd, &err);
    if (help && rank == 0)
        fputs(help, stdout);
    if (status != FM_OK && rank == 0)
        fprintf(stderr, "fleet: error: %s\n", err.msg);
    if (status != FM_OK && rank == 0 && getenv("FLEET_TRACE"))
        fprintf(stderr, "fleet: trace: %s\n", err.trace);
    return fm_world_finalize(fm_exit_code(status));
}

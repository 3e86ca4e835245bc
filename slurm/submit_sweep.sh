#!/usr/bin/env bash
# submit_sweep.sh - submit a fleetmerge sweep to Slurm: one array task per point, then the aggregation.
#
# usage: slurm/submit_sweep.sh [options] CONFIG [-- SBATCH_ARGS...]
#
#   -n, --ntasks N         robots = MPI ranks of every point (default: each point's fleet.robots, 4
#                          where the config leaves it 0; a point whose fleet.robots differs from N
#                          is an error before anything is queued)
#   -p, --partition P      partition of both jobs
#   -t, --time T           time limit of each point without its own experiment.time_limit
#                          (sbatch --time; default: the template's)
#   -m, --max M            at most M points run at once (--array=...%M; default $MAX, else 8)
#   -r, --results-dir D    the sweep's results directory (default: <experiment.output_dir>/
#                          <experiment.name> read from CONFIG, relative to this directory)
#   -s, --set KEY=VALUE    override a config key for every point (repeatable; `fleet run --set`):
#                          validated at submission, passed to every task, recorded in each /config
#   -f, --fleet-arg ARG    pass ARG to every `fleet run` (repeatable), e.g. -f --quiet
#       --afterany         aggregate even if some points failed (afterany instead of afterok)
#       --retry            submit only the points `fleet sweep CONFIG --status` calls missing,
#                          interrupted or failed (not done, stale or running ones), then the aggregation
#       --aggregate-only   submit only the aggregation job (no dependency)
#       --dry-run          print the two sbatch commands instead of submitting
#   -h, --help             this text
#   -- SBATCH_ARGS...      passed to both sbatch calls as they are (e.g. --account=A --qos=Q)
#
# The sweep runs a snapshot of CONFIG taken at submission (RESULTS_DIR/submitted/<time>-<pid>.yaml).
# The points, their rank counts and time limits come from `fleet sweep CONFIG --resources` (which
# validates every point); points with the same rank count and experiment.time_limit form one array
# job, `sbatch --array=<indices>%MAX --ntasks=R [--time=T] slurm/sweep.sbatch CONFIG` (one job for the
# usual sweep, one per value of a swept fleet.robots or time limit), and the aggregation job
# `sbatch --dependency=afterok:<array job ids> slurm/aggregate.sbatch RESULTS_DIR`, which writes
# RESULTS_DIR/sweep.csv and sweep.md. Prints both job ids. Submit from the directory the relative
# paths of CONFIG (experiment.output_dir) refer to: it is the jobs' working directory. Jobs are named
# fleet-<name> and fleetagg-<name> (<name>: the results directory's); logs go to
# RESULTS_DIR/logs/fleet-<name>-<job>_<index>.out and fleetagg-<name>-<job>.out.
# Environment: FLEET (the fleet binary, default <repo>/build/fleet), PYTHON (default
# /usr/bin/python3), MAX; the jobs receive FLEET and AGGREGATE through sbatch's default
# --export=ALL. Nothing from the config or the arguments is evaluated by a shell.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)
usage="usage: slurm/submit_sweep.sh [-n NTASKS] [-p PARTITION] [-t TIME] [-m MAX] [-r RESULTS_DIR] [-s KEY=VALUE]... [-f FLEET_ARG]... [--afterany] [--retry | --aggregate-only] [--dry-run] CONFIG [-- SBATCH_ARGS...]"

die() { # die STATUS MESSAGE
    echo "submit_sweep.sh: $2" >&2
    exit "$1"
}

abspath() { # abspath PATH: PATH made absolute against the current directory (not resolved)
    case $1 in
    /*) printf '%s\n' "$1" ;;
    *) printf '%s\n' "$PWD/$1" ;;
    esac
}

ntasks="" partition="" time_limit="" max=${MAX:-8} results_dir="" config="" dependency=afterok dry_run=0 retry=0 agg_only=0
fleet_args=()
sets=() # --set KEY=VALUE, as `--set` `KEY=VALUE` pairs for fleet
extra=()
need_value() { # need_value OPTION REMAINING_ARGS
    [[ $2 -ge 2 ]] || die 2 "$1 needs a value"$'\n'"$usage"
}
while [[ $# -gt 0 ]]; do
    case $1 in
    -h | --help)
        sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
        exit 0
        ;;
    -n | --ntasks) need_value "$1" $#; ntasks=$2; shift 2 ;;
    --ntasks=*) ntasks=${1#*=}; shift ;;
    -p | --partition) need_value "$1" $#; partition=$2; shift 2 ;;
    --partition=*) partition=${1#*=}; shift ;;
    -t | --time) need_value "$1" $#; time_limit=$2; shift 2 ;;
    --time=*) time_limit=${1#*=}; shift ;;
    -m | --max) need_value "$1" $#; max=$2; shift 2 ;;
    --max=*) max=${1#*=}; shift ;;
    -r | --results-dir) need_value "$1" $#; results_dir=$2; shift 2 ;;
    --results-dir=*) results_dir=${1#*=}; shift ;;
    -s | --set) need_value "$1" $#; sets+=(--set "$2"); shift 2 ;;
    --set=*) sets+=(--set "${1#*=}"); shift ;;
    -f | --fleet-arg) need_value "$1" $#; fleet_args+=("$2"); shift 2 ;;
    --fleet-arg=*) fleet_args+=("${1#*=}"); shift ;;
    --afterany) dependency=afterany; shift ;;
    --retry) retry=1; shift ;;
    --aggregate-only) agg_only=1; shift ;;
    --dry-run) dry_run=1; shift ;;
    --)
        shift
        extra=("$@")
        break
        ;;
    -*) die 2 "unknown option: $1"$'\n'"$usage" ;;
    *)
        [[ -z $config ]] || die 2 "one CONFIG only (got '$config' and '$1'); sbatch options go after --"$'\n'"$usage"
        config=$1
        shift
        ;;
    esac
done
[[ -n $config ]] || die 2 "$usage"
for a in ${extra[@]+"${extra[@]}"}; do # the array is this script's (and the aggregation is never one)
    case $a in
    -a | -a* | --array | --array=*) die 2 "$a after --: the array is set from the sweep (use -m/--max to limit it)" ;;
    esac
done
[[ -z $ntasks || $ntasks =~ ^[1-9][0-9]*$ ]] || die 2 "--ntasks: expected a positive integer, got '$ntasks'"
[[ $max =~ ^[1-9][0-9]*$ ]] || die 2 "--max (or MAX): expected a positive integer, got '$max'"
[[ -f $config && -r $config ]] || die 2 "$config: no such readable file"
config=$(abspath "$config")

FLEET=${FLEET:-$root/build/fleet}
FLEET=$(abspath "$FLEET")
[[ -x $FLEET ]] || die 1 "$FLEET: not an executable (build it with make, or set FLEET)"
AGGREGATE=$root/analysis/aggregate.py
PYTHON=${PYTHON:-/usr/bin/python3}
export FLEET AGGREGATE PYTHON

# The points, their rank counts and time limits. `fleet sweep --resources` validates every point
# (unknown keys, unequal zip groups, cross-key rules) and prints `I: R T` (R = fleet.robots, 0 = not
# set; T = experiment.time_limit, - = not set). Points with the same R and T form one array job.
res_out=$("$FLEET" sweep "$config" ${sets[@]+"${sets[@]}"} --resources) ||
    die $? "fleet sweep $config --resources failed (see above)"
declare -A group=() # "R|T" -> comma-separated point indices
count=0
while IFS= read -r line; do
    [[ $line =~ ^([0-9]+):\ ([0-9]+)\ ([0-9:-]+)$ ]] || die 1 "fleet sweep --resources printed '$line', expected 'I: R T'"
    idx=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]} t=${BASH_REMATCH[3]}
    if [[ -n $ntasks ]]; then
        ((r == 0 || r == ntasks)) ||
            die 2 "point $idx sets fleet.robots: $r but --ntasks is $ntasks (leave -n out to use each point's)"
        r=$ntasks
    elif ((r == 0)); then
        r=4
    fi
    [[ $t != - ]] || t=$time_limit # the point's experiment.time_limit, else -t (else the template's)
    group["$r|$t"]+="${group["$r|$t"]:+,}$idx"
    count=$((count + 1))
done <<< "$res_out"
((count >= 1)) || die 1 "$config: the sweep has no points"

# --retry: keep only the points whose state is missing, interrupted or failed.
if ((retry)); then
    rc=0
    status_out=$("$FLEET" sweep "$config" ${sets[@]+"${sets[@]}"} --status 2>/dev/null) || rc=$?
    ((rc == 0 || rc == 3)) || die 1 "fleet sweep $config --status failed (exit $rc; run it to see why)"
    declare -A redo=()
    while IFS= read -r line; do
        [[ $line =~ ^([0-9]+):\ (missing|interrupted|failed) ]] && redo[${BASH_REMATCH[1]}]=1
        [[ $line =~ ^([0-9]+):\ stale ]] && echo "point ${line%%:*} has stale results: not retried (rerun it with -f --force)" >&2
    done <<< "$status_out"
    for r in "${!group[@]}"; do
        kept=""
        for i in ${group[$r]//,/ }; do
            [[ -z ${redo[$i]:-} ]] || kept+="${kept:+,}$i"
        done
        if [[ -n $kept ]]; then group[$r]=$kept; else unset "group[$r]"; fi
    done
    ((${#group[@]} > 0)) || { echo "nothing to retry: every point is done, running or stale"; exit 0; }
fi
if ((agg_only)); then group=(); fi

ranges() { # ranges 0,1,2,5,7,8: the indices as Slurm ranges (0-2,5,7-8)
    local out="" start="" prev="" i
    for i in ${1//,/ } ""; do
        if [[ -n $prev && ( -z $i || $i -ne $((prev + 1)) ) ]]; then
            out+="${out:+,}$start"
            [[ $prev == "$start" ]] || out+="-$prev"
            start=""
        fi
        [[ -z $start ]] && start=$i
        prev=$i
    done
    printf '%s\n' "$out"
}

# The sweep's results directory, <experiment.output_dir>/<experiment.name>, read from the YAML
# (the file is parsed as data by the script below; nothing in it reaches a shell).
if [[ -z $results_dir ]]; then
    results_dir=$("$PYTHON" - "$config" ${sets[@]+"${sets[@]}"} <<'PY'
import sys
import yaml
with open(sys.argv[1]) as f:
    cfg = yaml.safe_load(f) or {}
exp = cfg.get("experiment") or {}
for kv in sys.argv[3::2]:  # --set KEY=VALUE (validated by fleet already)
    key, _, value = kv.partition("=")
    if key in ("experiment.name", "experiment.output_dir"):
        exp[key.split(".")[1]] = yaml.safe_load(value)
sweep = cfg.get("sweep") or {}
keys = set(sweep)
for group in sweep.get("zip") or []:
    if isinstance(group, dict):
        keys |= set(group)
    elif isinstance(group, list):
        for g in group:
            if isinstance(g, dict):
                keys |= set(g)
for k in ("experiment.name", "experiment.output_dir"):
    if k in keys:
        sys.exit(f"the sweep varies {k}: pass --results-dir")
name = exp.get("name")
if not isinstance(name, str) or not name:
    sys.exit("experiment.name is missing")
out = exp.get("output_dir", "results")
print(f"{out}/{name}" if out else name)
PY
) || die 1 "cannot read experiment.output_dir and experiment.name from $config; pass --results-dir"
fi
results_dir=$(abspath "$results_dir")

# Per-sweep job names (fleet-<name>, fleetagg-<name>: the results directory's name) and logs in
# RESULTS_DIR/logs/ (<job name>-<array job>_<index>.out, appended to across requeues).
sweep_name=$(basename "$results_dir")
# Array jobs: one per rank count, split in chunks of at most the cluster's MaxArraySize tasks (array
# indices must stay below it): chunk c of the points with R ranks holds points c*M .. c*M+M-1 as
# array indices 0..M-1 with sweep.sbatch --offset c*M. FLEET_MAX_ARRAY_SIZE overrides M (tests).
max_array=${FLEET_MAX_ARRAY_SIZE:-}
[[ -n $max_array ]] || max_array=$(scontrol show config 2>/dev/null | sed -n 's/^MaxArraySize *= *\([0-9]*\).*/\1/p') || max_array=""
[[ $max_array =~ ^[1-9][0-9]*$ ]] || max_array=1001 # Slurm's default
declare -A job=() # "R|T|chunk" -> comma-separated array indices (point - chunk * max_array)
for g in "${!group[@]}"; do
    for i in ${group[$g]//,/ }; do
        c=$((i / max_array))
        job["$g|$c"]+="${job["$g|$c"]:+,}$((i - c * max_array))"
    done
done
sweep_cmd() { # sweep_cmd R|T|CHUNK: the sbatch command of that array job
    local r=${1%%|*} rest=${1#*|} t c
    t=${rest%|*} c=${rest##*|}
    cmd=(sbatch --parsable "--array=$(ranges "${job[$1]}")%$max" "--ntasks=$r" "--job-name=fleet-$sweep_name"
         "--output=$results_dir/logs/%x-%A_%a.out")
    [[ -z $partition ]] || cmd+=("--partition=$partition")
    [[ -z $t ]] || cmd+=("--time=$t")
    cmd+=(${extra[@]+"${extra[@]}"} "$root/slurm/sweep.sbatch")
    ((c == 0)) || cmd+=(--offset "$((c * max_array))")
    cmd+=("$config" ${sets[@]+"${sets[@]}"} ${fleet_args[@]+"${fleet_args[@]}"})
}
rank_counts=() # the job keys, by rank count, time limit, then chunk
((${#job[@]} == 0)) || mapfile -t rank_counts < <(printf '%s\n' "${!job[@]}" | sort -t'|' -k1,1n -k2,2 -k3,3n)

# Pre-flight (not in a dry run): sbatch --test-only for every rank count, so a request the partition
# can never meet (more ranks than a node offers, a time limit over the partition's) is an error now,
# before anything is written or queued, not a job pending forever.
if ((!dry_run)); then
    for r in ${rank_counts[@]+"${rank_counts[@]}"}; do
        sweep_cmd "$r"
        test_cmd=(sbatch --test-only "${cmd[@]:2}")
        if ! test_out=$("${test_cmd[@]}" 2>&1); then
            die 2 "pre-flight (sbatch --test-only) refused the ${r%%|*}-rank points: $(printf '%s' "$test_out" | tail -n 1)"
        fi
    done
fi

# Every task runs a snapshot of the config taken now, so an edit of CONFIG after submission cannot
# mix two settings in one sweep: RESULTS_DIR/submitted/<UTC time>-<pid>.yaml (a header comment names
# the original and the fleet binary's version; the results' /config is the resolved point).
snapshot="$results_dir/submitted/$(date -u +%Y%m%dT%H%M%SZ)-$$.yaml"
if ((dry_run)); then
    echo "config snapshot: $snapshot (not written in a dry run)"
else
    mkdir -p "$results_dir/submitted" "$results_dir/logs" || die 1 "cannot create $results_dir/submitted and logs"
    if ! { printf '# snapshot of %s, submitted %s, %s\n' "$config" "$(date -u '+%F %T UTC')" "$("$FLEET" --version)" &&
        { ((${#sets[@]} == 0)) || printf '# with %s\n' "${sets[*]}"; } &&
        cat "$config"; } > "$snapshot.tmp" || ! mv "$snapshot.tmp" "$snapshot"; then
        die 1 "cannot write the config snapshot $snapshot"
    fi
fi
config=$snapshot

# The aggregation runs only if every point succeeded (afterok); if one fails, Slurm cancels it
# (--kill-on-invalid-dep) and aggregate.py can be run by hand on the finished points.
agg_cmd=(sbatch --parsable --kill-on-invalid-dep=yes "--job-name=fleetagg-$sweep_name"
         "--output=$results_dir/logs/%x-%j.out")
[[ -z $partition ]] || agg_cmd+=("--partition=$partition")
agg_cmd+=(${extra[@]+"${extra[@]}"})

if ((dry_run)); then
    for r in ${rank_counts[@]+"${rank_counts[@]}"}; do
        sweep_cmd "$r"
        printf '%q ' "${cmd[@]}"
        echo
    done
    dep=()
    ((${#rank_counts[@]} == 0)) || dep=("--dependency=$dependency:<SWEEP_JOB_IDS>")
    printf '%q ' "${agg_cmd[@]}" ${dep[@]+"${dep[@]}"} "$root/slurm/aggregate.sbatch" \
        "$results_dir" --expect "$count"
    echo
    exit 0
fi

jobid() { # jobid OUTPUT: the job id of `sbatch --parsable` ("id" or "id;cluster")
    local id=${1%%;*}
    id=$(printf '%s\n' "$id" | tail -n 1)
    [[ $id =~ ^[0-9]+$ ]] || return 1
    printf '%s\n' "$id"
}

ids=""
for r in ${rank_counts[@]+"${rank_counts[@]}"}; do
    sweep_cmd "$r"
    out=$("${cmd[@]}") || die 1 "sbatch of the sweep failed (see above)${ids:+; already submitted: ${ids//:/ }}"
    sweep_id=$(jobid "$out") || die 1 "sbatch printed '$out', expected a job id"
    n=$(tr ',' '\n' <<< "${job[$r]}" | wc -l)
    c=${r##*|} t=${r#*|} t=${t%|*}
    echo "sweep job $sweep_id: $n points (--array=$(ranges "${job[$r]}")%$max$( ((c == 0)) || echo ", offset $((c * max_array))")), ${r%%|*} robots each,${t:+ time limit $t,}" \
        "results in $results_dir/<index>/"
    ids+=":$sweep_id"
done

dep=()
[[ -z $ids ]] || dep=("--dependency=$dependency$ids")
out=$("${agg_cmd[@]}" ${dep[@]+"${dep[@]}"} "$root/slurm/aggregate.sbatch" \
    "$results_dir" --expect "$count") ||
    die 1 "sbatch of the aggregation failed (see above); the sweep jobs ${ids//:/ } are submitted"
agg_id=$(jobid "$out") || die 1 "sbatch printed '$out', expected a job id"
deps_text="no dependency"
[[ -z $ids ]] || deps_text=$dependency$ids
echo "aggregation job $agg_id ($deps_text): $results_dir/sweep.csv, $results_dir/sweep.md"

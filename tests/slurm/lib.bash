# lib.bash - a throwaway single-node Slurm cluster on localhost for tests/slurm/*.sh (not a test itself).
#
# `source lib.bash` first skips the whole script (TAP "1..0 # SKIP ...", exit 0) when Slurm or
# munge is not installed or we are not root, then sources ../e2e/lib.bash (TAP helpers, ROOT,
# FLEET, TMP: see there) and replaces its EXIT trap by one that also stops the cluster. Then:
#
#   cluster_start   start munged (as user munge, own key and socket), slurmctld and slurmd (as root)
#                   with a generated slurm.conf, all state under $TMP/cluster, on two free ports;
#                   export SLURM_CONF; wait until the node is idle. Returns 1 on failure.
#   cluster_stop    cancel what is still queued, then SIGTERM slurmd + slurmctld, then munged, by
#                   their pid files (never by name), waiting for each; SIGKILL after 15 s. Idempotent.
#   wait_idle_queue TIMEOUT   wait until no job of the cluster is pending/running; 1 on timeout
#   job_field JOB FIELD       one field of `scontrol show job` (e.g. JobState, ExitCode, Restarts)
#   cluster_logs    the daemons' and munged's last log lines (for `fail DESC "${lines[@]}"`)
#
# Facts behind the configuration: the platform notes (PLATFORM.md, "A real single-node Slurm cluster
# on localhost"). No systemd or cgroups: proctrack/linuxproc, task/none; no accounting, so exit
# codes come from `scontrol show job` (kept MinJobAge = 300 s after the end).

_slurm_skip() { # _slurm_skip REASON
    echo "1..0 # SKIP $1"
    exit 0
}

# The daemons and clients, found on PATH or in /usr/sbin (root's PATH may lack sbin).
_slurm_bin() { # _slurm_bin NAME: absolute path, or nothing
    local p
    p=$(command -v "$1" 2>/dev/null) || p=""
    if [[ -z $p && -x /usr/sbin/$1 ]]; then p=/usr/sbin/$1; fi
    printf '%s' "$p"
}

SLURMCTLD=$(_slurm_bin slurmctld)
SLURMD=$(_slurm_bin slurmd)
MUNGED=$(_slurm_bin munged)
for _b in "$SLURMCTLD" "$SLURMD" "$MUNGED" "$(_slurm_bin sbatch)" "$(_slurm_bin srun)" \
    "$(_slurm_bin scontrol)" "$(_slurm_bin squeue)" "$(_slurm_bin scancel)" "$(_slurm_bin sinfo)"; do
    [[ -n $_b ]] || _slurm_skip "slurm not installed"
done
getent passwd munge >/dev/null 2>&1 || _slurm_skip "slurm not installed (no munge user)"
[[ $(id -u) == 0 ]] || _slurm_skip "needs root (slurmd runs as root, munged as user munge)"
command -v runuser >/dev/null 2>&1 || _slurm_skip "runuser (util-linux) not found"

# shellcheck source=../e2e/lib.bash
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../e2e/lib.bash"

SLURM_TEST_TIMEOUT=${SLURM_TEST_TIMEOUT:-150} # seconds to wait for the jobs of one step
CLUSTER=$TMP/cluster
NODE=$(hostname -s)

_slurm_cleanup() {
    set +e # a failing diagnostic (e.g. a closed stdout) must not stop the cleanup
    cluster_stop
    rm -rf "$TMP"
}
trap _slurm_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A process is alive if /proc has it and it is not a zombie.
_alive() { # _alive PID
    local state
    [[ -r /proc/$1/stat ]] || return 1
    state=$(sed 's/^.*) \(.\).*$/\1/' "/proc/$1/stat" 2>/dev/null) || return 1
    [[ $state != Z ]]
}

# The pid in FILE if that process is alive and runs PROGRAM (guards against a stale pid file).
_daemon_pid() { # _daemon_pid FILE PROGRAM
    local pid
    [[ -s $1 ]] || return 1
    pid=$(tr -dc 0-9 <"$1")
    [[ -n $pid ]] && _alive "$pid" || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -Fq -- "$2" || return 1
    printf '%s\n' "$pid"
}

# Wait up to SECONDS for FILE to exist (and be non-empty, or a socket).
_wait_file() { # _wait_file FILE SECONDS
    local i
    for ((i = 0; i < $2 * 20; i++)); do
        [[ -s $1 || -S $1 ]] && return 0
        sleep 0.05
    done
    return 1
}

_port_in_use() { # _port_in_use PORT: something accepts connections on 127.0.0.1:PORT
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Two consecutive free ports in 20000-39999 (so a system Slurm on 6817/6818 is not disturbed).
_free_ports() {
    local i p
    for ((i = 0; i < 50; i++)); do
        p=$((20000 + (RANDOM * 32768 + RANDOM + $$) % 19999))
        if ! _port_in_use "$p" && ! _port_in_use $((p + 1)); then
            echo "$p"
            return 0
        fi
    done
    return 1
}

cluster_logs() {
    local f
    for f in "$CLUSTER"/log/*.out "$CLUSTER/log/slurmctld.log" "$CLUSTER/log/slurmd.log" \
        "$CLUSTER/munge/munged.log"; do
        [[ -s $f ]] || continue
        echo "--- last lines of ${f#"$TMP"/}:"
        tail -n 15 "$f"
    done
}

cluster_start() {
    local port i state
    mkdir -p "$CLUSTER"/{state,spool,log}
    # munged runs as user munge: it must traverse $TMP; its own directory holds key, socket, pid.
    chmod 755 "$TMP" "$CLUSTER"
    mkdir -p "$CLUSTER/munge"
    head -c 1024 /dev/urandom >"$CLUSTER/munge/munge.key"
    chown -R munge:munge "$CLUSTER/munge"
    chmod 755 "$CLUSTER/munge"
    chmod 400 "$CLUSTER/munge/munge.key"
    # The daemons get no terminal and none of our pipes (prove reads our stdout until EOF).
    runuser -u munge -- "$MUNGED" --key-file="$CLUSTER/munge/munge.key" \
        --socket="$CLUSTER/munge/munge.sock" --pid-file="$CLUSTER/munge/munged.pid" \
        --log-file="$CLUSTER/munge/munged.log" --seed-file="$CLUSTER/munge/munged.seed" \
        </dev/null >>"$CLUSTER/log/munged.out" 2>&1 ||
        { echo "# munged did not start"; return 1; }
    if ! _wait_file "$CLUSTER/munge/munge.sock" 10 || ! _wait_file "$CLUSTER/munge/munged.pid" 10; then
        echo "# munged: no socket or pid file after 10 s"
        return 1
    fi

    port=$(_free_ports) || { echo "# no free TCP port pair found"; return 1; }
    cat >"$CLUSTER/slurm.conf" <<EOF
# generated by tests/slurm/lib.bash: a single-node test cluster, all state under $CLUSTER
ClusterName=fleettest
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$CLUSTER/munge/munge.sock
CredType=cred/munge
StateSaveLocation=$CLUSTER/state
SlurmdSpoolDir=$CLUSTER/spool
SlurmctldPidFile=$CLUSTER/slurmctld.pid
SlurmdPidFile=$CLUSTER/slurmd.pid
SlurmctldLogFile=$CLUSTER/log/slurmctld.log
SlurmdLogFile=$CLUSTER/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
MpiDefault=pmix
ReturnToService=2
KillWait=5
SlurmdParameters=config_overrides
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=4 State=UNKNOWN
PartitionName=test Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
EOF
    export SLURM_CONF=$CLUSTER/slurm.conf
    "$SLURMCTLD" -f "$SLURM_CONF" </dev/null >>"$CLUSTER/log/slurmctld.out" 2>&1 ||
        { echo "# slurmctld did not start"; return 1; }
    "$SLURMD" -f "$SLURM_CONF" -N "$NODE" </dev/null >>"$CLUSTER/log/slurmd.out" 2>&1 ||
        { echo "# slurmd did not start"; return 1; }
    for ((i = 0; i < 300; i++)); do # 30 s
        state=$(sinfo -h -n "$NODE" -o %T 2>/dev/null) || state=""
        [[ $state == idle ]] && return 0
        sleep 0.1
    done
    echo "# node $NODE is '${state:-unknown}' after 30 s, not idle"
    return 1
}

# SIGTERM the daemon of each pid file, then wait for all of them (SIGKILL after 15 s).
_stop_daemons() { # _stop_daemons FILE:PROGRAM...
    local spec pid i
    local -a pids=()
    for spec in "$@"; do
        pid=$(_daemon_pid "${spec%%:*}" "${spec#*:}") || continue
        kill -TERM "$pid" 2>/dev/null && pids+=("$pid")
    done
    for pid in "${pids[@]}"; do
        for ((i = 0; i < 300; i++)); do
            _alive "$pid" || break
            sleep 0.05
        done
        if _alive "$pid"; then
            echo "# pid $pid did not stop within 15 s of SIGTERM: SIGKILL"
            kill -KILL "$pid" 2>/dev/null
        fi
    done
}

cluster_stop() {
    [[ -d $CLUSTER ]] || return 0
    if _daemon_pid "$CLUSTER/slurmctld.pid" "$SLURMCTLD" >/dev/null; then
        # Jobs still queued or running (a failed or timed-out test): cancel them so that no
        # fleet process outlives the cluster, and give them a few seconds to end.
        local -a jobs
        mapfile -t jobs < <(squeue -h -o %A 2>/dev/null)
        if ((${#jobs[@]} > 0)); then
            scancel -- "${jobs[@]}" >/dev/null 2>&1
            wait_idle_queue 15 || echo "# jobs still listed 15 s after scancel"
        fi
    fi
    _stop_daemons "$CLUSTER/slurmd.pid:$SLURMD" "$CLUSTER/slurmctld.pid:$SLURMCTLD"
    _stop_daemons "$CLUSTER/munge/munged.pid:$MUNGED"
    return 0
}

# require_cluster: start the cluster (a passing check) or report why with its logs and finish.
require_cluster() {
    local diag
    if cluster_start; then
        pass "single-node Slurm cluster started: node $NODE idle"
    else
        mapfile -t diag < <(cluster_logs)
        fail "single-node Slurm cluster started" "${diag[@]}"
        finish
    fi
}

# No job in a non-final state (pending, running, completing, ...) is left.
wait_idle_queue() { # wait_idle_queue TIMEOUT_SECONDS
    local deadline=$((SECONDS + $1))
    while ((SECONDS < deadline)); do
        [[ -z $(squeue -h -o %i 2>/dev/null) ]] && return 0
        sleep 0.5
    done
    [[ -z $(squeue -h -o %i 2>/dev/null) ]]
}

job_field() { # job_field JOB FIELD: e.g. job_field 12_3 ExitCode -> 0:0
    scontrol -o show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

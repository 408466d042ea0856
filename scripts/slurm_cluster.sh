#!/usr/bin/env bash
# A throw-away single-node SLURM cluster on this machine, for as long as one command runs.
#
#   bash scripts/slurm_cluster.sh COMMAND [ARGS...]     # e.g. make paper PROFILE=smoke EXECUTOR=slurm
#
# Starts munged, slurmctld and slurmd in the foreground (as children of this script, each with
# its log in the cluster's folder), waits until the node takes jobs, runs COMMAND with
# SLURM_CONF pointing at the cluster, then stops the three daemons, whatever COMMAND did (trap),
# and removes the folder (KEEP_CLUSTER=1 keeps it, with the logs). Exit status: COMMAND's.
# Everything listens and talks on 127.0.0.1 only; the configuration is written below, and each
# daemon's command line is spelt out where it starts. Needs Debian's slurm-wlm and munge
# (installed with apt-get when missing and run as root) and root (slurmd starts jobs as root).
set -euo pipefail

if [ $# -eq 0 ]; then
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
fi
if ! [ -x /usr/sbin/slurmctld ] || ! [ -x /usr/sbin/slurmd ] || ! [ -x /usr/sbin/munged ] \
        || ! command -v sbatch >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "slurm_cluster: needs slurm-wlm and munge: sudo apt-get install slurm-wlm munge" >&2
        exit 1
    fi
    echo "slurm_cluster: installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q slurm-wlm munge >/dev/null \
        || { apt-get update -q >/dev/null && apt-get install -y -q slurm-wlm munge >/dev/null; }
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "slurm_cluster: run as root (slurmd starts the jobs' processes as their user)" >&2
    exit 1
fi

dir=$(mktemp -d /tmp/afunet-slurm.XXXXXX)   # mode 0700, as munged requires of its folders
before=" $(pgrep -d ' ' 'slurm|munge' || true) "   # processes of this kind not ours: left alone
pids=()
stop() {
    status=$?
    trap - EXIT INT TERM
    # Jobs first, so that no job step outlives the daemons (slurmd leaves them running).
    if [ -n "${SLURM_CONF:-}" ] && squeue -h >/dev/null 2>&1; then
        scancel --user "$(id -un)" 2>/dev/null || true
        for _ in $(seq 60); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.5; done
    fi
    # Newest first: slurmd, slurmctld, then munged; SIGTERM, and SIGKILL after 10 s.
    for ((i = ${#pids[@]} - 1; i >= 0; i--)); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    for _ in $(seq 50); do
        alive=0
        for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
        [ "$alive" -eq 0 ] && break
        sleep 0.2
    done
    for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    # Job steps still alive hold files in the cluster's folder: end those, then wait until every
    # process this cluster started is gone (exited steps linger until init reaps them).
    for _ in $(seq 100); do
        left=()
        for pid in $(pgrep 'slurm|munge' || true); do
            case "$before" in *" $pid "*) continue ;; esac
            left+=("$pid")
            if ls -l "/proc/$pid/fd" 2>/dev/null | grep -q "$dir"; then kill -KILL "$pid" || true; fi
        done
        [ ${#left[@]} -eq 0 ] && break
        sleep 0.2
    done
    [ ${#left[@]} -gt 0 ] && echo "slurm_cluster: still present: $(ps -o pid=,stat=,cmd= -p "${left[@]}" | tr '\n' ';')" >&2
    if [ "${KEEP_CLUSTER:-0}" = 1 ]; then
        echo "slurm_cluster: stopped; configuration and logs kept in $dir"
    else
        if [ "$status" -ne 0 ]; then
            for log in "$dir"/*.log "$dir"/*.out; do
                [ -s "$log" ] || continue
                echo "--- last lines of $log" >&2
                tail -n 15 "$log" >&2 || true
            done
        fi
        rm -rf "$dir"
        echo "slurm_cluster: stopped"
    fi
    exit "$status"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
ctld_port=$(free_port)
slurmd_port=$(free_port)
[ "$slurmd_port" = "$ctld_port" ] && slurmd_port=$((ctld_port + 1))
cpus=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc)  # nproc follows these
# What slurmd would report, less a little for the daemons themselves.
mem_mb=$(awk '/MemTotal/ {print int($2 / 1024 * 0.9)}' /proc/meminfo)
mkdir -p "$dir/state" "$dir/spool"

# munge: a fresh key, its own socket; no network at all (UNIX socket, origin 127.0.0.1).
dd if=/dev/urandom of="$dir/munge.key" bs=1024 count=1 status=none
chmod 0400 "$dir/munge.key"
/usr/sbin/munged --foreground --force --key-file="$dir/munge.key" --socket="$dir/munge.socket" \
    --pid-file="$dir/munged.pid" --seed-file="$dir/munged.seed" --log-file="$dir/munged.log" \
    --origin=127.0.0.1 --num-threads=2 > "$dir/munged.out" 2>&1 &
pids+=($!)

cat > "$dir/slurm.conf" <<EOF
ClusterName=afunet-test
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
# Bind to 127.0.0.1, never to every address of the machine.
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# No cgroups in a container: processes tracked by parent id, tasks unconfined.
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# Seconds, so that the test's queue drains and the daemons stop promptly.
SchedulerParameters=sched_interval=2
MinJobAge=30
KillWait=5
InactiveLimit=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem_mb State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$dir/slurm.conf

for _ in $(seq 50); do [ -S "$dir/munge.socket" ] && break; sleep 0.1; done
/usr/sbin/slurmctld -D -f "$SLURM_CONF" > "$dir/slurmctld.out" 2>&1 &
pids+=($!)
/usr/sbin/slurmd -D -N localhost -f "$SLURM_CONF" > "$dir/slurmd.out" 2>&1 &
pids+=($!)

for _ in $(seq 100); do
    state=$(sinfo -h -N -o %t 2>/dev/null || true)
    case "$state" in idle*|mix*) break ;; esac
    sleep 0.3
done
case "$state" in
    idle*|mix*) echo "slurm_cluster: up ($dir: partition 'local', 1 node, $cpus CPUs," \
                     "$mem_mb MB; controller on 127.0.0.1:$ctld_port)" ;;
    *) echo "slurm_cluster: the node did not come up (state '${state:-none}')" >&2; exit 1 ;;
esac

"$@"

#!/usr/bin/env bash
# Start a one-node Slurm cluster on this machine (for tests and CI).
#
#   tests/slurm/start_slurm.sh [--install]
#
# The node is this host (`hostname -s`) with up to 2 CPUs and about 20000 MB,
# one default partition `main`, consumable cores and memory (two 1-CPU jobs
# share the node), no cgroups (proctrack/linuxproc, task/none) and no
# accounting database.  Because there is no slurmdbd, `sacct` does not work:
# Snakemake must use `--slurm-status-command squeue` and `--slurm-no-account`
# (see profiles/slurm/config.yaml).  MinJobAge is set to 600 s so that
# finished jobs stay visible to `squeue` long enough for Snakemake to see
# their final state.
#
# Needs root and the Debian packages `slurm-wlm` and `munge`.  With --install
# the script installs them with apt-get when they are missing (root only).
#
# Idempotent: when the cluster is already up, it only checks it.
#
# Exit status: 0 the node is up and takes jobs; 2 a prerequisite is missing
# (not root, Slurm or munge not installed, a foreign slurm.conf in the way);
# 1 the daemons did not come up (the reason and the log tails are printed).
#
# Environment knobs:
#   SLURM_CONF           slurm.conf to write and use (default /etc/slurm/slurm.conf)
#   TLSF_SLURM_CPUS      CPUs of the node (default: min(2, CPUs of this machine))
#   TLSF_SLURM_MEM_MB    RealMemory of the node (default: min(20000, 90% of RAM))
#   TLSF_SLURM_TIMEOUT   seconds to wait for the node to become idle (default 60)
#
# tests/slurm/stop_slurm.sh stops what this script started.
set -euo pipefail

SLURM_CONF="${SLURM_CONF:-/etc/slurm/slurm.conf}"
export SLURM_CONF
STATE_DIR=/var/lib/tlsfinder-slurm       # our own bookkeeping (what we started)
SPOOL_CTLD=/var/spool/slurmctld
SPOOL_D=/var/spool/slurmd
LOG_DIR=/var/log/slurm
CTLD_PID=/run/slurmctld.pid
SLURMD_PID=/run/slurmd.pid
MUNGE_KEY=/etc/munge/munge.key
MUNGE_RUN=/run/munge
MARKER="# Written by tlsfinder tests/slurm/start_slurm.sh"
TIMEOUT="${TLSF_SLURM_TIMEOUT:-60}"

say() { echo "start_slurm: $*"; }
missing() { echo "start_slurm: CANNOT START: $*" >&2; exit 2; }
fail() {
    echo "start_slurm: FAILED: $*" >&2
    for f in "$LOG_DIR/slurmctld.log" "$LOG_DIR/slurmd.log" /var/log/munge/munged.log; do
        if [[ -s "$f" ]]; then
            echo "---- last lines of $f ----" >&2
            tail -n 15 "$f" >&2 || true
        fi
    done
    exit 1
}

INSTALL=0
for arg in "$@"; do
    case "$arg" in
        --install) INSTALL=1 ;;
        -h|--help) sed -n '2,30p' "$0"; exit 0 ;;
        *) missing "unknown argument '$arg' (usage: $0 [--install])" ;;
    esac
done

if [[ "$(id -u)" != 0 ]]; then
    missing "must run as root to start munged, slurmctld and slurmd (running as $(id -un))"
fi

need_pkgs=()
for exe in slurmctld slurmd sbatch sinfo scontrol squeue; do
    command -v "$exe" >/dev/null 2>&1 || { need_pkgs=(slurm-wlm munge); break; }
done
for exe in munged munge unmunge; do
    command -v "$exe" >/dev/null 2>&1 || { need_pkgs=(slurm-wlm munge); break; }
done
if (( ${#need_pkgs[@]} )); then
    if (( INSTALL )) && command -v apt-get >/dev/null 2>&1; then
        say "installing ${need_pkgs[*]} with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >/dev/null
        apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
    else
        missing "Slurm/munge executables not found (install the Debian packages 'slurm-wlm munge', or rerun with --install)"
    fi
fi

HOST="$(hostname -s)"
[[ -n "$HOST" ]] || missing "hostname -s is empty"

# ---------------------------------------------------------------- slurm.conf
hw="$(slurmd -C 2>/dev/null | head -n 1)" || true
hw_cpus="$(sed -n 's/.*CPUs=\([0-9]*\).*/\1/p' <<<"$hw")"
hw_mem="$(sed -n 's/.*RealMemory=\([0-9]*\).*/\1/p' <<<"$hw")"
[[ -n "$hw_cpus" ]] || hw_cpus="$(nproc)"
[[ -n "$hw_mem" ]] || hw_mem="$(awk '/MemTotal/ {print int($2/1024)}' /proc/meminfo)"
cpus="${TLSF_SLURM_CPUS:-$(( hw_cpus < 2 ? hw_cpus : 2 ))}"
mem_default=$(( hw_mem * 9 / 10 ))
(( mem_default > 20000 )) && mem_default=20000
mem="${TLSF_SLURM_MEM_MB:-$mem_default}"
(( cpus <= hw_cpus )) || missing "TLSF_SLURM_CPUS=$cpus exceeds the $hw_cpus CPUs of this machine"
(( mem <= hw_mem )) || missing "TLSF_SLURM_MEM_MB=$mem exceeds the $hw_mem MB of this machine"

new_conf="$(cat <<EOF
$MARKER
# One-node test cluster; safe to delete (tests/slurm/stop_slurm.sh does not).
ClusterName=tlsfinder
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
MpiDefault=none
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SwitchType=switch/none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=1000
ReturnToService=2
MinJobAge=600
SlurmdTimeout=120
InactiveLimit=0
KillWait=10
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
StateSaveLocation=$SPOOL_CTLD
SlurmdSpoolDir=$SPOOL_D
SlurmctldPidFile=$CTLD_PID
SlurmdPidFile=$SLURMD_PID
SlurmctldLogFile=$LOG_DIR/slurmctld.log
SlurmdLogFile=$LOG_DIR/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem State=UNKNOWN
PartitionName=main Nodes=$HOST Default=YES MaxTime=INFINITE State=UP
EOF
)"

mkdir -p "$(dirname "$SLURM_CONF")" "$STATE_DIR" "$SPOOL_CTLD" "$SPOOL_D" "$LOG_DIR"
conf_changed=0
if [[ -e "$SLURM_CONF" ]]; then
    if ! grep -qxF "$MARKER" "$SLURM_CONF"; then
        missing "$SLURM_CONF exists and was not written by this script; refusing to overwrite a site configuration (move it away, or set SLURM_CONF to another path)"
    fi
    if [[ "$(cat "$SLURM_CONF")" != "$new_conf" ]]; then
        conf_changed=1
    fi
else
    conf_changed=1
fi
if (( conf_changed )); then
    printf '%s\n' "$new_conf" > "$SLURM_CONF.tmp.$$"
    chmod 0644 "$SLURM_CONF.tmp.$$"
    mv -f "$SLURM_CONF.tmp.$$" "$SLURM_CONF"
    say "wrote $SLURM_CONF (node $HOST: CPUs=$cpus RealMemory=$mem MB)"
fi

# --------------------------------------------------------------------- munge
munge_ok() { munge -n 2>/dev/null | unmunge >/dev/null 2>&1; }
if munge_ok; then
    say "munged already running"
else
    if [[ ! -s "$MUNGE_KEY" ]]; then
        mkdir -p "$(dirname "$MUNGE_KEY")"
        if command -v mungekey >/dev/null 2>&1; then
            mungekey --create --keyfile="$MUNGE_KEY"
        else
            dd if=/dev/urandom of="$MUNGE_KEY" bs=1 count=1024 status=none
        fi
        say "created $MUNGE_KEY"
    fi
    chown munge:munge "$MUNGE_KEY" "$(dirname "$MUNGE_KEY")"
    chmod 0400 "$MUNGE_KEY"
    chmod 0700 "$(dirname "$MUNGE_KEY")"
    mkdir -p "$MUNGE_RUN" /var/lib/munge /var/log/munge
    chown munge:munge "$MUNGE_RUN" /var/lib/munge /var/log/munge
    chmod 0755 "$MUNGE_RUN"
    rm -f "$MUNGE_RUN/munge.socket.2.lock" 2>/dev/null || true
    runuser -u munge -- /usr/sbin/munged || fail "munged did not start"
    for _ in $(seq 1 20); do munge_ok && break; sleep 0.5; done
    munge_ok || fail "munged started but 'munge -n | unmunge' fails"
    cat "$MUNGE_RUN/munged.pid" > "$STATE_DIR/munged.pid" 2>/dev/null \
        || pgrep -u munge -x munged | head -n 1 > "$STATE_DIR/munged.pid"
    say "started munged (pid $(cat "$STATE_DIR/munged.pid"))"
fi

# --------------------------------------------------------------------- slurm
alive() { [[ -s "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

if (( conf_changed )) && { alive "$CTLD_PID" || alive "$SLURMD_PID"; }; then
    say "configuration changed: restarting the daemons"
    for pf in "$SLURMD_PID" "$CTLD_PID"; do
        if alive "$pf"; then
            pid="$(cat "$pf")"; kill "$pid"
            for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
        fi
    done
fi

if alive "$CTLD_PID"; then
    say "slurmctld already running (pid $(cat "$CTLD_PID"))"
else
    slurmctld || fail "slurmctld did not start"
    for _ in $(seq 1 20); do scontrol ping 2>/dev/null | grep -q UP && break; sleep 0.5; done
    scontrol ping 2>/dev/null | grep -q UP || fail "slurmctld started but 'scontrol ping' does not answer UP"
    say "started slurmctld (pid $(cat "$CTLD_PID"))"
fi

if alive "$SLURMD_PID"; then
    say "slurmd already running (pid $(cat "$SLURMD_PID"))"
else
    slurmd -N "$HOST" || fail "slurmd did not start"
    for _ in $(seq 1 20); do alive "$SLURMD_PID" && break; sleep 0.5; done
    alive "$SLURMD_PID" || fail "slurmd exited right after start"
    say "started slurmd (pid $(cat "$SLURMD_PID"))"
fi

# ------------------------------------------------------ wait for an idle node
state=""
resumed=0
deadline=$(( SECONDS + TIMEOUT ))
while (( SECONDS < deadline )); do
    state="$(sinfo -h -n "$HOST" -o '%T' 2>/dev/null | head -n 1 || true)"
    case "$state" in
        idle|mixed|allocated|completing)
            say "node $HOST is $state; partition: $(sinfo -h -o '%P %a %D %c cpus %m MB')"
            exit 0 ;;
        down*|drain*|drained*|fail*|inval*)
            # A node left DOWN/DRAIN by an earlier (killed) run: give it back.
            if (( ! resumed )); then
                scontrol update NodeName="$HOST" State=RESUME >/dev/null 2>&1 || true
                resumed=1
            fi ;;
    esac
    sleep 1
done
reason="$(sinfo -h -R -n "$HOST" -o '%E' 2>/dev/null || true)"
fail "node $HOST not idle after ${TIMEOUT}s (state '${state:-unknown}'${reason:+, reason: $reason})"

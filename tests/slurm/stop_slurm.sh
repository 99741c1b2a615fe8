#!/usr/bin/env bash
# Stop the one-node Slurm cluster that tests/slurm/start_slurm.sh started.
#
# Stops slurmd and slurmctld through their pid files, and munged only when
# start_slurm.sh started it (a munged that was already running is left alone).
# Does nothing, successfully, when nothing is running.  Leaves slurm.conf, the
# munge key and the spool directories in place, so that start_slurm.sh brings
# back the same cluster.  Jobs still queued or running are lost.
set -euo pipefail

STATE_DIR=/var/lib/tlsfinder-slurm
say() { echo "stop_slurm: $*"; }

[[ "$(id -u)" == 0 ]] || { echo "stop_slurm: must run as root" >&2; exit 2; }

stop_pidfile() {  # name pidfile
    local name="$1" pf="$2" pid
    if [[ ! -s "$pf" ]]; then
        say "$name: no pid file $pf, nothing to stop"
        return 0
    fi
    pid="$(cat "$pf")"
    if ! kill -0 "$pid" 2>/dev/null; then
        say "$name: pid $pid from $pf is not running"
        rm -f "$pf"
        return 0
    fi
    kill "$pid"
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || { say "$name (pid $pid) stopped"; rm -f "$pf"; return 0; }
        sleep 0.25
    done
    kill -9 "$pid" 2>/dev/null || true
    rm -f "$pf"
    say "$name (pid $pid) killed after 10 s"
}

stop_pidfile slurmd /run/slurmd.pid
stop_pidfile slurmctld /run/slurmctld.pid
if [[ -s "$STATE_DIR/munged.pid" ]]; then
    stop_pidfile munged "$STATE_DIR/munged.pid"
else
    say "munged: not started by start_slurm.sh, left alone"
fi

#!/usr/bin/env bash
# Stops the control plane started by testenv-up.sh, by PID only, and removes its run directory.
# Usage: scripts/testenv-down.sh [RUN_DIR]   (default: the run that .testenv/current points at)
# With KRO_TESTENV_KEEP=1 the run directory (logs, certificates) is kept for inspection.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
run=${1:-$(readlink "$root/.testenv/current" 2>/dev/null || true)}
[ -n "$run" ] && [ -d "$run" ] || { echo "testenv-down: no run directory to stop" >&2; exit 0; }

# The PIDs are read when each component is stopped: testenv-ctl.sh keeps "$run/pids" current
# when it restarts a component.
stop() { # name: SIGTERM, wait up to 15 s, then SIGKILL
  local pid
  pid=$(awk -v n="$1" '$1==n{print $2}' "$run/pids" 2>/dev/null)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null
  # A component paused by testenv-ctl.sh (SIGSTOP) acts on SIGTERM only once it runs again.
  kill -CONT "$pid" 2>/dev/null
  for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.5; done
  kill -KILL "$pid" 2>/dev/null
}
# Clients of etcd go first, so etcd never sees a half-closed API server.
stop kro-operator
stop kwok
stop kube-scheduler
stop kube-controller-manager
stop kube-apiserver
stop etcd
if [ "${KRO_TESTENV_KEEP:-0}" = 1 ]; then
  echo "testenv-down: stopped; kept $run" >&2
else
  rm -rf "$run"
  [ "$(readlink "$root/.testenv/current" 2>/dev/null)" = "$run" ] && rm -f "$root/.testenv/current"
  echo "testenv-down: stopped and removed $run" >&2
fi

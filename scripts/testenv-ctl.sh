#!/usr/bin/env bash
# Fault injection on a control plane started by testenv-up.sh: stops, starts, restarts, pauses
# (SIGSTOP) or resumes (SIGCONT) one of its components, by the PID recorded in "$RUN/pids".
#
# Usage: scripts/testenv-ctl.sh RUN_DIR stop|start|restart|pause|resume COMPONENT
# COMPONENT: etcd, kube-apiserver, kube-controller-manager, kube-scheduler or kwok.
#
# start runs "$RUN/cmd/COMPONENT.sh" (the command line testenv-up.sh used, same ports, data and
# certificates), records the new PID and waits until the component is ready: etcd answers /health,
# kube-apiserver answers /readyz to the admin credentials of the run, the others are still running
# after a second. resume waits for the same readiness. stop sends SIGTERM (SIGKILL after 15 s) and
# drops the PID from "$RUN/pids", so testenv-down.sh never signals a recycled PID.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 RUN_DIR stop|start|restart|pause|resume COMPONENT" >&2; exit 2; }
run=$1 action=$2 component=$3
[ -f "$run/pids" ] && [ -f "$run/env" ] || { echo "testenv-ctl: $run is not a testenv run directory" >&2; exit 1; }
case "$component" in
  etcd|kube-apiserver|kube-controller-manager|kube-scheduler|kwok) ;;
  *) echo "testenv-ctl: unknown component '$component'" >&2; exit 2 ;;
esac
cmd="$run/cmd/$component.sh"
[ -x "$cmd" ] || { echo "testenv-ctl: $cmd is missing (run started by an older testenv-up.sh?)" >&2; exit 1; }

current_pid() {
  awk -v n="$component" '$1==n{print $2}' "$run/pids"
}
alive() { # pid
  [ -n "$1" ] && kill -0 "$1" 2>/dev/null
}
# Rewrites the component's line of the pids file (none when the PID is empty); atomic, so
# testenv-down.sh never reads a half-written file.
set_pid() { # pid
  local tmp="$run/pids.$$"
  awk -v n="$component" '$1!=n' "$run/pids" > "$tmp"
  [ -z "$1" ] || echo "$component $1" >> "$tmp"
  mv -f "$tmp" "$run/pids"
}
env_value() { # name
  sed -n "s/^export $1=//p" "$run/env"
}

wait_ready() {
  local limit=90 deadline
  deadline=$((SECONDS + limit))
  case "$component" in
    etcd)
      local url
      url=$(env_value KRO_TESTENV_ETCD_URL)
      check() { curl -fsS --max-time 2 "$url/health" | grep -q '"health":"true"'; }
      ;;
    kube-apiserver)
      local url token
      url=$(env_value KRO_TEST_API_URL)
      token=$(cut -d, -f1 "$run/tokens.csv")
      check() {
        curl -fsS --max-time 2 --cacert "$run/pki/ca.crt" -H "Authorization: Bearer $token" "$url/readyz"
      }
      ;;
    *)
      check() { sleep 1; alive "$(current_pid)"; }
      ;;
  esac
  until check >/dev/null 2>&1; do
    if ! alive "$(current_pid)"; then
      echo "testenv-ctl: $component exited; tail of $run/$component.log:" >&2
      tail -n 30 "$run/$component.log" >&2 || true
      exit 1
    fi
    if [ $SECONDS -ge "$deadline" ]; then
      echo "testenv-ctl: $component not ready after ${limit}s" >&2
      exit 1
    fi
    sleep 0.3
  done
}

do_stop() {
  local pid
  pid=$(current_pid)
  if alive "$pid"; then
    kill -TERM "$pid" 2>/dev/null || true
    # A paused process only handles SIGTERM once it runs again.
    kill -CONT "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do alive "$pid" || break; sleep 0.5; done
    if alive "$pid"; then
      kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 20); do alive "$pid" || break; sleep 0.1; done
    fi
  fi
  set_pid ""
  echo "testenv-ctl: stopped $component" >&2
}

do_start() {
  local pid
  pid=$(current_pid)
  if alive "$pid"; then
    echo "testenv-ctl: $component is already running (pid $pid)" >&2
    exit 1
  fi
  # No descriptor of the caller is kept open by the component (the script sends its output to
  # the log), so a caller that reads this script's output to the end does not wait for it.
  "$cmd" </dev/null >/dev/null 2>&1 &
  set_pid "$!"
  wait_ready
  echo "testenv-ctl: started $component (pid $(current_pid))" >&2
}

signal() { # SIGNAL
  local pid
  pid=$(current_pid)
  alive "$pid" || { echo "testenv-ctl: $component is not running" >&2; exit 1; }
  kill "-$1" "$pid"
}

case "$action" in
  stop) do_stop ;;
  start) do_start ;;
  restart) do_stop; do_start ;;
  pause) signal STOP; echo "testenv-ctl: paused $component" >&2 ;;
  resume) signal CONT; wait_ready; echo "testenv-ctl: resumed $component" >&2 ;;
  *) echo "testenv-ctl: unknown action '$action'" >&2; exit 2 ;;
esac

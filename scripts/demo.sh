#!/usr/bin/env bash
# The project's main job on a local machine: builds what it needs, starts a real Kubernetes
# control plane on 127.0.0.1, runs the kro-rs operator against it, installs the example
# WebApplication RGD (examples/manifests/) and an instance, and shows the instance reach ACTIVE with
# its Deployment, Service and Ingress. Everything keeps running for you to explore; stop it all
# with: bash scripts/testenv-down.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Building kro and kro-operator"
cargo build --quiet --bin kro --bin kro-operator
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
"$target_dir/debug/kro" validate examples/manifests/webapp-rgd.yaml

say "Starting the control plane (built from Go modules on the first run, then cached)"
bin=$(bash scripts/testenv-build.sh)
run=$(bash scripts/testenv-up.sh "$bin")
# shellcheck disable=SC1091
. "$run/env"
kubectl=("$bin/kubectl" --kubeconfig="$run/kubeconfig")

say "Starting the operator (log: $run/kro-operator.log)"
"$target_dir/debug/kro-operator" --kubeconfig="$run/kubeconfig" \
  --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=127.0.0.1:0 \
  > "$run/kro-operator.log" 2>&1 &
echo "kro-operator $!" >> "$run/pids"
for _ in $(seq 1 60); do
  "${kubectl[@]}" get crd resourcegraphdefinitions.kro.run >/dev/null 2>&1 && break
  sleep 1
done

say "Installing the WebApplication RGD"
"${kubectl[@]}" apply -f examples/manifests/webapp-rgd.yaml
"${kubectl[@]}" wait --for=jsonpath='{.status.state}'=Active rgd/webapplication --timeout=120s
"${kubectl[@]}" get rgd webapplication -o wide

say "Creating an instance and waiting for ACTIVE"
"${kubectl[@]}" apply -f examples/manifests/webapp-instance.yaml
"${kubectl[@]}" wait --for=jsonpath='{.status.state}'=ACTIVE webapplication/shop --timeout=180s
"${kubectl[@]}" get webapplication shop
"${kubectl[@]}" get deployments,services,ingresses -l kro.run/instance-name=shop

cat <<MSG

The instance is ACTIVE. The control plane and the operator keep running:

  export KUBECONFIG=$run/kubeconfig PATH=$bin:\$PATH
  kubectl get webapplication shop -o yaml          # status, conditions, status.resources
  kubectl get webapplication shop -w               # watch it
  kubectl patch webapplication shop --type merge -p '{"spec":{"ingress":{"enabled":false}}}'
  kubectl delete webapplication shop               # children go in reverse order
  tail -f $run/kro-operator.log

Stop everything with: bash scripts/testenv-down.sh
MSG

#!/usr/bin/env bash
# The project's main job on a local machine: builds what it needs, starts a real control plane on
# 127.0.0.1 and leaves it running for you to use with the printed KUBECONFIG.
# Stop it with: bash scripts/testenv-down.sh
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy
bin=$(bash scripts/testenv-build.sh)
run=$(bash scripts/testenv-up.sh "$bin")
# shellcheck disable=SC1091
. "$run/env"
"$bin/kubectl" get namespaces
cat <<MSG

A local Kubernetes control plane (kube-apiserver, etcd, kube-controller-manager v$("$bin/kubectl" version --client -o json | python3 -c 'import json,sys; print(json.load(sys.stdin)["clientVersion"]["gitVersion"])')) is running.

  export KUBECONFIG=$run/kubeconfig
  export PATH=$bin:\$PATH
  kubectl get namespaces

Stop it with: bash scripts/testenv-down.sh
MSG

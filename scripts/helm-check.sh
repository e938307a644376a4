#!/usr/bin/env bash
# Installs the kro-rs Helm chart (deploy/helm/kro-rs) with real Helm (v4, built from Go modules by
# scripts/helm-build.sh) on the running test control plane and shows that it works:
#   1. `helm lint --strict` with the default values and with upstream kro's own values.yaml;
#   2. `helm template` with the default values and with upstream's values.yaml unchanged (read from
#      the Go module cache), both validated by the API server (server-side dry run);
#   3. for each RBAC mode of the chart (unrestricted, aggregation): `helm install` into a fresh
#      namespace under a unique release name, then the operator process (target/debug/kro-operator)
#      run with exactly the args and env of the installed Deployment and a kubeconfig holding a
#      token of the chart's ServiceAccount (TokenRequest), so it has the chart's RBAC and nothing
#      more; the example RGD (examples/manifests/webapp-rgd.yaml, renamed) must become Active and an
#      instance ACTIVE; then `helm uninstall` must leave the RGD CRDs in place (crds/ is never
#      deleted by Helm). The unrestricted install also enables the metrics Service and the
#      ServiceMonitor, with the ServiceMonitor CRD of the prometheus-operator Go module installed;
#   4. upstream's chart (from the module cache) installed, then `helm upgrade` of the same release
#      to the kro-rs chart: must succeed and patch the Deployment in place.
# There is no kubelet running images: the chart's Deployment pods stay Pending or are faked by
# kwok. Exactly one operator process runs at a time, so two never lead at once.
#
# Needs the environment of scripts/testenv-up.sh ("$run/env": KUBECONFIG, KRO_TESTENV_BIN) and the
# operator binary ($KRO_OPERATOR_BIN, else $CARGO_TARGET_DIR/debug/kro-operator; build it with
# `cargo build -p kro-operator`). $KRO_HELM names a helm binary to use instead of building one.
# Everything it creates on the cluster is removed at exit, except the RGD CRDs (kept on purpose);
# KRO_HELM_CHECK_KEEP=1 keeps its work directory (renders, operator logs) for inspection.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
# The operator (kube-rs) and helm honour proxies even for loopback; the control plane is local.
unset HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy
t0=$SECONDS
step() { echo "helm-check: [$((SECONDS - t0))s] $*" >&2; }
die() { echo "helm-check: FAILED: $*" >&2; exit 1; }

: "${KUBECONFIG:?helm-check: KUBECONFIG is not set; source the env file of scripts/testenv-up.sh}"
[ -r "$KUBECONFIG" ] || die "KUBECONFIG $KUBECONFIG is not readable"
if [ -n "${KRO_TESTENV_BIN:-}" ] && [ -x "$KRO_TESTENV_BIN/kubectl" ]; then
  kubectl_bin=$KRO_TESTENV_BIN/kubectl
else
  kubectl_bin=$(command -v kubectl) || die "no kubectl: set KRO_TESTENV_BIN (scripts/testenv-up.sh's env does)"
fi
work=$(mktemp -d "${TMPDIR:-/tmp}/kro-helm-check-XXXXXX")
trap 'rm -rf "$work"' EXIT
# The discovery caches of kubectl and helm stay in the work directory, not in ~/.kube.
export KUBECACHEDIR=$work/kube-cache
kubectl() { "$kubectl_bin" --kubeconfig="$KUBECONFIG" --cache-dir="$work/kube-cache" "$@"; }
target_dir=${CARGO_TARGET_DIR:-$root/target}
operator=${KRO_OPERATOR_BIN:-$target_dir/debug/kro-operator}
[ -x "$operator" ] || die "operator binary $operator is missing: run cargo build -p kro-operator (CARGO_TARGET_DIR=$target_dir)"
command -v python3 >/dev/null || die "python3 is needed"
command -v curl >/dev/null || die "curl is needed"
kubectl get --raw /readyz >/dev/null 2>&1 || die "the API server of $KUBECONFIG is not ready"

if [ -n "${KRO_HELM:-}" ]; then helm_bin=$KRO_HELM; else helm_bin=$(bash scripts/helm-build.sh | tail -n 1); fi
[ -x "$helm_bin" ] || die "helm binary $helm_bin is missing"

# Helm keeps its own state (repositories, cache, plugins) out of the user's home.
export HELM_CACHE_HOME=$work/helm/cache HELM_CONFIG_HOME=$work/helm/config HELM_DATA_HOME=$work/helm/data
helm() { "$helm_bin" --kubeconfig="$KUBECONFIG" "$@"; }
chart=$root/deploy/helm/kro-rs

# Module sources from the Go module cache (downloaded when missing; go.sum pins their content).
module_dir() { # wrapper module dir, module path
  local dir
  dir=$(cd "$1" && go list -m -f '{{.Dir}}' "$2" 2>/dev/null || true)
  if [ -z "$dir" ] || [ ! -d "$dir" ]; then
    (cd "$1" && GOFLAGS=-modcacherw go mod download "$2") >&2 || die "go mod download $2 failed (in $1)"
    dir=$(cd "$1" && go list -m -f '{{.Dir}}' "$2")
  fi
  [ -d "$dir" ] || die "the source of $2 is not in the Go module cache"
  echo "$dir"
}
command -v go >/dev/null || die "go is needed (upstream kro's chart and the ServiceMonitor CRD come from the module cache)"
upstream_chart=$(module_dir testenv/upstream-kro github.com/kubernetes-sigs/kro)/helm
upstream_values=$upstream_chart/values.yaml
[ -f "$upstream_values" ] || die "upstream's chart is not at $upstream_chart"
servicemonitor_crd=$(module_dir testenv/prometheus-operator github.com/prometheus-operator/prometheus-operator)/example/prometheus-operator-crd/monitoring.coreos.com_servicemonitors.yaml
[ -f "$servicemonitor_crd" ] || die "$servicemonitor_crd is missing"

# Unique names for this run: namespaces, releases, the RGD and its kind (letters only).
id=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
kind_suffix=$(echo "$id" | tr '0-9a-f' 'a-p')
kind="HelmCheck${kind_suffix^}App"
plural="$(echo "$kind" | tr '[:upper:]' '[:lower:]')s"
rgd_name="helm-check-$id"
user_role="kro-helm-check-$id-children"
namespaces=()
releases=()   # "release namespace"
operator_pid=""
created_servicemonitor_crd=0
rgd_crds=(crd/resourcegraphdefinitions.kro.run crd/graphrevisions.internal.kro.run)
crds_before=unknown
kept_crds_checked=0

cleanup() {
  local code=$?
  set +e
  if [ -n "$operator_pid" ] && kill -0 "$operator_pid" 2>/dev/null; then
    kill -TERM "$operator_pid"; wait "$operator_pid" 2>/dev/null
  fi
  if [ $code -ne 0 ]; then
    for log in "$work"/operator-*.log; do
      [ -f "$log" ] || continue
      echo "--- last 40 lines of $log" >&2; tail -n 40 "$log" >&2
    done
  fi
  local entry leftovers
  for entry in "${releases[@]}"; do
    # shellcheck disable=SC2086
    helm uninstall $entry --ignore-not-found >/dev/null 2>&1
    # Cluster-scoped objects of the release that Helm no longer tracks (see check_mode).
    leftovers=$(kubectl get clusterroles,clusterrolebindings -o name 2>/dev/null | grep -F "/${entry%% *}")
    [ -z "$leftovers" ] || kubectl delete $leftovers --ignore-not-found >/dev/null 2>&1
  done
  kubectl delete rgd "$rgd_name" --ignore-not-found --wait=false >/dev/null 2>&1
  kubectl delete clusterrole "$user_role" --ignore-not-found >/dev/null 2>&1
  # Operators never delete the generated CRD here (config.allowCRDDeletion is false).
  kubectl delete crd "$plural.kro.run" --ignore-not-found --wait=false >/dev/null 2>&1
  for entry in "${namespaces[@]}"; do
    kubectl delete namespace "$entry" --ignore-not-found --wait=false >/dev/null 2>&1
  done
  [ "$created_servicemonitor_crd" = 1 ] && \
    kubectl delete crd servicemonitors.monitoring.coreos.com --ignore-not-found --wait=false >/dev/null 2>&1
  # Leave the cluster as found: the RGD CRDs Helm installed here go once the check is over (waiting,
  # so the next user of the control plane never meets them Terminating).
  [ "$crds_before" = no ] && [ "$kept_crds_checked" = 1 ] && \
    kubectl delete "${rgd_crds[@]}" --ignore-not-found --timeout=60s >/dev/null 2>&1
  if [ "${KRO_HELM_CHECK_KEEP:-0}" = 1 ]; then echo "helm-check: kept $work" >&2; else rm -rf "$work"; fi
  exit $code
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
wait_for() { # seconds description command...
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || die "timed out after ${limit}s waiting for $what"
    if [ -n "$operator_pid" ] && ! kill -0 "$operator_pid" 2>/dev/null; then
      die "the operator exited while waiting for $what"
    fi
    sleep 0.5
  done
}
kinds_of() { python3 -c 'import sys,re; print(" ".join(sorted(set(re.findall(r"(?m)^kind: (\S+)", sys.stdin.read())))))'; }

step "helm $("$helm_bin" version --short), chart $chart, upstream chart $upstream_chart"

# 1. Lint.
step "helm lint --strict (default values, upstream's values.yaml)"
helm lint --strict "$chart" >"$work/lint.log" 2>&1 || { cat "$work/lint.log" >&2; die "helm lint (default values)"; }
helm lint --strict "$chart" -f "$upstream_values" >"$work/lint.log" 2>&1 \
  || { cat "$work/lint.log" >&2; die "helm lint with upstream's values.yaml"; }

# 2. Render.
step "helm template (default values, upstream's values.yaml, aggregation, ServiceMonitor)"
helm template kro "$chart" --namespace kro-system >"$work/default.yaml" \
  || die "helm template with the default values"
helm template kro "$chart" --namespace kro-system -f "$upstream_values" >"$work/upstream-values.yaml" \
  || die "helm template with upstream's values.yaml"
helm template kro "$chart" --namespace kro-system --set rbac.mode=aggregation >"$work/aggregation.yaml" \
  || die "helm template with rbac.mode=aggregation"
helm template kro "$chart" --namespace kro-system --set metrics.service.create=true \
  --set metrics.serviceMonitor.enabled=true >"$work/servicemonitor.yaml" \
  || die "helm template with metrics.serviceMonitor.enabled=true"
for render in default upstream-values aggregation servicemonitor; do
  kinds=$(kinds_of <"$work/$render.yaml")
  for want in ClusterRole ClusterRoleBinding Deployment ServiceAccount; do
    [[ " $kinds " == *" $want "* ]] || die "the $render render has no $want (kinds: $kinds)"
  done
done
[[ " $(kinds_of <"$work/servicemonitor.yaml") " == *" ServiceMonitor "* ]] || die "no ServiceMonitor rendered"
[[ " $(kinds_of <"$work/servicemonitor.yaml") " == *" Service "* ]] || die "no metrics Service rendered"
grep -q 'aggregationRule' "$work/aggregation.yaml" || die "rbac.mode=aggregation renders no aggregated ClusterRole"

# The ServiceMonitor CRD, so ServiceMonitors can be validated and installed.
if ! kubectl get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1; then
  step "installing the ServiceMonitor CRD ($servicemonitor_crd)"
  kubectl create -f "$servicemonitor_crd" >/dev/null
  created_servicemonitor_crd=1
  kubectl wait --for=condition=Established crd/servicemonitors.monitoring.coreos.com --timeout=60s >/dev/null
fi
crds_before=yes
kubectl get "${rgd_crds[@]}" >/dev/null 2>&1 || crds_before=no

step "server-side dry run of every render"
dry_ns="kro-helm-$id-dry"
namespaces+=("$dry_ns")
kubectl create namespace "$dry_ns" >/dev/null
for render in default upstream-values aggregation servicemonitor; do
  # The renders name namespace kro-system; validate them in the fresh namespace instead.
  sed "s/namespace: kro-system/namespace: $dry_ns/" "$work/$render.yaml" \
    | kubectl create --dry-run=server -n "$dry_ns" -f - >/dev/null 2>"$work/dry.log" \
    || { cat "$work/dry.log" >&2; die "the API server rejects the $render render"; }
done

# The example RGD under a unique name and kind, so it cannot meet another run's.
sed -e "s/^  name: webapplication$/  name: $rgd_name/" -e "s/^    kind: WebApplication$/    kind: $kind/" \
  examples/manifests/webapp-rgd.yaml >"$work/rgd.yaml"
grep -q "name: $rgd_name" "$work/rgd.yaml" && grep -q "kind: $kind" "$work/rgd.yaml" \
  || die "examples/manifests/webapp-rgd.yaml changed shape: cannot rename its RGD"

# The container of the installed Deployment as the kubelet would run it: env values (fieldRefs
# resolved for the pod name and namespace), and args with $(VAR) expanded from that env.
container_of() { # deployment json file, pod name, namespace, env out, args out
  python3 - "$@" <<'PY'
import json, re, sys
path, pod, namespace, env_out, args_out = sys.argv[1:]
deployment = json.load(open(path))
spec = deployment["spec"]["template"]["spec"]
containers = spec["containers"]
if len(containers) != 1:
    sys.exit(f"expected one container, found {len(containers)}")
container = containers[0]
if container.get("command"):
    sys.exit("the container sets command; the check runs the operator binary with the args")
fields = {"metadata.name": pod, "metadata.namespace": namespace,
          "spec.serviceAccountName": spec.get("serviceAccountName", "default")}
env = {}
order = []
def expand(text, known):
    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)",
                  lambda m: "$" if m.group(0) == "$$" else known.get(m.group(1), m.group(0)), text)
for item in container.get("env", []):
    name = item["name"]
    if "value" in item:
        value = expand(item["value"], env)
    elif "valueFrom" in item and "fieldRef" in item["valueFrom"]:
        field = item["valueFrom"]["fieldRef"]["fieldPath"]
        if field not in fields:
            sys.exit(f"env {name}: fieldRef {field} is not supported by the check")
        value = fields[field]
    elif "valueFrom" in item:
        sys.exit(f"env {name}: {list(item['valueFrom'])} is not supported by the check")
    else:
        value = ""
    if name not in env:
        order.append(name)
    env[name] = value
if container.get("envFrom"):
    sys.exit("envFrom is not supported by the check")
with open(env_out, "w") as out:
    for name in order:
        out.write(f"{name}={env[name]}\0")
with open(args_out, "w") as out:
    for arg in container.get("args", []):
        out.write(expand(arg, env) + "\0")
print(spec.get("serviceAccountName", "default"))
PY
}

# A kubeconfig for the API server of $KUBECONFIG holding a token of ServiceAccount $2 in $1.
sa_kubeconfig() { # namespace, service account, output file
  local server ca token
  server=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')
  ca=$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')
  token=$(kubectl create token "$2" -n "$1" --duration=1h)
  cat >"$3" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: cluster
  cluster:
    server: $server
    certificate-authority-data: $ca
users:
- name: $2
  user:
    token: $token
contexts:
- name: $2
  context:
    cluster: cluster
    user: $2
    namespace: $1
current-context: $2
KUBECONFIG
}

# SIGTERM, then the operator must exit with status 0 within its graceful shutdown timeout.
stop_operator() { # mode
  local deadline=$((SECONDS + 70)) rc=0
  kill -TERM "$operator_pid"
  while kill -0 "$operator_pid" 2>/dev/null; do
    [ $SECONDS -lt $deadline ] || { kill -KILL "$operator_pid"; die "the operator did not stop within 70 s of SIGTERM ($1)"; }
    sleep 0.2
  done
  wait "$operator_pid" || rc=$?
  operator_pid=""
  [ "$rc" = 0 ] || die "the operator exited with status $rc on SIGTERM ($1)"
}

# 3. Install, run the operator under the chart's RBAC, uninstall: once per RBAC mode.
check_mode() { # rbac mode
  local mode=$1 short=${1:0:5}
  local ns="kro-helm-$id-$short" release="kro-rs-$id-$short"
  local metrics_port health_port deployment sa pod extra=()
  namespaces+=("$ns")
  kubectl create namespace "$ns" >/dev/null
  metrics_port=$(free_port); health_port=$(free_port)
  # The operator runs on this host, not in a pod: the bind addresses get free ports, and the
  # leader-election namespace is set to what a pod would read from its ServiceAccount mount.
  if [ "$mode" = unrestricted ]; then
    extra=(--set metrics.service.create=true --set metrics.serviceMonitor.enabled=true)
  fi
  step "$mode: helm install $release -n $ns"
  releases+=("$release -n $ns")
  helm install "$release" "$chart" -n "$ns" --set rbac.mode="$mode" \
    --set config.leaderElectionNamespace="$ns" \
    --set config.metricsBindAddress=":$metrics_port" --set config.healthProbeBindAddress=":$health_port" \
    "${extra[@]}" >"$work/install-$short.log" 2>&1 \
    || { cat "$work/install-$short.log" >&2; die "helm install ($mode)"; }
  kubectl get "${rgd_crds[@]}" >/dev/null || die "the RGD CRDs are missing after helm install"
  deployment=$(kubectl get deployment -n "$ns" -l "app.kubernetes.io/instance=$release" -o name)
  [ "$(echo "$deployment" | wc -w)" = 1 ] || die "expected one Deployment of $release, found: $deployment"
  kubectl get "$deployment" -n "$ns" -o json >"$work/deployment-$short.json"
  pod="${deployment#*/}-helm-check"
  sa=$(container_of "$work/deployment-$short.json" "$pod" "$ns" "$work/env-$short" "$work/args-$short") \
    || die "cannot read the container of $deployment"
  kubectl get serviceaccount "$sa" -n "$ns" >/dev/null || die "the Deployment's ServiceAccount $sa does not exist"

  if [ "$mode" = unrestricted ]; then
    step "$mode: ServiceMonitor and metrics Service"
    local monitor selector
    monitor=$(kubectl get servicemonitors.monitoring.coreos.com -n "$ns" -l "app.kubernetes.io/instance=$release" -o name)
    [ -n "$monitor" ] || die "helm install with metrics.serviceMonitor.enabled=true created no ServiceMonitor"
    selector=$(kubectl get "$monitor" -n "$ns" -o json | python3 -c \
      'import json,sys; print(",".join(f"{k}={v}" for k,v in json.load(sys.stdin)["spec"]["selector"]["matchLabels"].items()))')
    kubectl get service -n "$ns" -l "$selector" -o jsonpath='{.items[*].spec.ports[*].name}' | grep -qw metrics \
      || die "the ServiceMonitor's selector ($selector) matches no Service with a metrics port"
  else
    # Aggregation mode grants the operator only kro's own resources; the user grants the kinds an
    # RGD manages through a ClusterRole carrying the aggregation label, as the chart documents.
    step "$mode: granting the example's kinds through an aggregated ClusterRole"
    kubectl apply -f - >/dev/null <<ROLE
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata:
  name: $user_role
  labels:
    rbac.kro.run/aggregate-to-controller: "true"
rules:
  - apiGroups: ["kro.run"]
    resources: ["$plural", "$plural/status", "$plural/finalizers"]
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
  - apiGroups: ["apps"]
    resources: ["deployments"]
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
  - apiGroups: [""]
    resources: ["services"]
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
  - apiGroups: ["networking.k8s.io"]
    resources: ["ingresses"]
    verbs: ["get", "list", "watch", "create", "update", "patch", "delete"]
ROLE
    wait_for 30 "the aggregated ClusterRole to include $plural" \
      kubectl auth can-i watch "$plural.kro.run" --as="system:serviceaccount:$ns:$sa"
    ! kubectl auth can-i list secrets -A --as="system:serviceaccount:$ns:$sa" >/dev/null 2>&1 \
      || die "aggregation mode lets the operator list Secrets: the chart's RBAC is not restricted"
  fi

  step "$mode: running $operator as ServiceAccount $ns/$sa with the Deployment's args and env"
  sa_kubeconfig "$ns" "$sa" "$work/kubeconfig-$short"
  KUBECONFIG="$work/kubeconfig-$short" "$kubectl_bin" --cache-dir="$work/kube-cache" auth whoami -o jsonpath='{.status.userInfo.username}' \
    | grep -qx "system:serviceaccount:$ns:$sa" || die "the token is not the ServiceAccount's"
  local env_vars=() args=()
  mapfile -d '' env_vars <"$work/env-$short"
  mapfile -d '' args <"$work/args-$short"
  echo "helm-check:   env ${env_vars[*]}" >&2
  echo "helm-check:   args ${args[*]}" >&2
  env -i "${env_vars[@]}" "KUBECONFIG=$work/kubeconfig-$short" "$operator" "${args[@]}" \
    >"$work/operator-$short.log" 2>&1 &
  operator_pid=$!
  wait_for 60 "the operator's /readyz on :$health_port" curl -fsS "http://127.0.0.1:$health_port/readyz"
  local holder
  holder=$(kubectl get lease controller.kro.run -n "$ns" -o jsonpath='{.spec.holderIdentity}')
  [[ "$holder" == "${pod}_"* ]] || die "the leader Lease in $ns is held by '$holder', not by $pod"
  curl -fsS "http://127.0.0.1:$metrics_port/metrics" >/dev/null || die "no /metrics on :$metrics_port"

  step "$mode: RGD $rgd_name Active, instance ACTIVE"
  kubectl apply -f "$work/rgd.yaml" >/dev/null
  kubectl wait --for=jsonpath='{.status.state}'=Active "rgd/$rgd_name" --timeout=90s >/dev/null \
    || { kubectl get rgd "$rgd_name" -o yaml >&2; die "RGD $rgd_name did not become Active ($mode)"; }
  kubectl apply -n "$ns" -f - >/dev/null <<INSTANCE
apiVersion: kro.run/v1alpha1
kind: $kind
metadata:
  name: shop
spec:
  name: shop
  ingress:
    enabled: true
INSTANCE
  kubectl wait --for=jsonpath='{.status.state}'=ACTIVE "$plural.kro.run/shop" -n "$ns" --timeout=120s >/dev/null \
    || { kubectl get "$plural.kro.run/shop" -n "$ns" -o yaml >&2; die "the instance did not become ACTIVE ($mode)"; }
  kubectl get deployment/shop service/shop ingress/shop -n "$ns" >/dev/null \
    || die "the instance's children are missing ($mode)"

  step "$mode: deleting the instance and the RGD, stopping the operator"
  kubectl delete "$plural.kro.run/shop" -n "$ns" --timeout=60s >/dev/null || die "instance deletion ($mode)"
  kubectl delete rgd "$rgd_name" --timeout=60s >/dev/null || die "RGD deletion ($mode)"
  stop_operator "$mode"
  if [ "$mode" != unrestricted ]; then
    # Settle the aggregation before uninstalling: a rules update the controller manager applies
    # after helm deleted the aggregated role would create it again.
    kubectl delete clusterrole "$user_role" >/dev/null
    wait_for 30 "the aggregated ClusterRole to drop $plural" \
      bash -c '! "$@"' _ "$kubectl_bin" --kubeconfig="$KUBECONFIG" auth can-i watch "$plural.kro.run" \
      --as="system:serviceaccount:$ns:$sa"
  fi

  step "$mode: helm uninstall keeps the RGD CRDs"
  helm uninstall "$release" -n "$ns" --wait --timeout=90s >"$work/uninstall-$short.log" 2>&1 \
    || { cat "$work/uninstall-$short.log" >&2; die "helm uninstall ($mode)"; }
  kubectl get "${rgd_crds[@]}" >/dev/null 2>&1 || die "helm uninstall removed the RGD CRDs"
  local left
  left=$(kubectl get clusterroles,clusterrolebindings -o name | grep -F "/$release" || true)
  [ -z "$left" ] || die "helm uninstall left cluster-scoped RBAC of $release behind: $left"
}
check_mode unrestricted
check_mode aggregation
if [ "$crds_before" = yes ]; then
  step "note: the RGD CRDs existed before the first install, so they were not installed by Helm here"
fi

# 4. Upstream's chart, then the kro-rs chart over it (same release name, same namespace).
ns="kro-helm-$id-upgrade"
release="helm-check-$id"   # without "kro": both charts name the objects "<release>-kro"
namespaces+=("$ns")
kubectl create namespace "$ns" >/dev/null
step "upgrade: helm install $release from upstream's chart"
releases+=("$release -n $ns")
helm install "$release" "$upstream_chart" -n "$ns" >"$work/upstream-install.log" 2>&1 \
  || { cat "$work/upstream-install.log" >&2; die "helm install of upstream's chart"; }
uid_before=$(kubectl get deployment "$release-kro" -n "$ns" -o jsonpath='{.metadata.uid}') \
  || die "upstream's chart did not create Deployment $release-kro"
step "upgrade: helm upgrade $release to the kro-rs chart"
helm upgrade "$release" "$chart" -n "$ns" >"$work/upgrade.log" 2>&1 \
  || { cat "$work/upgrade.log" >&2; die "helm upgrade from upstream's chart to kro-rs's"; }
kubectl get deployment "$release-kro" -n "$ns" -o json >"$work/upgraded.json"
python3 - "$work/upgraded.json" "$uid_before" <<'PY' || die "the upgraded Deployment is not kro-rs's, patched in place"
import json, sys
deployment = json.load(open(sys.argv[1]))
assert deployment["metadata"]["uid"] == sys.argv[2], "the Deployment was replaced, not upgraded in place"
assert deployment["metadata"]["labels"].get("app.kubernetes.io/part-of") == "kro-rs", deployment["metadata"]["labels"]
containers = deployment["spec"]["template"]["spec"]["containers"]
assert [c["name"] for c in containers] == ["controller"], [c["name"] for c in containers]
assert "kro-operator" in containers[0]["image"], containers[0]["image"]
PY
[ "$(helm history "$release" -n "$ns" -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')" = 2 ] \
  || die "helm history of $release does not show the install and the upgrade"
kubectl get clusterrole "$release-kro-edit" "$release-kro-view" >/dev/null \
  || die "the upgrade dropped upstream's edit/view ClusterRoles"
step "upgrade: helm uninstall keeps the RGD CRDs"
helm uninstall "$release" -n "$ns" --wait --timeout=90s >"$work/uninstall-upgrade.log" 2>&1 \
  || { cat "$work/uninstall-upgrade.log" >&2; die "helm uninstall after the upgrade"; }
kubectl get "${rgd_crds[@]}" >/dev/null 2>&1 || die "helm uninstall removed the RGD CRDs"
kept_crds_checked=1

step "all Helm checks passed in $((SECONDS - t0)) s"

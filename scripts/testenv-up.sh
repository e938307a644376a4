#!/usr/bin/env bash
# Starts etcd, kube-apiserver, kube-controller-manager, kube-scheduler and kwok on 127.0.0.1 with fresh certificates,
# waits until the API server is ready, and writes a kubeconfig.
#
# Usage: scripts/testenv-up.sh [BIN_DIR]
# Without BIN_DIR the binaries come from scripts/testenv-build.sh (built or cached).
# Prints the run directory on stdout; "$RUN/env" holds KRO_TEST_KUBECONFIG, KUBECONFIG and the PIDs.
# A pointer to the run directory is kept in .testenv/current so testenv-down.sh can find it
# (KRO_TESTENV_PRIVATE=1: never, for a control plane that one test owns).
# Each component's command line is kept in "$RUN/cmd/<component>.sh" and its PID in "$RUN/pids", so
# scripts/testenv-ctl.sh can stop, restart, pause and resume it with the same arguments.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${1:-$(bash "$root/scripts/testenv-build.sh")}
for b in etcd kube-apiserver kube-controller-manager kube-scheduler kwok kubectl; do
  [ -x "$bin/$b" ] || { echo "testenv-up: $bin/$b is missing" >&2; exit 1; }
done

base=/dev/shm
[ -d "$base" ] && [ -w "$base" ] || base=${TMPDIR:-/tmp}
run=$(mktemp -d "$base/kro-testenv-XXXXXX")
mkdir -p "$root/.testenv"
# .testenv/current names the default control plane (testenv-down.sh without arguments stops it).
# A second control plane started while the first still runs does not take that name over, so
# stopping "the default one" never pulls a cluster from under someone else's tests.
current_alive() {
  local previous pid
  previous=$(readlink "$root/.testenv/current" 2>/dev/null) || return 1
  pid=$(awk '$1=="kube-apiserver"{print $2}' "$previous/pids" 2>/dev/null)
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}
[ "${KRO_TESTENV_PRIVATE:-0}" = 1 ] || current_alive || ln -sfn "$run" "$root/.testenv/current"
pki="$run/pki"
mkdir -p "$pki" "$run/etcd" "$run/cmd"
echo "testenv-up: run directory $run" >&2

# Writes "$run/cmd/NAME.sh", which runs the command with its output appended to "$run/NAME.log".
# testenv-ctl.sh starts a stopped component again through the same file.
write_cmd() { # name command...
  local name=$1; shift
  {
    echo '#!/usr/bin/env bash'
    echo "# $name of the control plane in $run, as testenv-up.sh started it."
    printf 'exec'
    printf ' %q' "$@"
    printf ' >>%q 2>&1\n' "$run/$name.log"
  } > "$run/cmd/$name.sh"
  chmod +x "$run/cmd/$name.sh"
}
# Starts "$run/cmd/NAME.sh" in the background; the script execs, so $! is the component's PID.
start_cmd() { # name
  "$run/cmd/$1.sh" &
  echo "$1 $!" >> "$run/pids"
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# Certificates: one CA signs the serving leaf (IP SAN 127.0.0.1, which rustls requires) and the
# admin client leaf. Keys are PKCS#8 (kube-rs rejects PEM files with extra sections).
gen_key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }
gen_key "$pki/ca.key"
openssl req -x509 -new -key "$pki/ca.key" -subj "/CN=kro-testenv-ca" -days 30 -out "$pki/ca.crt" 2>/dev/null
sign_leaf() { # name subject eku san
  local name=$1 subj=$2 eku=$3 san=$4
  gen_key "$pki/$name.key"
  openssl req -new -key "$pki/$name.key" -subj "$subj" -out "$pki/$name.csr" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature,keyEncipherment"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } > "$pki/$name.ext"
  openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" -CAcreateserial \
    -days 30 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
}
sign_leaf apiserver "/CN=kube-apiserver" serverAuth \
  "IP:127.0.0.1,IP:::1,DNS:localhost,IP:10.96.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc"
sign_leaf admin "/O=system:masters/CN=kro-admin" clientAuth ""
openssl ecparam -name prime256v1 -genkey -noout -out "$pki/sa.key" 2>/dev/null
token=$(openssl rand -hex 24)
echo "$token,kro-admin,kro-admin,\"system:masters\"" > "$run/tokens.csv"

etcd_port=$(free_port); peer_port=$(free_port); api_port=$(free_port)
while [ "$peer_port" = "$etcd_port" ]; do peer_port=$(free_port); done
while [ "$api_port" = "$etcd_port" ] || [ "$api_port" = "$peer_port" ]; do api_port=$(free_port); done

write_cmd etcd "$bin/etcd" --name=kro-test --data-dir="$run/etcd" \
  --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
  --listen-peer-urls="http://127.0.0.1:$peer_port" --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
  --initial-cluster="kro-test=http://127.0.0.1:$peer_port" \
  --unsafe-no-fsync=true --log-level=warn
: > "$run/pids"
start_cmd etcd

fail() {
  echo "testenv-up: $*" >&2
  for log in "$run"/*.log; do echo "--- tail of $log" >&2; tail -n 30 "$log" >&2; done
  bash "$root/scripts/testenv-down.sh" "$run" >&2 || true
  exit 1
}
wait_until() { # seconds description command...
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    [ $SECONDS -lt $deadline ] || fail "timed out after ${limit}s waiting for $what"
    sleep 0.5
  done
}
wait_until 30 "etcd health" curl -fsS "http://127.0.0.1:$etcd_port/health"

write_cmd kube-apiserver "$bin/kube-apiserver" \
  --etcd-servers="http://127.0.0.1:$etcd_port" \
  --bind-address=127.0.0.1 --secure-port="$api_port" --advertise-address=127.0.0.1 \
  --endpoint-reconciler-type=none \
  --cert-dir="$pki" --tls-cert-file="$pki/apiserver.crt" --tls-private-key-file="$pki/apiserver.key" \
  --client-ca-file="$pki/ca.crt" --token-auth-file="$run/tokens.csv" \
  --authorization-mode=RBAC \
  --service-account-issuer="https://127.0.0.1:$api_port" \
  --service-account-key-file="$pki/sa.key" --service-account-signing-key-file="$pki/sa.key" \
  --service-cluster-ip-range=10.96.0.0/12 \
  --disable-admission-plugins=ServiceAccount \
  --enable-priority-and-fairness=false \
  --max-requests-inflight=800 --max-mutating-requests-inflight=400 \
  --allow-privileged=true --profiling=false --v=1
start_cmd kube-apiserver

ca_b64=$(base64 -w0 < "$pki/ca.crt")
cat > "$run/kubeconfig" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: kro-test
  cluster:
    server: https://127.0.0.1:$api_port
    certificate-authority-data: $ca_b64
users:
- name: kro-admin
  user:
    token: $token
contexts:
- name: kro-test
  context:
    cluster: kro-test
    user: kro-admin
    namespace: default
current-context: kro-test
KUBECONFIG

api() { curl -fsS --cacert "$pki/ca.crt" -H "Authorization: Bearer $token" "https://127.0.0.1:$api_port$1"; }
wait_until 90 "kube-apiserver /readyz" api /readyz
wait_until 30 "the default namespace" api /api/v1/namespaces/default

# The controller manager gives namespace deletion, garbage collection, Deployment -> ReplicaSet
# -> Pod, ClusterRole aggregation (the operator's least-privilege RBAC mode is an aggregated
# ClusterRole, tests/tests/e2e_rbac.rs) and HorizontalPodAutoscalers. There is no metrics server,
# so an HPA only enforces its replica bounds, which is enough to show a Deployment whose replicas
# the HPA owns (it checks every 5 s here instead of 15 s).
write_cmd kube-controller-manager "$bin/kube-controller-manager" \
  --kubeconfig="$run/kubeconfig" --leader-elect=false --secure-port=0 \
  --use-service-account-credentials=false \
  --service-account-private-key-file="$pki/sa.key" --root-ca-file="$pki/ca.crt" \
  --controllers=namespace-controller,garbage-collector-controller,deployment-controller,replicaset-controller,job-controller,serviceaccount-controller,clusterrole-aggregation-controller,horizontal-pod-autoscaler-controller \
  --horizontal-pod-autoscaler-sync-period=5s \
  --v=1
start_cmd kube-controller-manager
sleep 1
kill -0 "$(awk '$1=="kube-controller-manager"{print $2}' "$run/pids")" 2>/dev/null \
  || fail "kube-controller-manager exited at start"

# kube-scheduler plus kwok (a fake kubelet) on one fake node: Pods get scheduled and become Running
# and Ready, so Deployments report real availability.
write_cmd kube-scheduler "$bin/kube-scheduler" --kubeconfig="$run/kubeconfig" --leader-elect=false \
  --secure-port=0 --v=1
start_cmd kube-scheduler
{
  cat <<KWOK
apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  podPlayStageParallelism: 4
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 1
  enablePodsOnNodeSyncListPager: true
  enablePodsOnNodeSyncStreamWatch: false
  enableDebuggingHandlers: false
  enableProfilingHandler: false
KWOK
  cat "$bin/kwok-stages.yaml"
} > "$run/kwok.yaml"
write_cmd kwok "$bin/kwok" --kubeconfig="$run/kubeconfig" --config="$run/kwok.yaml" \
  --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
  --cidr=10.244.0.0/16 --node-ip=10.240.0.1
start_cmd kwok
kubectl=("$bin/kubectl" --kubeconfig="$run/kubeconfig")
"${kubectl[@]}" apply -f - >/dev/null <<NODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-0
  annotations: {kwok.x-k8s.io/node: fake}
  labels: {type: kwok, kubernetes.io/hostname: kwok-node-0, kubernetes.io/os: linux}
status:
  allocatable: {cpu: "64", memory: 256Gi, pods: "1000"}
  capacity: {cpu: "64", memory: 256Gi, pods: "1000"}
NODE
wait_until 60 "the kwok node to be Ready" "${kubectl[@]}" wait --for=condition=Ready node/kwok-node-0 --timeout=2s
# Admission taints a new node not-ready; the node lifecycle controller that would lift the taint is
# not running, so lift it here once kwok reports the node Ready.
"${kubectl[@]}" taint node kwok-node-0 node.kubernetes.io/not-ready:NoSchedule- >/dev/null 2>&1 || true

cat > "$run/env" <<ENV
export KRO_TESTENV_RUN=$run
export KRO_TEST_KUBECONFIG=$run/kubeconfig
export KUBECONFIG=$run/kubeconfig
export KRO_TESTENV_BIN=$bin
export KRO_TEST_API_URL=https://127.0.0.1:$api_port
export KRO_TESTENV_ETCD_URL=http://127.0.0.1:$etcd_port
ENV
echo "testenv-up: kube-apiserver ready at https://127.0.0.1:$api_port (kubeconfig $run/kubeconfig)" >&2
echo "$run"

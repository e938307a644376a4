#!/usr/bin/env bash
# Migration check: upstream kro -> kro-rs on the same cluster.
#
# 1. On a fresh control plane, upstream kro (v0.9.4) creates one instance of every upgrade fixture
#    of its module (test/upgrade/fixtures, read from the Go module cache) and brings it to ACTIVE
#    and Ready.
# 2. Upstream kro stops; kro-rs starts on the same cluster and runs for KRO_MIGRATION_SETTLE
#    seconds (default 30).
# 3. Asserts: every instance is still ACTIVE; no child was rewritten (same resourceVersion, same
#    managedFields, apply-order included); every GraphRevision upstream issued is adopted (kept,
#    no new revision: kro-rs computes upstream's spec hash).
# 4. Proves kro-rs took over: a spec change of the simple-deployment instance reaches its
#    Deployment, and the instance's conditions carry the new generation, written by kro-rs.
# 5. Deleting the deletion-target instance removes exactly its children.
# Exit status 0 only if every assertion holds. Env: KRO_RS_BIN (default target/debug/kro-operator,
# built when missing), KRO_TESTENV_KEEP=1 keeps the control plane's logs.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
settle=${KRO_MIGRATION_SETTLE:-30}
upstream=$(bash scripts/upstream-kro-build.sh)
upstream_dir="$(cd testenv/upstream-kro && go list -m -f '{{.Dir}}' github.com/kubernetes-sigs/kro)"
upstream_crds="$upstream_dir/helm/crds"
corpus=${KRO_CORPUS:-$upstream_dir/test/upgrade/fixtures}
target=${CARGO_TARGET_DIR:-$root/target}
kro_rs=${KRO_RS_BIN:-$target/debug/kro-operator}
[ -x "$kro_rs" ] || cargo build -p kro-operator >&2

run=$(bash scripts/testenv-up.sh)
# shellcheck disable=SC1091
. "$run/env"
work=$(mktemp -d "${TMPDIR:-/tmp}/kro-migration-XXXXXX")
controller_pid=""
stop_controller() {
  [ -n "$controller_pid" ] || return 0
  kill -TERM "$controller_pid" 2>/dev/null || true
  for _ in $(seq 1 40); do kill -0 "$controller_pid" 2>/dev/null || break; sleep 0.5; done
  kill -KILL "$controller_pid" 2>/dev/null || true
  wait "$controller_pid" 2>/dev/null || true
  controller_pid=""
}
cleanup() { stop_controller; bash scripts/testenv-down.sh "$run" >/dev/null 2>&1 || true; }
trap cleanup EXIT
k() { "$KRO_TESTENV_BIN/kubectl" --kubeconfig="$KUBECONFIG" "$@"; }
start_controller() { # name binary
  "$2" --metrics-bind-address=0 --health-probe-bind-address=0 > "$work/$1.log" 2>&1 &
  controller_pid=$!
  echo "migration: started $1 (pid $controller_pid, log $work/$1.log)" >&2
}
# Every object kro labels as its own, with what proves it was not rewritten.
snapshot() {
  local kinds
  kinds=$(k api-resources --verbs=list -o name | grep -vE '^(events|events\.events\.k8s\.io)$' | paste -sd, -)
  k get "$kinds" -A -l kro.run/owned=true -o json --show-managed-fields 2>/dev/null | python3 -c '
import json, sys
items = json.load(sys.stdin)["items"]
out = {}
for o in items:
    m = o["metadata"]
    key = "%s %s/%s" % (o["kind"], m.get("namespace", ""), m["name"])
    out[key] = {
        "child_of": m.get("labels", {}).get("kro.run/instance-id"),
        "instance": "applyset.kubernetes.io/id" in m.get("labels", {}),
        "labels": m.get("labels", {}),
        "annotations": m.get("annotations", {}),
        "spec": {k: v for k, v in o.items() if k not in ("metadata", "status")},
        "uid": m["uid"],
        "resourceVersion": m["resourceVersion"],
        "managers": sorted("%s/%s/%s" % (f.get("manager"), f.get("operation"), f.get("subresource", "")) for f in m.get("managedFields", [])),
        "managedFields": m.get("managedFields", []),
        "state": o.get("status", {}).get("state") if isinstance(o.get("status"), dict) else None,
    }
json.dump(out, sys.stdout, indent=1, sort_keys=True)
'
}
# The GraphRevisions, by name, with what proves they were kept.
revisions() {
  k get graphrevisions.internal.kro.run -o json | python3 -c '
import json, sys
out = {o["metadata"]["name"]: {"uid": o["metadata"]["uid"],
        "hash": o["metadata"].get("labels", {}).get("internal.kro.run/graph-revision-hash"),
        "rgd": o["spec"]["snapshot"]["name"]} for o in json.load(sys.stdin)["items"]}
json.dump(out, sys.stdout, indent=1, sort_keys=True)
'
}

k apply --server-side -f "$upstream_crds" >/dev/null
start_controller upstream-kro "$upstream"
k apply -f "$corpus/00-namespace.yaml" -f "$corpus/01-external-configmap.yaml" >/dev/null
cases=()
for dir in "$corpus"/*/; do
  [ -f "$dir/rgd.yaml" ] && [ -f "$dir/instance.yaml" ] && cases+=("$(basename "$dir")")
done
for c in "${cases[@]}"; do k apply -f "$corpus/$c/rgd.yaml" >/dev/null; done
k wait --for=jsonpath='{.status.state}'=Active rgd --all --timeout=180s >/dev/null
for c in "${cases[@]}"; do k apply -f "$corpus/$c/instance.yaml" >/dev/null; done
for c in "${cases[@]}"; do
  k wait --for=jsonpath='{.status.state}'=ACTIVE -f "$corpus/$c/instance.yaml" --timeout=180s >/dev/null
  k wait --for=condition=Ready -f "$corpus/$c/instance.yaml" --timeout=180s >/dev/null
done
echo "migration: ${#cases[@]} instances ACTIVE and Ready under upstream kro" >&2
sleep 5
snapshot > "$work/before.json"
revisions > "$work/revisions-before.json"
stop_controller

start_controller kro-rs "$kro_rs"
sleep "$settle"
kill -0 "$controller_pid" 2>/dev/null || { echo "migration: kro-rs exited; log:" >&2; tail -n 30 "$work/kro-rs.log" >&2; exit 1; }
snapshot > "$work/after.json"
revisions > "$work/revisions-after.json"

# The takeover: a spec change must reach the Deployment through kro-rs alone.
simple="$corpus/simple-deployment/instance.yaml"
k patch -f "$simple" --type=merge -p '{"spec":{"image":"nginx:1.27"}}' >/dev/null
generation=$(k get -f "$simple" -o jsonpath='{.metadata.generation}')
k wait --for=jsonpath='{.spec.template.spec.containers[0].image}'=nginx:1.27 \
  deployment/test-simple-deployment -n upgrade-test --timeout=60s >/dev/null \
  || { echo "migration: the spec change did not reach the Deployment under kro-rs" >&2; exit 1; }
k wait --for=jsonpath='{.status.conditions[?(@.type=="Ready")].observedGeneration}'="$generation" \
  -f "$simple" --timeout=60s >/dev/null \
  || { echo "migration: the Ready condition never observed generation $generation" >&2; exit 1; }
k get -f "$simple" -o json --show-managed-fields > "$work/simple-after-change.json"

deleted_uid=$(k get -f "$corpus/deletion-target/instance.yaml" -o jsonpath='{.metadata.uid}')
k delete -f "$corpus/deletion-target/instance.yaml" --wait=true --timeout=120s >/dev/null
sleep 2
snapshot > "$work/deleted.json"
stop_controller

python3 - "$work" "$deleted_uid" "$generation" <<'PY'
import json, sys
work, deleted_uid, generation = sys.argv[1], sys.argv[2], int(sys.argv[3])
before = json.load(open(f"{work}/before.json"))
after = json.load(open(f"{work}/after.json"))
deleted = json.load(open(f"{work}/deleted.json"))
failures = []
instances = {k: v for k, v in before.items() if v["instance"]}
children = {k: v for k, v in before.items() if v["child_of"] is not None}
for key in sorted(instances):
    state = after.get(key, {}).get("state")
    if state != "ACTIVE":
        failures.append(f"instance {key}: state {state!r} under kro-rs, expected 'ACTIVE'")
rewritten = 0
for key, child in sorted(children.items()):
    now = after.get(key)
    if now is None:
        failures.append(f"child {key}: deleted by kro-rs")
    elif now["uid"] != child["uid"]:
        failures.append(f"child {key}: recreated (uid changed)")
    elif now["resourceVersion"] != child["resourceVersion"] or now["managedFields"] != child["managedFields"]:
        rewritten += 1
        changed = sorted(part for part in ("labels", "annotations", "spec") if now[part] != child[part])
        detail = {part: {k: (child[part].get(k), now[part].get(k)) for k in set(child[part]) | set(now[part]) if child[part].get(k) != now[part].get(k)} for part in changed if part != "spec"}
        failures.append(f"child {key}: rewritten (resourceVersion {child['resourceVersion']} -> {now['resourceVersion']}; managers {child['managers']} -> {now['managers']}; changed {changed} {detail})")
revisions_before = json.load(open(f"{work}/revisions-before.json"))
revisions_after = json.load(open(f"{work}/revisions-after.json"))
if not revisions_before:
    failures.append("upstream kro issued no GraphRevision")
for name, revision in sorted(revisions_before.items()):
    if revisions_after.get(name, {}).get("uid") != revision["uid"]:
        failures.append(f"GraphRevision {name}: not adopted (gone or recreated under kro-rs)")
for name in sorted(set(revisions_after) - set(revisions_before)):
    failures.append(f"GraphRevision {name}: issued by kro-rs although the spec hash was unchanged")
simple = json.load(open(f"{work}/simple-after-change.json"))
conditions = simple.get("status", {}).get("conditions", [])
stale = [c["type"] for c in conditions if c.get("observedGeneration") != generation]
if stale:
    failures.append(f"simple-deployment: conditions {stale} do not carry generation {generation}")
# Upstream kro is stopped by now, so conditions at the new generation can only be kro-rs's.
if not conditions:
    failures.append("simple-deployment: no conditions after the spec change")
new_children = sorted(k for k, v in after.items() if v["child_of"] is not None and k not in children)
for key in new_children:
    failures.append(f"child {key}: created by kro-rs although upstream had converged")
own = sorted(k for k, v in after.items() if v["child_of"] == deleted_uid)
if not own:
    failures.append("deletion-target instance had no children to delete")
for key in own:
    if key in deleted:
        failures.append(f"child {key} of the deleted instance still exists")
for key, v in sorted(after.items()):
    if v["child_of"] not in (None, deleted_uid) and key not in deleted:
        failures.append(f"child {key} of another instance was deleted with the deletion target")
print(f"migration: {len(instances)} instances, {len(children)} children checked; "
      f"{rewritten} children rewritten; {len(revisions_before)} GraphRevisions adopted; "
      f"spec change reached the Deployment at generation {generation}; "
      f"deletion removed {len(own)} children")
if failures:
    print("migration: FAILED")
    for f in failures:
        print("  - " + f)
    print(f"(snapshots and controller logs in {work})")
    sys.exit(1)
print("migration: OK: every instance stayed ACTIVE, no child was rewritten, every revision was "
      "adopted, kro-rs carried a spec change through, deletion removed exactly its children")
PY
rm -rf "$work"

#!/usr/bin/env python3
"""Regenerates kro-graph's built-in Kubernetes schemas from a running kube-apiserver.

The offline schema resolver of kro-graph ships the OpenAPI v3 schemas of the built-in kinds of one
pinned Kubernetes version, so that RGDs can be compiled and type-checked with no cluster. This script
reads them from the test control plane (same version as testenv/versions.env):

    run=$(bash scripts/testenv-up.sh) && . "$run/env"
    python3 scripts/generate-builtin-schemas.py
    bash scripts/testenv-down.sh

It writes kro-graph/builtin/kinds.json (one entry per kind: group, version, kind, plural, namespaced,
schema name) and kro-graph/builtin/schemas.json (every component schema, deduplicated across group
versions, with descriptions removed: they are documentation, and dropping them makes the data a
quarter of the size). Output is sorted and stable, so regenerating from the same version changes
nothing.
"""
import json
import os
import ssl
import sys
import urllib.request

BUILTIN_PREFIXES = ("api/v1",)
# Extension points and aggregated APIs are not part of a cluster's built-in kinds.
SKIP_GROUPS = {"apiregistration.k8s.io"}
# Keys that carry documentation or client-side patch hints only.
DROP_KEYS = {"description", "x-kubernetes-patch-strategy", "x-kubernetes-patch-merge-key"}


def client():
    kubeconfig = os.environ.get("KRO_TEST_KUBECONFIG")
    api = os.environ.get("KRO_TEST_API_URL")
    if not kubeconfig or not api:
        sys.exit("source the control plane's env file first (see the module docstring)")
    token = None
    ca = None
    import base64
    import re
    with open(kubeconfig) as f:
        text = f.read()
    token = re.search(r"token: (\S+)", text).group(1)
    ca = base64.b64decode(re.search(r"certificate-authority-data: (\S+)", text).group(1)).decode()
    context = ssl.create_default_context(cadata=ca)

    def get(path):
        req = urllib.request.Request(api + path, headers={"Authorization": "Bearer " + token})
        with urllib.request.urlopen(req, context=context) as resp:
            return json.load(resp)

    return get


def strip(node):
    if isinstance(node, dict):
        return {k: strip(v) for k, v in node.items() if k not in DROP_KEYS}
    if isinstance(node, list):
        return [strip(v) for v in node]
    return node


def main():
    get = client()
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "kro-graph", "builtin")
    paths = sorted(get("/openapi/v3")["paths"])
    group_versions = []
    for path in paths:
        parts = path.split("/")
        if path == "api/v1":
            group_versions.append(("", "v1", path))
        elif len(parts) == 3 and parts[0] == "apis":
            group = parts[1]
            if group in SKIP_GROUPS or group.endswith(".test.kro.run") or group.endswith(".kro.run"):
                continue
            group_versions.append((group, parts[2], path))

    schemas = {}
    kinds = []
    for group, version, path in group_versions:
        doc = get("/openapi/v3/" + path)
        components = doc.get("components", {}).get("schemas", {})
        for name, schema in components.items():
            schemas[name] = strip(schema)
        by_gvk = {}
        for name, schema in components.items():
            for gvk in schema.get("x-kubernetes-group-version-kind", []):
                if gvk.get("group", "") == group and gvk.get("version") == version:
                    by_gvk[gvk["kind"]] = name
        discovery = get("/api/v1" if group == "" else f"/apis/{group}/{version}")
        for resource in discovery.get("resources", []):
            if "/" in resource["name"]:
                continue  # subresources
            kind = resource["kind"]
            if kind not in by_gvk:
                continue
            kinds.append({
                "group": group,
                "version": version,
                "kind": kind,
                "plural": resource["name"],
                "namespaced": resource["namespaced"],
                "schema": by_gvk[kind],
            })
    kinds.sort(key=lambda k: (k["group"], k["version"], k["kind"]))
    version = get("/version")["gitVersion"]
    with open(os.path.join(root, "kinds.json"), "w") as f:
        json.dump({"kubernetesVersion": version, "kinds": kinds}, f, indent=1, sort_keys=True)
        f.write("\n")
    with open(os.path.join(root, "schemas.json"), "w") as f:
        json.dump(schemas, f, sort_keys=True, separators=(",", ":"))
        f.write("\n")
    print(f"{len(kinds)} kinds, {len(schemas)} schemas from Kubernetes {version}")


if __name__ == "__main__":
    main()

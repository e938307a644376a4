#!/usr/bin/env python3
"""Fails when a public signature of a kro library exposes another crate's type that a user would
have to depend on to name it.

Usage: check-public-types.py api/<crate>.txt...

Allowed in signatures: kro's own crates, the standard library, serde_json, k8s-openapi, kube and
futures-core's `Stream` (what kube::runtime takes and returns)
(every kube-rs user already depends on those, at the versions they chose). Trait
implementations of serde and schemars are allowed: they add abilities, they do not make a user
name another crate.
"""

import re
import sys

ALLOWED_ROOTS = re.compile(
    r"^(kro_\w+|core|alloc|std|serde_json|k8s_openapi|kube|kube_core|kube_client|kube_runtime|futures_core)$"
)
TRAIT_IMPL = re.compile(r"^impl(<[^>]*>)? (serde_core|serde|schemars)::")
OWN_MODULE = re.compile(r"^pub mod kro_\w+::(\w+)$")
PATH_ROOT = re.compile(r"(?<![\w:])([a-z_][a-z0-9_]*)::")


def dependency_crates() -> set:
    """Every crate name in Cargo.lock, as Rust paths spell it: a path root that is not one of
    these is a module of the crate being listed (re-exports print their source relative)."""
    with open("Cargo.lock", encoding="utf-8") as handle:
        names = re.findall(r'^name = "([^"]+)"', handle.read(), flags=re.M)
    return {name.replace("-", "_") for name in names}


def main() -> int:
    crates = dependency_crates()
    offending = []
    for listing in sys.argv[1:]:
        with open(listing, encoding="utf-8") as handle:
            lines = [line.rstrip("\n") for line in handle]
        # A re-export prints its source relative to the listed crate, so a module that shares
        # its name with a crate of the lock file (`object`) is not that crate.
        own_modules = {
            match.group(1) for line in lines for match in [OWN_MODULE.match(line)] if match
        }
        for line in lines:
            if TRAIT_IMPL.match(line):
                continue
            roots = {
                root
                for root in PATH_ROOT.findall(line)
                if root in crates and root not in own_modules and not ALLOWED_ROOTS.match(root)
            }
            if roots:
                offending.append(f"{listing}: {', '.join(sorted(roots))}: {line}")
    for entry in offending:
        print(f"check-public-types: {entry}", file=sys.stderr)
    if offending:
        print(
            "check-public-types: a public signature exposes a third-party type; wrap it in a kro "
            "type or keep the item private",
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

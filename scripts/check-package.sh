#!/usr/bin/env bash
# Checks that every library crate is publishable: `cargo package` builds each crate from the
# contents of its .crate file alone (with its kro dependencies taken from their own packages, as
# crates.io would serve them), and every file a crate embeds with include_str!/include_bytes! is
# inside its package.
#
#   bash scripts/check-package.sh              # package and verify-build every library crate
#   KRO_PACKAGE_NO_VERIFY=1 bash scripts/check-package.sh   # contents only, no build
#
# `cargo package` with several `-p` packages resolves unpublished path dependencies between them
# through a temporary local registry, so the crates need not be on crates.io yet. --allow-dirty:
# the check is about what would be uploaded, not about the state of the git tree.
set -euo pipefail

cd "$(dirname "$0")/.."

library_crates=(kro-api kro-schema kro-cel kro-graph kro-applyset kro-runtime kro-controller)
# A library never picks k8s-openapi's Kubernetes version; building a package alone needs one, so
# the check gives it as an embedder's binary would (the test control plane's version).
export K8S_OPENAPI_ENABLED_VERSION=${K8S_OPENAPI_ENABLED_VERSION:-1.36}

status=0

# 1. Every embedded file resolves inside its crate and is listed in the package.
for crate in "${library_crates[@]}"; do
    listing="$(cargo package -p "$crate" --list --allow-dirty --quiet)"
    while IFS= read -r embed; do
        [ -n "$embed" ] || continue
        source_file="${embed%%:*}"
        relative="${embed#*:}"
        resolved="$(python3 -c 'import os,sys; print(os.path.normpath(os.path.join(os.path.dirname(sys.argv[1]), sys.argv[2])))' "$source_file" "$relative")"
        inside="${resolved#"$crate"/}"
        if [ "$inside" = "$resolved" ]; then
            echo "check-package: $source_file embeds $relative, which is outside $crate" >&2
            status=1
        elif ! grep -qxF "$inside" <<<"$listing"; then
            echo "check-package: $source_file embeds $relative, which is not in the $crate package (see include in $crate/Cargo.toml)" >&2
            status=1
        fi
    done < <(grep -rhoE --include='*.rs' 'include_(str|bytes)!\("[^"]+"\)' "$crate/src" /dev/null |
        sed -E 's/.*\("([^"]+)"\)/\1/' | sort -u |
        while IFS= read -r path; do
            grep -rlF --include='*.rs' "\"$path\"" "$crate/src" | sed "s|\$|:$path|"
        done)
    echo "check-package: $crate: $(wc -l <<<"$listing") files, embedded data inside the package"
done
[ $status -eq 0 ] || exit $status

# 2. Package all library crates together and build each from its package.
# Verification resolves each crate's kro dependencies through a temporary local registry, whose
# unpacked sources stay in CARGO_HOME between runs and are not refreshed when a package changes
# under the same version: drop them, so every run verifies the crates of this tree.
cargo_home=${CARGO_HOME:-$HOME/.cargo}
for registry_dir in "$cargo_home"/registry/src/-* "$cargo_home"/registry/cache/-*; do
    [ -d "$registry_dir" ] && rm -rf "$registry_dir"/kro-*
done
# Cargo treats registry packages as immutable, so the build of a kro package from last run's
# temporary registry would be reused as is: forget those builds (found by their sources' path).
target_dir=${CARGO_TARGET_DIR:-target}
for depinfo in "$target_dir"/debug/deps/kro_*.d; do
    [ -f "$depinfo" ] || continue
    if grep -q '/registry/src/-' "$depinfo"; then
        stem=$(basename "$depinfo" .d)
        rm -rf "$target_dir/debug/.fingerprint/${stem//_/-}"
    fi
done

package_args=()
for crate in "${library_crates[@]}"; do
    package_args+=(-p "$crate")
done
verify=()
if [ -n "${KRO_PACKAGE_NO_VERIFY:-}" ]; then
    verify=(--no-verify)
fi
cargo package "${package_args[@]}" --allow-dirty "${verify[@]}"
echo "check-package: ${library_crates[*]} package and build from their packaged contents"

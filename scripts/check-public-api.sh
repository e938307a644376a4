#!/usr/bin/env bash
# Fails when the public API of a library crate differs from its committed listing in api/<crate>.txt.
#
#   bash scripts/check-public-api.sh            # compare every library crate
#   bash scripts/check-public-api.sh --bless    # rewrite api/*.txt after a deliberate change
#   bash scripts/check-public-api.sh kro-cel    # only the named crates (either mode)
#
# The listing comes from rustdoc's JSON output, which needs a nightly toolchain (rustup's
# `nightly`, or the one named by KRO_NIGHTLY). It builds into target/public-api so it neither
# waits for nor invalidates the stable build in target/. Each line is one public item with its
# signature (see scripts/public-api-listing.py); a diff shows exactly what changed.
set -euo pipefail

cd "$(dirname "$0")/.."

nightly="${KRO_NIGHTLY:-nightly}"
target_dir="${KRO_PUBLIC_API_TARGET_DIR:-target/public-api}"
library_crates=(kro-api kro-schema kro-cel kro-graph kro-applyset kro-runtime kro-controller)
# Libraries leave k8s-openapi's Kubernetes version to the binary; documenting them alone needs one.
export K8S_OPENAPI_ENABLED_VERSION=${K8S_OPENAPI_ENABLED_VERSION:-1.36}

bless=false
crates=()
for argument in "$@"; do
    case "$argument" in
        --bless) bless=true ;;
        -h | --help)
            sed -n '2,11p' "$0"
            exit 0
            ;;
        kro-*) crates+=("$argument") ;;
        *)
            echo "check-public-api: unknown argument '$argument'" >&2
            exit 2
            ;;
    esac
done
if [ ${#crates[@]} -eq 0 ]; then
    crates=("${library_crates[@]}")
fi

if ! cargo "+$nightly" --version >/dev/null 2>&1; then
    echo "check-public-api: the '$nightly' toolchain is not installed (rustup toolchain install nightly)" >&2
    exit 2
fi

package_args=()
for crate in "${crates[@]}"; do
    package_args+=(-p "$crate")
done

# Default features only: that is what `cargo add` gives a user.
CARGO_TARGET_DIR="$target_dir" RUSTDOCFLAGS="-Z unstable-options --output-format json" \
    cargo "+$nightly" doc --no-deps --lib "${package_args[@]}" --quiet

mkdir -p api
status=0
for crate in "${crates[@]}"; do
    json="$target_dir/doc/${crate//-/_}.json"
    listing="$(python3 scripts/public-api-listing.py "$json")"
    committed="api/$crate.txt"
    if $bless; then
        printf '%s\n' "$listing" >"$committed"
        echo "check-public-api: wrote $committed ($(wc -l <"$committed") items)"
    elif [ ! -f "$committed" ]; then
        echo "check-public-api: $committed is missing; run: bash scripts/check-public-api.sh --bless $crate" >&2
        status=1
    elif ! diff -u --label "$committed (committed)" --label "$crate (current)" \
        "$committed" <(printf '%s\n' "$listing"); then
        echo "check-public-api: the public API of $crate changed (diff above)." >&2
        echo "  If the change is deliberate: bash scripts/check-public-api.sh --bless $crate" >&2
        status=1
    else
        echo "check-public-api: $crate unchanged ($(wc -l <"$committed") items)"
    fi
done
# Whatever changed, no public signature may expose a third-party type a user would have to add.
listings=()
for crate in "${crates[@]}"; do
    listings+=("api/$crate.txt")
done
python3 scripts/check-public-types.py "${listings[@]}" || status=1
exit $status

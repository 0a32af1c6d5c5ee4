#!/usr/bin/env bash
# Runs two builds of edigate over every sample the repo keeps (testdata, golden cases, fuzz
# corpus) and any extra files given, and reports each run whose output or exit code differs.
# A performance change must leave every byte the same; this is how we check that it does.
#
#   scripts/compare-builds.sh BASE_BINARY NEW_BINARY [EXTRA_FILE...]
#
# Runs per file: translate, translate --partner meridian, validate (text, json) and
# validate --ack auto. What comes from the clock is masked: received_at in translate output,
# ISA09/ISA10 and GS04/GS05 in X12 acks, payloadID and timestamp in cXML acks.
set -u
base=${1:?base binary}
new=${2:?new binary}
shift 2
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

mask_received() { sed -E 's/"received_at": ?"[^"]*"/"received_at":"T"/g'; }
mask_clock() { sed -E 's/payloadID="[^"]*"/payloadID="P"/g; s/timestamp="[^"]*"/timestamp="T"/g; s/\*[0-9]{6}\*[0-9]{4}\*\^?/*D*T*/g; s/\*[0-9]{8}\*[0-9]{4}\*/*D*T*/g'; }

run() { # binary file mode -> stdout, then the exit code on the last line
    local bin=$1 file=$2 mode=$3
    case $mode in
    translate) "$bin" translate "$file" 2>&1 | mask_received ;;
    partner) "$bin" translate --partner meridian "$file" 2>&1 | mask_received ;;
    text) "$bin" validate "$file" 2>&1 ;;
    json) "$bin" validate --format json "$file" 2>&1 ;;
    ack) "$bin" validate --ack auto "$file" 2>/dev/null | mask_clock ;;
    esac
    echo "exit ${PIPESTATUS[0]}"
}

files=()
while IFS= read -r f; do files+=("$f"); done < <(
    find testdata maps/cases fuzz/corpus -type f ! -name '*.json' ! -name '*.md' ! -name '*.toml' | sort
)
files+=("$@")

runs=0
differ=0
for f in "${files[@]}"; do
    for mode in translate partner text json ack; do
        run "$base" "$f" "$mode" >"$out/a" 2>&1
        run "$new" "$f" "$mode" >"$out/b" 2>&1
        runs=$((runs + 1))
        if ! cmp -s "$out/a" "$out/b"; then
            differ=$((differ + 1))
            echo "DIFFERS: $mode $f"
            diff "$out/a" "$out/b" | head -5
        fi
    done
done
echo "$runs runs, $differ differing"
[ "$differ" -eq 0 ]

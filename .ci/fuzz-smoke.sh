#!/usr/bin/env bash
# Builds every cargo-fuzz target in fuzz/ and runs each for a short fixed time (FUZZ_SECONDS,
# default 45) from the checked-in seed corpus. Any crash, leak, timeout or out-of-memory fails the
# run; the failing input is left in fuzz/artifacts/<target>/.
# Self-contained: installs the nightly toolchain and cargo-fuzz if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${FUZZ_SECONDS:-45}"

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
if ! command -v cargo-fuzz > /dev/null; then
  cargo install cargo-fuzz --locked
fi

# Artifacts of their own: sanitizer flags differ from the normal build's.
export CARGO_TARGET_DIR="$(realpath -m "${CARGO_TARGET_DIR:-target}")/fuzz"
# New inputs the fuzzer finds go to a scratch directory, not into the checked-in corpus.
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cd fuzz
cargo +nightly fuzz build -O
for target in $(cargo +nightly fuzz list); do
  echo "--- fuzz $target for ${seconds}s"
  mkdir -p "$work/$target"
  log="$work/$target.log"
  if ! cargo +nightly fuzz run -O "$target" "$work/$target" "corpus/$target" -- \
    -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=20 -print_final_stats=1 > "$log" 2>&1; then
    tail -n 60 "$log"
    echo "fuzz target $target failed; input in fuzz/artifacts/$target/" >&2
    exit 1
  fi
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|Done )' "$log" || true
done
echo "fuzz smoke: every target ran ${seconds}s without a crash"

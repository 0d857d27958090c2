#!/usr/bin/env bash
# Runs the tessera-format tests under Miri (undefined-behaviour checker). Parsing works on byte
# slices, so every parsing test runs; tests that need files or mmap are #[cfg_attr(miri, ignore)].
# Self-contained: installs the nightly toolchain and the Miri component if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

source .ci/nightly-miri.sh

# A target dir of its own, so Miri's artifacts never mix with the normal build's.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri"
cargo +nightly miri test -p tessera-format

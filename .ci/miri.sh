#!/usr/bin/env bash
# Runs the tessera-format tests under Miri (undefined-behaviour checker). Parsing works on byte
# slices, so every parsing test runs; tests that need files or mmap are #[cfg_attr(miri, ignore)].
# Self-contained: installs the nightly toolchain and the Miri component if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
rustup component add miri rust-src --toolchain nightly
cargo +nightly miri setup

# A target dir of its own, so Miri's artifacts never mix with the normal build's.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/miri"
cargo +nightly miri test -p tessera-format

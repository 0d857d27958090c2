#!/usr/bin/env bash
# Miri (undefined-behaviour checker) beyond the format crate's own suite (.ci/miri.sh):
#   1. tessera-reference's unit tests (--lib; the integration tests are too slow under Miri);
#   2. the reader on every hostile seed, with the fuzz target's checks (tests/tests/miri_reader.rs);
#   3. the AVX2 kernels against the reference on every encoding, with AVX2/FMA/F16C enabled at
#      build time so Miri's feature detection reports them (tests/tests/miri_kernels.rs). Miri
#      runs these intrinsics except _mm256_cvtph_ps, so that test skips raw f16 under Miri.
# Self-contained: installs the nightly toolchain and the Miri component if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
rustup component add miri rust-src --toolchain nightly
cargo +nightly miri setup

base="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
step() { echo; echo "--- miri: $* ($(date +%H:%M:%S))"; }

step "tessera-reference --lib"
# Skipped: three quantizer-search tests (minutes each under Miri; their arithmetic is also run by
# the other tests) and fp::tests::powers_of_two_are_exact, whose expected value 2f32.powi(-133)
# has unspecified precision (std docs) and is 0.0 under Miri (the function under test is right).
CARGO_TARGET_DIR="$base/miri" cargo +nightly miri test -p tessera-reference --lib -- \
  --skip fp::tests::powers_of_two_are_exact \
  --skip mx::tests::searched_scale_beats_the_floor_rule \
  --skip quantizer::tests::search_is_never_worse_than_absmax \
  --skip quantizer::tests::exact_walk_never_loses_to_a_dense_grid

step "reader on the hostile seeds"
# Without the converter (not needed here; saves building its dependencies under Miri).
CARGO_TARGET_DIR="$base/miri" cargo +nightly miri test -p tessera-tests --no-default-features \
  --features kernels --test miri_reader

step "AVX2 kernels vs reference"
# Different RUSTFLAGS: a target dir of its own so the two builds do not rebuild each other.
if [ "$(uname -m)" = x86_64 ]; then
  RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c" CARGO_TARGET_DIR="$base/miri-avx2" \
    cargo +nightly miri test -p tessera-tests --no-default-features --features kernels \
    --test miri_kernels
else
  echo "not x86_64: skipped"
fi

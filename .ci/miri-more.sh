#!/usr/bin/env bash
# Miri (undefined-behaviour checker) beyond the format crate's own suite (.ci/miri.sh):
#   1. a subset of tessera-reference's unit tests (the rest is too slow under Miri; see below);
#   2. the reader on every hostile seed, with the fuzz target's checks (tests/tests/miri_reader.rs);
#   3. the AVX2 kernels against the reference on every encoding, with AVX2/FMA/F16C enabled at
#      build time so Miri's feature detection reports them (tests/tests/miri_kernels.rs). Miri
#      runs these intrinsics except _mm256_cvtph_ps, so that test skips raw f16 under Miri.
# Self-contained: installs the nightly toolchain and the Miri component if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

source .ci/nightly-miri.sh

base="$(realpath -m "${CARGO_TARGET_DIR:-target}")"
step() { echo; echo "--- miri: $* ($(date +%H:%M:%S))"; }

step "tessera-reference --lib (subset)"
# A chosen subset (the whole --lib takes > 15 min under Miri): decoding, bit planes, activation
# quantization, sub-scales and element tables. Left out: the quantizer-search tests (minutes
# each) and the tests whose expected values come from f32/f64::powi (fp::tests::
# powers_of_two_are_exact, mx_elements::tests::fp8_match_ocp_values): powi's precision is
# unspecified and Miri's differs (2f32.powi(-133) is 0.0 there), so they fail under Miri only.
CARGO_TARGET_DIR="$base/miri" cargo +nightly miri test -p tessera-reference --lib -- \
  activations:: int_affine:: int_super:: planes:: mx::tests::zero_group_is_canonical \
  mx_elements::tests::e2m1 mx_elements::tests::e2m3 mx_elements::tests::int8 \
  mx_elements::tests::encode_rounds

# The tests crate's checks call rayon (verify, dequantize), whose crossbeam-epoch breaks Stacked
# Borrows (a known third-party issue); Tree Borrows, Miri's newer aliasing model, accepts it.
# rayon's global pool threads outlive main: -Zmiri-ignore-leaks.
export MIRIFLAGS="${MIRIFLAGS:-} -Zmiri-tree-borrows -Zmiri-ignore-leaks"

step "reader on the hostile seeds"
# Without the converter (not needed here; saves building its dependencies under Miri).
CARGO_TARGET_DIR="$base/miri" cargo +nightly miri test -p tessera-tests --no-default-features \
  --features kernels --test miri_reader

step "AVX2 kernels vs reference"
# Different RUSTFLAGS: a target dir of its own so the two builds do not rebuild each other.
# One Miri process per part of the encodings (see tests/tests/miri_kernels.rs: Miri slows down
# as one process runs on).
if [ "$(uname -m)" = x86_64 ]; then
  parts=$(grep -c '^fn encodings_part_[0-9]*()' tests/tests/miri_kernels.rs)
  for ((part = 0; part < parts; part++)); do
    step "AVX2 kernels vs reference, part $part of $parts"
    RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c" CARGO_TARGET_DIR="$base/miri-avx2" \
      cargo +nightly miri test -p tessera-tests --no-default-features --features kernels \
      --test miri_kernels -- --exact "encodings_part_$part"
  done
  step "AVX2 kernels vs reference, whole dense gemv tiles"
  RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c" CARGO_TARGET_DIR="$base/miri-avx2" \
    cargo +nightly miri test -p tessera-tests --no-default-features --features kernels \
    --test miri_kernels -- --exact dense_gemv_tiles
  step "AVX2 kernels vs reference, register-blocked integer gemm"
  RUSTFLAGS="-C target-feature=+avx2,+fma,+f16c" CARGO_TARGET_DIR="$base/miri-avx2" \
    cargo +nightly miri test -p tessera-tests --no-default-features --features kernels \
    --test miri_kernels -- --exact int_gemm_register_blocks
else
  echo "not x86_64: skipped"
fi

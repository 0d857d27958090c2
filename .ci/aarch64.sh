#!/usr/bin/env bash
# aarch64 suite: cross-compile the workspace tests and run them under qemu-user on a CPU with
# dotprod and i8mm (-cpu max); then the kernel tests once per forced tier (TESSERA_ISA) on a CPU
# that has it, the baseline NEON and scalar tiers on one without dotprod (cortex-a53), so every
# NEON tier really runs.
#
# Time budget (2 cores): one release build of the workspace tests (~4 min on an idle machine),
# then qemu runs of a few minutes in all. Kept small by: release mode; PROPTEST_CASES=64 for
# property tests that use proptest's default case count (the kernels' bit-exact proptest fixes its
# own count and takes ~10-20 s under qemu); and skipping the tests of reference/tests/minilm.rs
# that measure quantization error on the real MiniLM checkpoint (minutes under emulation; the
# arithmetic is the same as on the host, and they skip themselves where the model is absent).
#
# The converter's CLI tests start the aarch64 `tessera` binary as a child process. That needs the
# kernel's binfmt_misc to hand aarch64 executables to qemu (package qemu-user-binfmt). Where it is
# not available (e.g. inside a container without binfmt_misc) those tests are skipped, saying so.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
dpkg -s qemu-user-binfmt >/dev/null 2>&1 || need_apt+=(qemu-user-binfmt)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi
rustup target add aarch64-unknown-linux-gnu

target=aarch64-unknown-linux-gnu
export PROPTEST_CASES=${PROPTEST_CASES:-64}
# For aarch64 children started through binfmt_misc: where the target's libraries live.
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
skip=(--skip layer0_intermediate_against_ggml --skip two_bit_groups_of_32_cannot_reach_q2_k
  --skip fast_effort_against_best_and_ggml)

# The tiers each emulated CPU model must report (checked by kernels/tests/aarch64_tiers.rs, so a
# silently missing feature cannot turn the tier runs below into scalar runs).
tiers_of() {
  case $1 in
    max) echo scalar,neon,neondotprod,neoni8mm ;;
    cortex-a53) echo scalar,neon ;;
  esac
}

# Release mode: qemu is slow, and optimized code is what ships.
cargo test --workspace --release --target "$target" --no-run
cargo build --release --target "$target" -p tessera-convert --bin tessera

# Can this machine execute an aarch64 binary directly (binfmt_misc -> qemu)?
bin_dir="${CARGO_TARGET_DIR:-target}/$target/release"
packages=(--workspace)
if "$bin_dir/tessera" --help >/dev/null 2>&1; then
  echo "--- binfmt_misc runs aarch64 executables: the converter's CLI tests run too"
else
  echo "--- SKIPPED under qemu: tessera-convert --test cli (this machine cannot exec aarch64" \
    "binaries; needs binfmt_misc with qemu-user-binfmt). Every other converter test runs."
  packages=(--workspace --exclude tessera-convert)
  convert_tests=()
  for t in convert/tests/*.rs; do
    name=$(basename "$t" .rs)
    [ "$name" = cli ] || convert_tests+=(--test "$name")
  done
fi

# The whole workspace once, on the CPU with every extension. On cortex-a53 only the kernels
# differ (no dotprod: the auto-selected tier is neon), and the forced-tier runs below cover them
# there; a second workspace pass cost minutes of emulation for nothing else (CI has 90 minutes
# on 2 cores, and a Zen 1 VM needs most of them).
echo "--- workspace tests under qemu -cpu max"
(
  export TESSERA_QEMU_CPU=max QEMU_CPU=max TESSERA_EXPECT_ISAS=$(tiers_of max)
  cargo test "${packages[@]}" --release --target "$target" --no-fail-fast -- "${skip[@]}"
  if [ "${packages[*]}" != --workspace ]; then
    cargo test -p tessera-convert --release --target "$target" --no-fail-fast \
      --lib --bins "${convert_tests[@]}" -- "${skip[@]}"
  fi
)

# Each NEON tier forced, on the CPU model that has it (neon also on cortex-a53, without dotprod).
for run in max:neondotprod max:neoni8mm cortex-a53:neon cortex-a53:scalar; do
  cpu=${run%%:*} tier=${run#*:}
  echo "--- tessera-kernels with TESSERA_ISA=$tier under qemu -cpu $cpu"
  TESSERA_QEMU_CPU=$cpu QEMU_CPU=$cpu TESSERA_EXPECT_ISAS=$(tiers_of $cpu) TESSERA_ISA=$tier \
    cargo test --release --target "$target" -p tessera-kernels
done

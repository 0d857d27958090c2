#!/usr/bin/env bash
# aarch64 suite: cross-compile the workspace tests and run them under qemu-user, once on a CPU with
# dotprod and i8mm (-cpu max) and once on one without (cortex-a53), so every NEON tier really runs;
# then the kernel tests once per forced tier (TESSERA_ISA) on a CPU that has it.
#
# Time budget (2 cores): one release build of the workspace tests (~4 min), then qemu runs of a few
# minutes in all. Kept small by: release mode; PROPTEST_CASES=64 for property tests that use
# proptest's default case count (the kernels' bit-exact proptest fixes its own count, 160, and takes
# ~10 s under qemu); and skipping the two tests that only measure quantization error on real or
# multi-GB checkpoints (`layer0_intermediate_against_ggml`: float-for-float the same computation as
# on x86, minutes under emulation; `big` is already #[ignore]d).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v aarch64-linux-gnu-gcc >/dev/null || need_apt+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
if [ ${#need_apt[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}"
fi
rustup target add aarch64-unknown-linux-gnu

target=aarch64-unknown-linux-gnu
export PROPTEST_CASES=${PROPTEST_CASES:-64}
skip=(--skip layer0_intermediate_against_ggml)

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
for cpu in max cortex-a53; do
  echo "--- workspace tests under qemu -cpu $cpu"
  TESSERA_QEMU_CPU=$cpu TESSERA_EXPECT_ISAS=$(tiers_of $cpu) \
    cargo test --workspace --release --target "$target" -- "${skip[@]}"
done

# Each NEON tier forced, on the CPU model that has it (neon also on cortex-a53, without dotprod).
for run in max:neondotprod max:neoni8mm cortex-a53:neon cortex-a53:scalar; do
  cpu=${run%%:*} tier=${run#*:}
  echo "--- tessera-kernels with TESSERA_ISA=$tier under qemu -cpu $cpu"
  TESSERA_QEMU_CPU=$cpu TESSERA_EXPECT_ISAS=$(tiers_of $cpu) TESSERA_ISA=$tier \
    cargo test --release --target "$target" -p tessera-kernels
done

#!/usr/bin/env bash
# aarch64 suite: cross-compile the workspace tests and run them under qemu-user, once on a CPU with
# dotprod and i8mm (-cpu max) and once on one without (cortex-a53), so every NEON tier really runs.
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
# Release mode: qemu is slow, and optimized code is what ships.
for cpu in max cortex-a53; do
  echo "--- workspace tests under qemu -cpu $cpu"
  TESSERA_QEMU_CPU=$cpu cargo test --workspace --release --target "$target"
done

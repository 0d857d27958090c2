#!/usr/bin/env bash
# aarch64 suite: cross-compile the workspace tests and run them under qemu-user on a CPU with
# dotprod and i8mm (-cpu max); then the kernel tests once per forced tier (TESSERA_ISA) on a CPU
# that has it, the baseline NEON and scalar tiers on one without dotprod (cortex-a53), so every
# NEON tier really runs.
#
# Time budget (2 cores): one release build of the workspace tests, then qemu runs of a few minutes
# in all (the whole suite, packages installed, took 6 min on a 2-core Zen 4 on 2026-12-05, and
# the converter's CLI tests add about 1.5 min). Kept small by: release mode; PROPTEST_CASES=64 for
# property tests that use proptest's default case count (the kernels' bit-exact proptest fixes its
# own count and takes ~10-20 s under qemu); and skipping the tests of reference/tests/minilm.rs
# that measure quantization error on the real MiniLM checkpoint (minutes under emulation; the
# arithmetic is the same as on the host, and they skip themselves where the model is absent).
#
# The converter's CLI tests start the aarch64 `tessera` binary as a child process. That needs the
# kernel's binfmt_misc to hand aarch64 executables to qemu (package qemu-user-binfmt; the script
# mounts and registers it when it may). Where it is not available (e.g. inside a container) those
# tests are skipped, saying so.
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

# Let the kernel hand aarch64 executables to qemu (binfmt_misc), so the converter's CLI tests can
# start the aarch64 `tessera` binary. Best effort: a container may not allow the mount.
binfmt=/proc/sys/fs/binfmt_misc
if [ ! -e "$binfmt/qemu-aarch64" ] && [ -f /usr/lib/binfmt.d/qemu-aarch64.conf ]; then
  [ -e "$binfmt/register" ] || mount -t binfmt_misc binfmt_misc "$binfmt" 2>/dev/null || true
  if [ -w "$binfmt/register" ]; then
    cat /usr/lib/binfmt.d/qemu-aarch64.conf >"$binfmt/register" 2>/dev/null || true
  fi
fi

target=aarch64-unknown-linux-gnu
export PROPTEST_CASES=${PROPTEST_CASES:-64}
# For aarch64 children started through binfmt_misc: where the target's libraries live.
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu
# Skipped under emulation: the MiniLM error measurements (see above) and the converter's `tessera
# demo` test (it times kernels: 230 s under qemu, where timings mean nothing).
skip=(--skip layer0_intermediate_against_ggml --skip two_bit_groups_of_32_cannot_reach_q2_k
  --skip fast_effort_against_best_and_ggml --skip demo_prints_its_table)

# The tiers each emulated CPU model must report (checked by kernels/tests/aarch64_tiers.rs, so a
# silently missing feature cannot turn the tier runs below into scalar runs).
tiers_of() {
  case $1 in
    max) echo scalar,neon,neondotprod,neoni8mm ;;
    cortex-a53) echo scalar,neon ;;
  esac
}

# Release mode: qemu is slow, and optimized code is what ships. One build: every run below starts
# the executables it made (.ci/lib/test-executables.py says why: `cargo test -p one-package` would
# rebuild the dependency chain with that package's own features, ~15 min each on a 2-core Zen 1).
mapfile -t exes < <(cargo test --workspace --release --target "$target" --no-run \
  --message-format=json-render-diagnostics | python3 .ci/lib/test-executables.py)
if [ ${#exes[@]} -lt 5 ]; then
  echo "expected the workspace's test executables, found: ${exes[*]:-none}" >&2
  exit 1
fi
runner="$PWD/.ci/qemu-aarch64.sh"
bin_dir="$(realpath -m "${CARGO_TARGET_DIR:-target}")/$target/release"

# Can this machine execute an aarch64 binary directly (binfmt_misc -> qemu)? The converter's CLI
# tests start the `tessera` binary (the test build makes it) as a child process.
can_exec=0
if "$bin_dir/tessera" --help >/dev/null 2>&1; then
  can_exec=1
  echo "--- binfmt_misc runs aarch64 executables: the converter's CLI tests run too"
else
  echo "--- SKIPPED under qemu: tessera-convert --test cli (this machine cannot exec aarch64" \
    "binaries; needs binfmt_misc with qemu-user-binfmt). Every other converter test runs."
fi

failed=()
# run_tests PACKAGE CPU [TIER]: the test executables of PACKAGE (all: "") under qemu -cpu CPU,
# each from its package directory as `cargo test` runs them, TESSERA_ISA=TIER if given.
run_tests() {
  local only=$1 cpu=$2 tier=${3:-} line pkg name dir exe
  for line in "${exes[@]}"; do
    IFS=$'\t' read -r pkg name dir exe <<<"$line"
    if [ -n "$only" ] && [ "$pkg" != "$only" ]; then continue; fi
    if [ "$pkg/$name" = tessera-convert/cli ] && [ "$can_exec" = 0 ]; then continue; fi
    echo "--- $pkg: $name under qemu -cpu $cpu${tier:+, TESSERA_ISA=$tier}"
    local env=(TESSERA_QEMU_CPU="$cpu" QEMU_CPU="$cpu" TESSERA_EXPECT_ISAS="$(tiers_of "$cpu")")
    [ -z "$tier" ] || env+=(TESSERA_ISA="$tier")
    if ! (cd "$dir" && env "${env[@]}" "$runner" "$exe" "${skip[@]}"); then
      failed+=("$pkg $name (-cpu $cpu${tier:+, $tier})")
    fi
  done
}

# The whole workspace once, on the CPU with every extension. On cortex-a53 only the kernels
# differ (no dotprod: the auto-selected tier is neon), and the forced-tier runs below cover them
# there; a second workspace pass cost minutes of emulation for nothing else (CI has 90 minutes
# on 2 cores, and a Zen 1 VM needs most of them).
run_tests "" max

# Each NEON tier forced, on the CPU model that has it (neon also on cortex-a53, without dotprod).
for run in max:neondotprod max:neoni8mm cortex-a53:neon cortex-a53:scalar; do
  run_tests tessera-kernels "${run%%:*}" "${run#*:}"
done

if [ ${#failed[@]} -gt 0 ]; then
  printf 'failed under qemu: %s\n' "${failed[@]}" >&2
  exit 1
fi
echo "aarch64: every test executable passed under qemu"

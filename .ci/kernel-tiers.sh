#!/usr/bin/env bash
# Runs the kernel test suite once per forced tier (TESSERA_ISA), skipping tiers this CPU lacks.
# Each run compares that tier bit for bit with the scalar reference.
#
# The test executables are the ones the README's `cargo test --workspace --release` built (listed
# by a `--no-run` of the same command, which builds nothing new; .ci/lib/test-executables.py says
# why not `cargo test -p tessera-kernels`).
set -euo pipefail
cd "$(dirname "$0")/.."

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }

mapfile -t tests < <(cargo test --workspace --release --no-run --message-format=json-render-diagnostics |
  python3 .ci/lib/test-executables.py tessera-kernels | cut -f4)
if [ ${#tests[@]} -lt 3 ]; then
  echo "expected the kernels' unit and integration test executables, found: ${tests[*]:-none}" >&2
  exit 1
fi

for tier in scalar avx2 avx512 avx512vnni avx512amx; do
  case $tier in
    scalar) ok=1 ;;
    avx2) has avx2 fma f16c && ok=1 || ok=0 ;;
    avx512) has avx2 fma f16c avx512f avx512bw avx512vl avx512dq && ok=1 || ok=0 ;;
    avx512vnni) has avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512_vnni && ok=1 || ok=0 ;;
    # AMX also needs Linux to grant the tile state (the library asks): where the flags show AMX
    # but Linux refuses, this run fails (naming the tier) rather than skipping it silently.
    avx512amx) has avx512_vnni amx_tile amx_int8 && ok=1 || ok=0 ;;
  esac
  if [ "$ok" = 1 ]; then
    echo "--- tessera-kernels with TESSERA_ISA=$tier"
    for t in "${tests[@]}"; do
      # From the package's folder, as `cargo test` runs them.
      (cd kernels && TESSERA_ISA=$tier "$t")
    done
  else
    echo "--- skipping TESSERA_ISA=$tier: this CPU lacks it"
  fi
done

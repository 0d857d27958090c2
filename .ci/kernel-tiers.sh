#!/usr/bin/env bash
# Runs the kernel test suite once per forced tier (TESSERA_ISA), skipping tiers this CPU lacks.
# Each run compares that tier bit for bit with the scalar reference.
set -euo pipefail
cd "$(dirname "$0")/.."

flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null || true)
has() { for f in "$@"; do [[ " $flags " == *" $f "* ]] || return 1; done; }

for tier in scalar avx2 avx512 avx512vnni; do
  case $tier in
    scalar) ok=1 ;;
    avx2) has avx2 fma f16c && ok=1 || ok=0 ;;
    avx512) has avx2 fma f16c avx512f avx512bw avx512vl avx512dq && ok=1 || ok=0 ;;
    avx512vnni) has avx2 fma f16c avx512f avx512bw avx512vl avx512dq avx512_vnni && ok=1 || ok=0 ;;
  esac
  if [ "$ok" = 1 ]; then
    echo "--- tessera-kernels with TESSERA_ISA=$tier"
    TESSERA_ISA=$tier cargo test --release -p tessera-kernels
  else
    echo "--- skipping TESSERA_ISA=$tier: this CPU lacks it"
  fi
done

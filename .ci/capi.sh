#!/usr/bin/env bash
# The C ABI suite:
#   1. include/tessera.h must equal what cbindgen generates now (fails when stale);
#   2. the staticlib and cdylib build in release;
#   3. every examples/c/*.c compiles with the system cc (-std=c11 -Wall -Wextra -Werror) against
#      the staticlib, and the header also parses as C++;
#   4. examples/c/gemv.c, run on a .tsr written by the Rust helper (make_example_tsr), prints the
#      same bits as the Rust kernels API (diffed line by line), linked statically, dynamically,
#      and under ASan + UBSan; the shared library exports exactly the header's functions.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "--- header is up to date"
# Pinned: another cbindgen version may format the header differently.
cbindgen_version=0.29.4
cbindgen=cbindgen
if [ "$(cbindgen --version 2>/dev/null)" != "cbindgen $cbindgen_version" ]; then
  root="$target/tools/cbindgen-$cbindgen_version"
  if [ ! -x "$root/bin/cbindgen" ]; then
    cargo install cbindgen --version "$cbindgen_version" --locked --root "$root"
  fi
  cbindgen="$root/bin/cbindgen"
fi
"$cbindgen" --quiet --config kernels/capi/cbindgen.toml --crate tessera-capi --output "$work/tessera.h"
if ! diff -u include/tessera.h "$work/tessera.h"; then
  echo "include/tessera.h is stale: regenerate it with" >&2
  echo "  cbindgen --config kernels/capi/cbindgen.toml --crate tessera-capi --output include/tessera.h" >&2
  exit 1
fi
if command -v c++ >/dev/null; then
  c++ -std=c++17 -Wall -Wextra -Werror -fsyntax-only -x c++ include/tessera.h
fi

echo "--- build the libraries"
# The libraries and the example as the README's `cargo test --workspace --release` built them (a
# `--no-run` of it builds nothing new when that ran first): `cargo build -p tessera-capi` resolves
# dependency features for that package alone and rebuilds the whole chain (about 15 minutes on
# a 2-core Zen 1, out of CI's 90). Same crate, same release profile.
cargo test --workspace --release --no-run
lib="$target/release/deps"
test -f "$lib/libtessera_capi.a"
test -f "$lib/libtessera_capi.so"
# The shared library exports exactly the functions the header declares.
grep -o '\btessera_[a-z_]*(' include/tessera.h | tr -d '(' | sort -u >"$work/declared.txt"
nm -D --defined-only "$lib/libtessera_capi.so" | awk '$2 == "T" { print $3 }' | sort -u \
  >"$work/exported.txt"
diff -u "$work/declared.txt" "$work/exported.txt"

echo "--- compile the C examples"
for src in examples/c/*.c; do
  name=$(basename "$src" .c)
  cc -std=c11 -Wall -Wextra -Werror -Iinclude "$src" "$lib/libtessera_capi.a" \
    -lpthread -ldl -lm -o "$work/$name"
  cc -std=c11 -Wall -Wextra -Werror -Iinclude "$src" -L"$lib" -ltessera_capi \
    -lpthread -ldl -lm -o "$work/$name-shared"
done

echo "--- run examples/c/gemv.c and compare with the Rust API, bit for bit"
"$target/release/examples/make_example_tsr" \
  "$work/example.tsr" "$work/expected.txt"
"$work/gemv" "$work/example.tsr" >"$work/static.txt"
diff -u "$work/expected.txt" "$work/static.txt"
LD_LIBRARY_PATH="$lib" "$work/gemv-shared" "$work/example.tsr" >"$work/shared.txt"
diff -u "$work/expected.txt" "$work/shared.txt"
# The tier from the environment: the reference tier gives the same bits; a bad name is an error
# (TESSERA_STATUS_ISA with the library's message), never a silent fallback.
TESSERA_ISA=scalar "$work/gemv" "$work/example.tsr" >"$work/scalar.txt"
diff -u "$work/expected.txt" "$work/scalar.txt"
if TESSERA_ISA=bogus "$work/gemv" "$work/example.tsr" >/dev/null 2>"$work/bogus.txt"; then
  echo "TESSERA_ISA=bogus was accepted" >&2
  exit 1
fi
grep -q "TESSERA_STATUS_ISA: TESSERA_ISA=bogus is not a known tier" "$work/bogus.txt" \
  || { cat "$work/bogus.txt" >&2; exit 1; }
# Once more under AddressSanitizer + UndefinedBehaviorSanitizer (leaks included), where cc has them.
if echo 'int main(void){return 0;}' | cc -x c -fsanitize=address,undefined - -o "$work/probe" 2>/dev/null; then
  cc -std=c11 -Wall -Wextra -Werror -g -fsanitize=address,undefined -fno-omit-frame-pointer \
    -Iinclude examples/c/gemv.c "$lib/libtessera_capi.a" -lpthread -ldl -lm -o "$work/gemv-asan"
  ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=halt_on_error=1 \
    "$work/gemv-asan" "$work/example.tsr" >"$work/asan.txt"
  diff -u "$work/expected.txt" "$work/asan.txt"
else
  echo "(cc has no AddressSanitizer here: sanitizer run skipped)"
fi
echo "C output matches the Rust API: $(wc -l <"$work/expected.txt") lines, $(grep -o ' [0-9a-f]\{8\}' "$work/expected.txt" | wc -l) f32 values"

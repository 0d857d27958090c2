#!/usr/bin/env python3
"""Lists the test executables in `cargo test --no-run --message-format=json...` output (stdin).

One line per executable: package name, target name, package directory, executable path, separated
by tabs. With a package name as argument, only that package's executables.

Why: the suites run the executables the workspace build made, with the package directory as the
working directory (as `cargo test` does). `cargo test -p <one package>` would resolve dependency
features for that package alone, and a different feature set rebuilds the whole dependency chain
(about 15 minutes per rebuild on a 2-core Zen 1, out of CI's 90).
"""
import json
import os
import sys

only = sys.argv[1] if len(sys.argv) > 1 else None
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") != "compiler-artifact" or not m["profile"]["test"]:
        continue
    exe = m.get("executable")
    if not exe:
        continue
    # package_id: "path+file:///work/main/kernels#tessera-kernels@0.1.0", or, when the directory
    # is named like the package, "path+file:///work/main/tessera-x#0.1.0".
    url, _, fragment = m["package_id"].rpartition("#")
    pkg = fragment.split("@")[0] if "@" in fragment else url.rstrip("/").rsplit("/", 1)[-1]
    if only is not None and pkg != only:
        continue
    pkg_dir = os.path.dirname(m["manifest_path"])
    print("\t".join([pkg, m["target"]["name"], pkg_dir, exe]))

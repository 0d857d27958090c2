#!/usr/bin/env bash
# Cargo runner for aarch64 test binaries: qemu-user with the CPU model named by TESSERA_QEMU_CPU.
exec qemu-aarch64 -L /usr/aarch64-linux-gnu -cpu "${TESSERA_QEMU_CPU:-max}" "$@"

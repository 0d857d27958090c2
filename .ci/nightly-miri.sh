# Sourced by the Miri suites: installs the nightly toolchain and the Miri component if they are
# missing, then builds Miri's sysroot.
if ! rustup toolchain list | grep -q '^nightly'; then
  rustup toolchain install nightly --profile minimal
fi
rustup component add miri rust-src --toolchain nightly
cargo +nightly miri setup

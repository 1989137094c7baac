#!/usr/bin/env bash
# Runs every test of the project on a fresh machine: installs the toolchains
# (idempotent), rebuilds every example and guest program from source, then
# the Rust test suite (unit tests and end-to-end tests through the `qyv`
# binary). The README names this script; CI calls it.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

bash scripts/install-toolchains.sh
bash examples/build.sh
cargo test --workspace --locked "$@"

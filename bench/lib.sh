# Shared by the benchmark scripts (sourced). Builds what they measure into
# bench/build/ (not committed) and finds the peers they compare against.
bench_root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo_root="$(cd "$bench_root/.." && pwd)"
build_dir="$bench_root/build"
mkdir -p "$build_dir"
# shellcheck source=../scripts/toolchain-env.sh
source "$repo_root/scripts/toolchain-env.sh"

# The release `qyv`, built as a user installs it.
build_qyv() {
    (cd "$repo_root" && cargo build --release --locked -p qyv >&2)
    QYV="$repo_root/target/release/qyv"
}

# bench/build/python-hello.wasm: a CPython component (componentize-py)
# printing one line. Rebuilt only when its source changes.
build_python_hello() {
    local src="$bench_root/apps/python-hello" out="$build_dir/python-hello.wasm" wit="$build_dir/python-hello-wit"
    if [ -f "$out" ] && [ "$out" -nt "$src/app.py" ] && [ "$out" -nt "$src/wit/world.wit" ]; then
        PYTHON_HELLO="$out"
        return
    fi
    command -v componentize-py >/dev/null || { echo "componentize-py missing: run scripts/install-toolchains.sh" >&2; return 1; }
    rm -rf "$wit" && mkdir -p "$wit/deps"
    cp "$src/wit/world.wit" "$wit/"
    cp "$(wasi_wit_deps)"/*.wit "$wit/deps/"
    (cd "$src" && RUST_BACKTRACE=0 componentize-py -d "$wit" -w hello componentize app -o "$out" >&2)
    PYTHON_HELLO="$out"
}

machine_description() {
    printf '%s, %s cores, %s GiB RAM, %s' \
        "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" \
        "$(nproc)" \
        "$(awk '/MemTotal/ {printf "%d", $2/1048576}' /proc/meminfo)" \
        "$(. /etc/os-release && echo "$PRETTY_NAME")"
}

# write_doc_section NAME SECTION: SECTION (which starts with
# <!-- NAME:begin --> and ends with <!-- NAME:end -->) takes the place of that
# section in docs/benchmarks.md, or goes at its end.
write_doc_section() {
    "${QYV_PYTHON:-python3}" - "$repo_root/docs/benchmarks.md" "$1" "$2" <<'PY'
import pathlib, sys

path, name, section = pathlib.Path(sys.argv[1]), sys.argv[2], sys.argv[3]
begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
text = path.read_text()
if begin in text:
    head, rest = text.split(begin, 1)
    text = head + section + rest.split(end, 1)[1]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
path.write_text(text)
PY
}

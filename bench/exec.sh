#!/usr/bin/env bash
# Starting children (permissions.exec): a parent (examples/exec-c) starts
# hello-c 1,000 times, one after another, each a fresh instance waited for;
# the cost of one child is (parent with 1,000 children - parent with none)
# / 1,000. Beside it, `wasmtime run` of the same hello-c: what starting it
# as a host process costs. hyperfine, caches warm; written into
# docs/benchmarks.md (between the exec markers).
#
#   bench/exec.sh                       # builds the release qyv, measures
#   QYV=target/debug/qyv bench/exec.sh  # measures this qyv instead (says so)
#   RUNS=20 bench/exec.sh               # more runs per case
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

RUNS="${RUNS:-10}"
CHILDREN=1000
[ -x "${WASMTIME:-}" ] || { echo "wasmtime CLI not found: run scripts/install-toolchains.sh" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine not found: run scripts/install-toolchains.sh" >&2; exit 1; }
if [ -n "${QYV:-}" ]; then
    QYV="$(cd "$(dirname "$QYV")" && pwd)/$(basename "$QYV")"
    build_kind="the given binary $(basename "$(dirname "$QYV")")/$(basename "$QYV")"
else
    build_qyv
    build_kind="release build"
fi

results="$build_dir/exec"
rm -rf "$results" && mkdir -p "$results/app"
export QYVOL_CACHE_DIR="$results/qyv-cache"
cp "$repo_root/examples/exec-c/exec.wasm" "$repo_root/examples/hello-c/hello.wasm" "$results/app/"
cat >"$results/app/parent.qyv" <<'QYV'
name: parent
entrypoint: exec.wasm
permissions:
  fs: read
  exec: [/hello.wasm]
QYV
printf '[cache]\ndirectory = "%s"\n' "$results/wasmtime-cache" >"$results/wasmtime-cache.toml"
wasmtime_run=("$WASMTIME" run -C cache=y -C "cache-config=$results/wasmtime-cache.toml")

load_before="$(cut -d" " -f1-3 /proc/loadavg)"
# Warm both caches (and check that it works).
"$QYV" run "$results/app/parent.qyv" -- many 2 /hello.wasm >/dev/null
"${wasmtime_run[@]}" "$results/app/hello.wasm" >/dev/null
hyperfine --shell=none --warmup 2 --runs "$RUNS" --style basic \
    --export-json "$results/qyv.json" \
    --command-name none "$QYV run $results/app/parent.qyv -- many 0 /hello.wasm" \
    --command-name children "$QYV run $results/app/parent.qyv -- many $CHILDREN /hello.wasm" >&2
hyperfine --shell=none --warmup 5 --runs $((RUNS * 5)) --style basic \
    --export-json "$results/wasmtime.json" \
    --command-name wasmtime "${wasmtime_run[*]} $results/app/hello.wasm" >&2

section="$("${QYV_PYTHON:-python3}" - "$results" "$CHILDREN" "$(machine_description)" \
    "$("$QYV" --version)" "$("$WASMTIME" --version)" "$(git -C "$repo_root" rev-parse --short HEAD)" \
    "$load_before" "$build_kind" <<'PY'
import json, pathlib, sys
results, n, machine, qyv, wasmtime, commit, load, kind = sys.argv[1:]
results, n = pathlib.Path(results), int(n)
def median(path, name):
    for r in json.loads(path.read_text())["results"]:
        if r["command"] == name:
            return r["median"] * 1000
none = median(results / "qyv.json", "none")
children = median(results / "qyv.json", "children")
wt = median(results / "wasmtime.json", "wasmtime")
per = (children - none) / n
print(f"""<!-- exec:begin -->
## Starting children (bench/exec.sh)

Command: `bench/exec.sh` (hyperfine medians, caches warm). A parent
(`examples/exec-c`, `many N /hello.wasm`) starts hello-c {n:,} times, one
after another (start, wait, release; output dropped). Machine: {machine};
load before: {load}. `{qyv}` ({kind}), {wasmtime}, commit {commit}.

| case | median |
|---|---|
| parent starting no child | {none:.1f} ms |
| parent starting {n:,} children | {children:.1f} ms |
| **one child** ((second - first) / {n:,}) | **{per * 1000:.0f} µs** (target ≤ 1 ms) |
| `wasmtime run hello.wasm` (a host process per start) | {wt:.1f} ms |
<!-- exec:end -->""")
PY
)"
write_doc_section exec "$section"
echo "$section"

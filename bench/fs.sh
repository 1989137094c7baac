#!/usr/bin/env bash
# Small-file work on a memfs mount against a host folder (dir mount), and
# `wasmtime run --dir` of the same program: examples/memfs/memfs-c.wasm
# (C, WASI preview 1) creates and writes N files of 100 bytes, reads each
# back, and removes them, timing each phase inside the program; hyperfine
# times the whole run (start-up included).
#
#   bench/fs.sh [N] [RUNS]      N files (default 10000), RUNS runs (default 10)
#
# QYV=path/to/qyv measures that binary instead of building the release one
# (the section then says which). Writes its Markdown section into
# docs/benchmarks.md between the fs markers.
set -euo pipefail
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

n="${1:-10000}"
runs="${2:-10}"
die() { printf 'bench/fs.sh: %s\n' "$*" >&2; exit 1; }
command -v hyperfine >/dev/null || die "hyperfine not found: run scripts/install-toolchains.sh"
[ -n "$WASMTIME" ] || die "wasmtime CLI not found: run scripts/install-toolchains.sh"
if [ -n "${QYV:-}" ]; then
    build="the $(basename "$(dirname "$QYV")") build given in QYV"
else
    build_qyv
    build="release"
fi

work="$build_dir/fs"
rm -rf "$work" && mkdir -p "$work/scratch"
cp "$repo_root/examples/memfs/memfs-c.wasm" "$work/"
export QYVOL_CACHE_DIR="$work/cache"
cat >"$work/memfs.qyv" <<EOF
name: fs-memfs
entrypoint: memfs-c.wasm
permissions: { fs: write }
fs:
  - { type: memfs, target: /tmp, size: 64MiB, mode: write }
EOF
cat >"$work/dir.qyv" <<EOF
name: fs-dir
entrypoint: memfs-c.wasm
permissions: { fs: write }
fs:
  - { source: ./scratch, target: /tmp, mode: write }
EOF
memfs=("$QYV" run "$work/memfs.qyv" -- bench /tmp "$n")
dir=("$QYV" run "$work/dir.qyv" -- bench /tmp "$n")
wt=("$WASMTIME" run --dir "$work/scratch::/tmp" "$work/memfs-c.wasm" bench /tmp "$n")

# Phases as the program measures them: the median of RUNS runs each.
phases() {
    local i
    for i in $(seq "$runs"); do "$@"; done | "${QYV_PYTHON:-python3}" -c '
import re, statistics, sys
rows = [list(map(float, re.findall(r"([0-9.]+) ms", l))) for l in sys.stdin if "files:" in l]
med = [statistics.median(c) for c in zip(*rows)]
print(" | ".join(f"{m:.0f} ms" for m in med))'
}
"${memfs[@]}" >/dev/null || die "the memfs run failed"
"${dir[@]}" >/dev/null || die "the dir run failed"
p_memfs="$(phases "${memfs[@]}")"
p_dir="$(phases "${dir[@]}")"
p_wt="$(phases "${wt[@]}")"

json="$work/hyperfine.json"
hyperfine -N -w 1 -r "$runs" --export-json "$json" \
    -n "qyv memfs" "${memfs[*]}" -n "qyv dir" "${dir[*]}" -n "wasmtime --dir" "${wt[*]}" >&2
totals="$("${QYV_PYTHON:-python3}" -c '
import json, sys
for r in json.load(open(sys.argv[1]))["results"]:
    print("%.0f" % (r["median"] * 1000))' "$json")"
read -r t_memfs t_dir t_wt <<<"$(echo $totals)"

section="<!-- fs:begin -->
## Small files: memfs against a host folder (bench/fs.sh)

\`bench/fs.sh $n $runs\`, $(date -u +%Y-%m-%d), $(machine_description); qyv: $build.
One C program (examples/memfs/memfs-c.wasm, WASI preview 1) creates and writes $n files of
100 bytes, reads each back and removes them; phases are timed inside the program (medians of
$runs runs), the whole run by hyperfine (start-up included). A memfs runs a preview-1 module
through the command adapter (its compiled code cached like any other).

| case | create+write | read | remove | whole run |
|---|---|---|---|---|
| qyv, memfs at /tmp | $(echo "$p_memfs" | sed 's/ | /|/g; s/|/ | /g') | $t_memfs ms |
| qyv, dir mount at /tmp | $p_dir | $t_dir ms |
| wasmtime run --dir | $p_wt | $t_wt ms |
<!-- fs:end -->"
printf '%s\n' "$section"
write_doc_section fs "$section"

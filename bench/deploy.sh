#!/usr/bin/env bash
# Deploy → running on a node over loopback: `qyv deploy` of a 1 MB bundle (a
# service: the probe guest with 1 MiB of data mounted) to a `qyv daemon` on
# 127.0.0.1, timed from the command's start to its exit, which is when the
# node answers that the new revision runs. Each deploy is a new revision
# (the data differ), so every one is stored, recorded and started; the code
# is compiled once, by the first (warm-up) deploy. Median of RUNS (20).
# Next to it, in the same run: `qyv run` of the same app, to its end. There
# is no wasmtime equivalent of a deploy. Results go into docs/benchmarks.md
# (between the deploy markers).
#
#   bench/deploy.sh              # builds the release qyv, measures
#   QYV=path/to/qyv bench/deploy.sh   # measures that binary, writes nothing
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

RUNS="${RUNS:-20}"
write_doc=1
if [ -n "${QYV:-}" ]; then
    write_doc=0
else
    build_qyv
fi

work="$build_dir/deploy"
rm -rf "$work" && mkdir -p "$work/app/data"
export XDG_CONFIG_HOME="$work/config" QYVOL_CACHE_DIR="$work/cache"
unset QYVOL_NODE QYVOL_TOKEN QYVOL_FINGERPRINT
cp "$repo_root/crates/qyv/tests/guests/probe/probe.wasm" "$work/app/"
cat >"$work/app/app.qyv" <<'EOF'
name: bench-app
entrypoint: probe.wasm
type: service
restart: always
args: [sleep, "3600000"]
permissions: { fs: read }
fs:
  - { source: ./data, target: /data }
EOF
sed -e 's/^type: service$/type: command/' -e '/^restart:/d' -e 's/^args: .*/args: [head, \/data\/blob]/' \
    "$work/app/app.qyv" >"$work/app/run.qyv"

# RUNS + 1 bundles of about 1 MB, each with different data.
for i in $(seq 0 "$RUNS"); do
    head -c 1000000 /dev/urandom >"$work/app/data/blob"
    "$QYV" pack "$work/app/app.qyv" -o "$work/bundle-$i.qyvbin" >/dev/null
done
bundle_size=$(stat -c %s "$work/bundle-0.qyvbin")

"$QYV" daemon --listen 127.0.0.1:0 --data-dir "$work/node" >"$work/daemon.out" 2>"$work/daemon.err" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q '^  connect' "$work/daemon.out" 2>/dev/null && break
    sleep 0.1
done
url="$(sed -n 's/^qyv daemon listening on //p' "$work/daemon.out")"
fingerprint="$(awk '$1 == "fingerprint" {print $2}' "$work/daemon.out")"
[ -n "$url" ] || { cat "$work/daemon.err" >&2; exit 1; }
export QYVOL_NODE="$url" QYVOL_FINGERPRINT="$fingerprint"
QYVOL_TOKEN="$("$QYV" daemon token --data-dir "$work/node")"
export QYVOL_TOKEN

now_ns() { date +%s%N; }
# Warm-up: compiles the code into the node's cache.
"$QYV" deploy "$work/bundle-0.qyvbin" >/dev/null
: >"$work/deploy.ms"
for i in $(seq 1 "$RUNS"); do
    start=$(now_ns)
    "$QYV" deploy "$work/bundle-$i.qyvbin" >"$work/last.out"
    end=$(now_ns)
    grep -q "bench-app is running (revision $((i + 1)))" "$work/last.out" || { cat "$work/last.out" >&2; exit 1; }
    echo $(((end - start) / 1000)) >>"$work/deploy.ms"
done

"$QYV" run "$work/app/run.qyv" >/dev/null
: >"$work/run.ms"
for _ in $(seq 1 "$RUNS"); do
    start=$(now_ns)
    "$QYV" run "$work/app/run.qyv" >/dev/null
    end=$(now_ns)
    echo $(((end - start) / 1000)) >>"$work/run.ms"
done
kill "$daemon" && wait "$daemon" 2>/dev/null || true

section="$("${QYV_PYTHON:-python3}" - "$work" "$bundle_size" \
    "$(machine_description)" "$("$QYV" --version)" "$RUNS" "$(cat /proc/loadavg | cut -d' ' -f1-3)" <<'PY'
import pathlib, statistics, sys

work, size, machine, version, runs, load = sys.argv[1:]
work = pathlib.Path(work)
def stats(name):
    us = [int(l) for l in (work / name).read_text().split()]
    return statistics.median(us) / 1000, min(us) / 1000, max(us) / 1000
deploy, run = stats("deploy.ms"), stats("run.ms")
ok = "yes" if deploy[0] <= 30 else "**no**"
section = f"""<!-- deploy:begin -->
## Deploy → running on a node (bench/deploy.sh)

`qyv deploy BUNDLE` to a `qyv daemon` on 127.0.0.1, from the command's
start to its exit (the node has stored and recorded the revision and
answers that the service runs): a {int(size) / 1e6:.2f} MB bundle (the probe
guest with 1 MB of data mounted), each deploy a new revision, code compiled
once by a warm-up deploy. Median of {runs}. There is no wasmtime equivalent
of a deploy; `qyv run` of the same app (to its end, reading the data) is
the nearest thing, measured in the same run. The revision each deploy
replaces is sleeping in a host call; the node drops its task at once (see
docs/ARCHITECTURE.md, Node scheduler). Before instances ran as tasks, the
node waited 100 ms for it on each deploy: 121.8 ms median on this bench.

| what | median | min | max | target |
|---|---|---|---|---|
| `qyv deploy` → running | {deploy[0]:.1f} ms | {deploy[1]:.1f} ms | {deploy[2]:.1f} ms | ≤ 30 ms: {ok} |
| `qyv run` of the same app | {run[0]:.1f} ms | {run[1]:.1f} ms | {run[2]:.1f} ms | |

Command: `bench/deploy.sh` ({version}, release build). Machine: {machine};
load average {load} after (the machine is shared).
<!-- deploy:end -->"""
print(section)
PY
)"
echo "$section"
if [ "$write_doc" = 1 ]; then
    write_doc_section deploy "$section"
fi

#!/usr/bin/env bash
# Many idle services on one node: APPS (10,000) services that sleep an hour
# at a time (bench/apps/idle/idle.c, built with clang-19 for wasm32-wasi)
# deployed through a `qyv daemon --apps-dir`, then the daemon's resident
# memory (VmRSS), threads and `qyv ps` time, against the same daemon with
# no app. Memory per idle instance = (RSS with the apps − RSS without) /
# APPS; it includes each instance's touched linear-memory pages, its store,
# its WASI context, its fiber stack's touched pages, and the node's own
# records of the app. There is no wasmtime equivalent (one program per
# process). Results go into docs/benchmarks.md (between the idle markers).
#
#   bench/idle.sh                      # builds the release qyv, measures, writes
#   APPS=2000 QYV=path/to/qyv bench/idle.sh   # that binary, writes nothing
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

APPS="${APPS:-10000}"
write_doc=1
if [ -n "${QYV:-}" ]; then
    write_doc=0
else
    build_qyv
fi
[ -n "${CLANG:-}" ] || { echo "clang-19 missing: run scripts/install-toolchains.sh" >&2; exit 1; }

work="$build_dir/idle"
rm -rf "$work" && mkdir -p "$work/apps.d"
export XDG_CONFIG_HOME="$work/config" QYVOL_CACHE_DIR="$work/cache"
unset QYVOL_NODE QYVOL_TOKEN QYVOL_FINGERPRINT
"$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -s -o "$work/apps.d/idle.wasm" "$here/apps/idle/idle.c"

"$QYV" daemon --listen 127.0.0.1:0 --data-dir "$work/node" --apps-dir "$work/apps.d" \
    >"$work/daemon.out" 2>"$work/daemon.err" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q '^  connect' "$work/daemon.out" 2>/dev/null && break
    sleep 0.1
done
QYVOL_NODE="$(sed -n 's/^qyv daemon listening on //p' "$work/daemon.out")"
QYVOL_FINGERPRINT="$(awk '$1 == "fingerprint" {print $2}' "$work/daemon.out")"
[ -n "$QYVOL_NODE" ] || { cat "$work/daemon.err" >&2; exit 1; }
QYVOL_TOKEN="$("$QYV" daemon token --data-dir "$work/node")"
export QYVOL_NODE QYVOL_FINGERPRINT QYVOL_TOKEN

status() { awk -v k="$1:" '$1 == k {print $2}' "/proc/$daemon/status"; }
ps_ms() {
    local start end
    start=$(date +%s%N)
    "$QYV" ps --json >"$work/ps.json"
    end=$(date +%s%N)
    echo $(((end - start) / 1000))
}
running() {
    "${QYV_PYTHON:-python3}" -c '
import json, sys
print(sum(1 for a in json.load(open(sys.argv[1])) if a["state"] == "running"))' "$work/ps.json"
}
sleep 1
rss_empty=$(status VmRSS)
threads_empty=$(status Threads)

started=$(date +%s)
for i in $(seq 1 "$APPS"); do
    printf 'name: idle-%s\nentrypoint: idle.wasm\ntype: service\nrestart: always\n' "$i" >"$work/apps.d/idle-$i.qyv"
done
while :; do
    ps_ms >/dev/null
    [ "$(running)" -ge "$APPS" ] && break
    sleep 2
done
deployed_s=$(($(date +%s) - started))
sleep 15 # the runtime's borrowed threads go back after 10 s idle
rss_full=$(status VmRSS)
threads_full=$(status Threads)
maps=$(wc -l <"/proc/$daemon/maps")
: >"$work/ps.us"
for _ in 1 2 3 4 5; do ps_ms >>"$work/ps.us"; done
kill "$daemon" && wait "$daemon" 2>/dev/null || true

section="$("${QYV_PYTHON:-python3}" - "$(machine_description)" \
    "$("$QYV" --version)" "$APPS" "$rss_empty" "$rss_full" "$threads_empty" "$threads_full" \
    "$maps" "$deployed_s" "$work/ps.us" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import pathlib, statistics, sys

machine, version, apps, rss0, rss1, t0, t1, maps, took, ps_file, load = sys.argv[1:]
apps, rss0, rss1 = int(apps), int(rss0), int(rss1)
per = (rss1 - rss0) / apps
ps_ms = statistics.median(int(l) for l in open(ps_file).read().split()) / 1000
ok = lambda c: "yes" if c else "**no**"
section = f"""<!-- idle:begin -->
## Many idle services on one node (bench/idle.sh)

{apps:,} services that sleep an hour at a time (bench/apps/idle/idle.c, C
for wasm32-wasi) deployed through `qyv daemon --apps-dir`, all running.
Memory per instance is the daemon's resident memory with them minus
without, divided by {apps:,}: it includes each instance's touched
linear-memory pages, store, WASI context and fiber stack, and the node's
own records of the app.

| what | measured | target |
|---|---|---|
| daemon RSS, no app / {apps:,} idle services | {rss0 / 1024:.1f} MiB / {rss1 / 1024:.1f} MiB | |
| host memory per idle instance | {per:.1f} KiB | ≤ 100 KiB: {ok(per <= 100)} |
| daemon threads, no app / {apps:,} services | {t0} / {t1} | |
| daemon memory mappings with {apps:,} services | {maps} | (vm.max_map_count is 65530) |
| `qyv ps --json` with {apps:,} apps (median of 5) | {ps_ms:.0f} ms | ≤ 200 ms: {ok(ps_ms <= 200)} |
| time to deploy and start all {apps:,} | {took} s | |

Command: `bench/idle.sh` ({version}, release build). Machine: {machine};
load average {load} after (the machine is shared).
<!-- idle:end -->"""
print(section)
PY
)"
echo "$section"
if [ "$write_doc" = 1 ]; then
    write_doc_section idle "$section"
fi

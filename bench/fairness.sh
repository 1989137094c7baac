#!/usr/bin/env bash
# CPU shares of a node (`qyv daemon`): how the node's scheduler splits the
# CPU between apps, measured from the CPU time the node reports per app
# (`cpu_ms` of `qyv ps --json`). Three cases:
#   1. two CPU-bound services (the probe's `loop`) of scheduler.weight 1
#      and 3 on a node pinned to one core (taskset): their shares over
#      SECONDS (10) — the target is 25 % ± 5 and 75 % ± 5;
#   2. one such service capped at limits.cpu: 0.5 alone on an unpinned
#      node (two cores idle): the cores it used over SECONDS — at most 0.5;
#   3. an HTTP app's latency (examples/http-rust, wrk -c8, SECONDS) on a
#      node pinned to one core, alone and then beside a CPU-bound service:
#      p50 and p99 — the target is a p99 at most 2× the one without.
# There is no wasmtime equivalent (wasmtime runs one program per process).
# Results go into docs/benchmarks.md (between the fairness markers).
#
#   bench/fairness.sh              # builds the release qyv, measures, writes
#   QYV=path/to/qyv bench/fairness.sh   # measures that binary, writes nothing
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

SECONDS_EACH="${SECONDS_EACH:-10}"
command -v wrk >/dev/null || { echo "wrk missing: run scripts/install-toolchains.sh" >&2; exit 1; }
command -v taskset >/dev/null || { echo "taskset missing (util-linux)" >&2; exit 1; }
write_doc=1
if [ -n "${QYV:-}" ]; then
    write_doc=0
else
    build_qyv
fi
http_wasm="$repo_root/examples/http-rust/http-rust.wasm"
[ -f "$http_wasm" ] || { echo "$http_wasm missing: run examples/build.sh" >&2; exit 1; }

work="$build_dir/fairness"
rm -rf "$work" && mkdir -p "$work"
export XDG_CONFIG_HOME="$work/config" QYVOL_CACHE_DIR="$work/cache"
unset QYVOL_NODE QYVOL_TOKEN QYVOL_FINGERPRINT

# app NAME EXTRA: a CPU-bound service, its manifest's path.
app() {
    local dir="$work/apps/$1"
    mkdir -p "$dir"
    cp "$repo_root/crates/qyv/tests/guests/probe/probe.wasm" "$dir/"
    printf 'name: %s\nentrypoint: probe.wasm\ntype: service\nrestart: never\nargs: [loop]\n%s' "$1" "$2" >"$dir/app.qyv"
    printf '%s\n' "$dir/app.qyv"
}
web_app() {
    local dir="$work/apps/web"
    mkdir -p "$dir"
    cp "$http_wasm" "$dir/web.wasm"
    printf 'name: web\nentrypoint: web.wasm\ntype: http\nhttp: { route: / }\n' >"$dir/app.qyv"
    printf '%s\n' "$dir/app.qyv"
}

daemon=""
stop_daemon() {
    if [ -n "$daemon" ]; then
        kill "$daemon" 2>/dev/null || true
        wait "$daemon" 2>/dev/null || true
        daemon=""
    fi
}
trap stop_daemon EXIT

# start_daemon NAME PREFIX...: a daemon under PREFIX (e.g. taskset -c 0),
# with an HTTP port; sets QYVOL_* and http_port.
start_daemon() {
    local name="$1"
    shift
    "$@" "$QYV" daemon --listen 127.0.0.1:0 --http 127.0.0.1:0 --data-dir "$work/$name" \
        >"$work/$name.out" 2>"$work/$name.err" &
    daemon=$!
    for _ in $(seq 100); do
        grep -q '^  connect' "$work/$name.out" 2>/dev/null && break
        sleep 0.1
    done
    QYVOL_NODE="$(sed -n 's/^qyv daemon listening on //p' "$work/$name.out")"
    QYVOL_FINGERPRINT="$(awk '$1 == "fingerprint" {print $2}' "$work/$name.out")"
    http_port="$(sed -n 's/^ *http apps *http:\/\/127.0.0.1://p' "$work/$name.out")"
    [ -n "$QYVOL_NODE" ] || { cat "$work/$name.err" >&2; exit 1; }
    QYVOL_TOKEN="$("$QYV" daemon token --data-dir "$work/$name")"
    export QYVOL_NODE QYVOL_FINGERPRINT QYVOL_TOKEN
}

# cpu_ms APP: the CPU time the node counts for the app.
cpu_ms() {
    "$QYV" ps --json | "${QYV_PYTHON:-python3}" -c '
import json, sys
for a in json.load(sys.stdin):
    if a["name"] == sys.argv[1]:
        print(a.get("cpu_ms", 0))' "$1"
}

# 1. Weights 1 and 3 on one core.
start_daemon weights taskset -c 0
"$QYV" deploy "$(app light $'scheduler: { weight: 1 }\n')" >/dev/null
"$QYV" deploy "$(app heavy $'scheduler: { weight: 3 }\n')" >/dev/null
sleep 2
l0=$(cpu_ms light) h0=$(cpu_ms heavy)
sleep "$SECONDS_EACH"
l1=$(cpu_ms light) h1=$(cpu_ms heavy)
stop_daemon
light_ms=$((l1 - l0)) heavy_ms=$((h1 - h0))

# 2. A cap of half a core on an idle node.
start_daemon capped
"$QYV" deploy "$(app half $'limits: { cpu: 0.5 }\n')" >/dev/null
"$QYV" deploy "$(app free '')" >/dev/null
sleep 2
c0=$(cpu_ms half) f0=$(cpu_ms free)
sleep "$SECONDS_EACH"
c1=$(cpu_ms half) f1=$(cpu_ms free)
stop_daemon
half_ms=$((c1 - c0)) free_ms=$((f1 - f0))

# 3. An HTTP app's latency, alone and beside a CPU hog, on one core.
latency() {
    wrk -t1 -c8 -d"${SECONDS_EACH}s" --latency "http://127.0.0.1:$http_port/" >"$work/wrk.out"
    awk '$1 == "50%" || $1 == "99%" {print $2}' "$work/wrk.out" | tr '\n' ' '
    awk '/Requests\/sec/ {print $2}' "$work/wrk.out"
}
start_daemon web taskset -c 0
"$QYV" deploy "$(web_app)" >/dev/null
wrk -t1 -c8 -d2s "http://127.0.0.1:$http_port/" >/dev/null
alone="$(taskset -c 1 bash -c "$(declare -f latency); work=$work http_port=$http_port SECONDS_EACH=$SECONDS_EACH latency")"
"$QYV" deploy "$(app hog '')" >/dev/null
sleep 1
beside="$(taskset -c 1 bash -c "$(declare -f latency); work=$work http_port=$http_port SECONDS_EACH=$SECONDS_EACH latency")"
stop_daemon

section="$("${QYV_PYTHON:-python3}" - "$(machine_description)" \
    "$("$QYV" --version)" "$SECONDS_EACH" "$(cut -d' ' -f1-3 /proc/loadavg)" \
    "$light_ms" "$heavy_ms" "$half_ms" "$free_ms" "$alone" "$beside" <<'PY'
import pathlib, re, sys

machine, version, secs, load, light, heavy, half, free, alone, beside = sys.argv[1:]
secs = float(secs)
light, heavy, half, free = int(light), int(heavy), int(half), int(free)
def ms(text):
    m = re.match(r"([\d.]+)(us|ms|s)", text)
    value, unit = float(m.group(1)), m.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value
def lat(text):
    p50, p99, rps = text.split()
    return ms(p50), ms(p99), float(rps)
a50, a99, arps = lat(alone)
b50, b99, brps = lat(beside)
total = light + heavy
lshare, hshare = 100 * light / total, 100 * heavy / total
def ok(cond):
    return "yes" if cond else "**no**"
section = f"""<!-- fairness:begin -->
## CPU shares on a node (bench/fairness.sh)

CPU time per app as the node counts it (`cpu_ms` of `qyv ps --json`), over
{secs:.0f} s after 2 s of warm-up. The apps are the probe guest's `loop` (a
CPU-bound service) and examples/http-rust for HTTP; wrk runs on the other
core. There is no wasmtime equivalent (one program per process).

| case | measured | target |
|---|---|---|
| weight 1 vs weight 3, node pinned to one core | {lshare:.1f} % / {hshare:.1f} % ({light / 1000:.2f} s / {heavy / 1000:.2f} s of CPU) | 25 ± 5 % / 75 ± 5 %: {ok(abs(lshare - 25) <= 5)} |
| `limits.cpu: 0.5` beside an uncapped one, unpinned 2-core node | {half / 1000 / secs:.2f} cores (uncapped: {free / 1000 / secs:.2f}) | ≤ 0.5: {ok(half / 1000 / secs <= 0.5)} |
| HTTP p50 / p99 alone, one core | {a50:.2f} ms / {a99:.2f} ms ({arps:.0f} req/s) | |
| HTTP p50 / p99 beside a CPU hog, one core | {b50:.2f} ms / {b99:.2f} ms ({brps:.0f} req/s) | p99 ≤ 2× alone: {ok(b99 <= 2 * a99)} |

Command: `bench/fairness.sh` ({version}, release build). Machine: {machine};
load average {load} after (the machine is shared, so other processes took
part of the pinned core too).
<!-- fairness:end -->"""
print(section)
PY
)"
echo "$section"
if [ "$write_doc" = 1 ]; then
    write_doc_section fairness "$section"
fi

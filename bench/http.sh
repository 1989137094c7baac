#!/usr/bin/env bash
# HTTP throughput and latency: `qyv serve` against `wasmtime serve` (with its
# defaults, and with -O pooling-allocator), on the same components, in the
# same run, driven by wrk on loopback.
#
#   bench/http.sh                  measure and write the section of docs/benchmarks.md
#   DURATION=5s ROUNDS=1 bench/http.sh   a quicker run
#
# Handlers: examples/http-rust (small Rust handler) and examples/http-python
# (CPython through componentize-py; built by examples/build.sh). Every
# server gives each request a fresh instance (wasmtime serve always does for
# WASI 0.2 components; qyv serve does unless http.reuse says otherwise), and
# none has a time limit. Each configuration is measured ROUNDS times,
# interleaved, after a warm-up; the table shows the median round by req/s.
set -euo pipefail
# shellcheck source=lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-2s}"
ROUNDS="${ROUNDS:-3}"
CONNECTIONS="${CONNECTIONS:-32}"
WRK_THREADS="${WRK_THREADS:-1}"

command -v wrk >/dev/null || { echo "wrk missing: run scripts/install-toolchains.sh" >&2; exit 1; }
[ -n "$WASMTIME" ] || { echo "wasmtime missing: run scripts/install-toolchains.sh" >&2; exit 1; }
build_qyv

rust_wasm="$repo_root/examples/http-rust/http-rust.wasm"
python_wasm="$repo_root/examples/http-python/http-python.wasm"
[ -f "$python_wasm" ] || { echo "$python_wasm missing: run examples/build.sh" >&2; exit 1; }

# Manifests that grant what wasmtime serve's defaults grant for these
# handlers (nothing) and set no limits, so both servers do the same work.
bench_manifest() {
    local name="$1" wasm="$2" out="$build_dir/$1.qyv"
    printf 'name: %s\nentrypoint: %s\ntype: http\n' "$name" "$wasm" >"$out"
    printf '%s\n' "$out"
}

export QYVOL_CACHE_DIR="$build_dir/qyv-cache"
port=18400
server_pid=""

stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap stop_server EXIT

# start_server NAME WASM CONFIG: starts one server on a fresh port and waits
# until it answers (compiling a large component can take seconds).
start_server() {
    local name="$1" wasm="$2" config="$3"
    port=$((port + 1))
    case "$config" in
        qyv) "$QYV" serve --addr "127.0.0.1:$port" "$(bench_manifest "$name" "$wasm")" 2>"$build_dir/server.log" >/dev/null & ;;
        wasmtime) "$WASMTIME" serve -Scli --addr "127.0.0.1:$port" "$wasm" 2>"$build_dir/server.log" >/dev/null & ;;
        wasmtime-pooling) "$WASMTIME" serve -Scli -O pooling-allocator --addr "127.0.0.1:$port" "$wasm" 2>"$build_dir/server.log" >/dev/null & ;;
    esac
    server_pid=$!
    for _ in $(seq 1 3000); do
        if curl -sf -o /dev/null "http://127.0.0.1:$port/"; then
            return 0
        fi
        sleep 0.1
    done
    echo "$config did not start serving $name:" >&2
    cat "$build_dir/server.log" >&2
    exit 1
}

# Converts wrk's "1.23ms" / "456.00us" / "1.02s" to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n = n / 1000; else if (v ~ /ms$/) n = n; else if (v ~ /s$/) n = n * 1000
        printf "%.2f", n
    }'
}

# measure: one wrk run against the current server; prints "rps p50 p99 errors".
measure() {
    local out rps p50 p99 errors
    out="$(wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "http://127.0.0.1:$port/")"
    rps="$(awk '/^Requests\/sec:/ {printf "%d", $2}' <<<"$out")"
    p50="$(to_ms "$(awk '$1 == "50%" {print $2}' <<<"$out")")"
    p99="$(to_ms "$(awk '$1 == "99%" {print $2}' <<<"$out")")"
    errors="$(awk '/Non-2xx or 3xx responses:/ {print $5}' <<<"$out")"
    printf '%s %s %s %s\n' "$rps" "$p50" "$p99" "${errors:-0}"
}

results="$build_dir/http-results.txt"
: >"$results"
load_start="$(cut -d' ' -f1-3 /proc/loadavg)"
configs=(qyv wasmtime wasmtime-pooling)
for round in $(seq 1 "$ROUNDS"); do
    for handler in rust python; do
        wasm="$rust_wasm"
        [ "$handler" = python ] && wasm="$python_wasm"
        for config in "${configs[@]}"; do
            start_server "bench-$handler" "$wasm" "$config"
            wrk -t"$WRK_THREADS" -c"$CONNECTIONS" -d"$WARMUP" "http://127.0.0.1:$port/" >/dev/null
            line="$(measure)"
            stop_server
            printf '%s %s %s\n' "$handler" "$config" "$line" >>"$results"
            printf 'round %s  %-7s %-17s %s\n' "$round" "$handler" "$config" "$line" >&2
        done
    done
done

# The median round (by req/s) of each handler and configuration.
median() {
    grep "^$1 $2 " "$results" | sort -k3,3n | awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) {print $3, $4, $5, $6}'
}

label() {
    case "$1" in
        qyv) echo "qyv serve (fresh instance per request)" ;;
        wasmtime) echo "wasmtime serve (defaults)" ;;
        wasmtime-pooling) echo "wasmtime serve -O pooling-allocator" ;;
    esac
}

table="$build_dir/http-table.md"
{
    echo "## HTTP serving (bench/http.sh)"
    echo
    echo "Requests per second and latency of one handler served on loopback, driven by"
    echo "\`wrk -t$WRK_THREADS -c$CONNECTIONS -d$DURATION --latency\` after a $WARMUP warm-up; median of"
    echo "$ROUNDS interleaved rounds. Every server gives each request a fresh instance"
    echo "and none has a time limit. The same component file is given to each"
    echo "server (\`wasmtime serve -Scli\`: the handlers import WASI CLI interfaces)."
    echo
    echo "Command: \`bench/http.sh\` (DURATION=$DURATION ROUNDS=$ROUNDS CONNECTIONS=$CONNECTIONS)  "
    echo "Machine: $(machine_description); the load generator shares it.  "
    echo "Load average (1, 5, 15 min) at the start: $load_start; at the end: $(cut -d' ' -f1-3 /proc/loadavg)  "
    echo "Versions: $("$QYV" --version), $("$WASMTIME" --version)  "
    echo "Date: $(date -u +%Y-%m-%d)"
    echo
    for handler in rust python; do
        case "$handler" in
            rust) echo "### Small Rust handler (examples/http-rust, $(stat -c %s "$rust_wasm") bytes)" ;;
            python) echo "### Python handler (examples/http-python, componentize-py, $(stat -c %s "$python_wasm") bytes)" ;;
        esac
        echo
        echo "| server | req/s | p50 (ms) | p99 (ms) | vs wasmtime's best |"
        echo "|---|---:|---:|---:|---:|"
        best=0
        for config in wasmtime wasmtime-pooling; do
            rps="$(median "$handler" "$config" | cut -d' ' -f1)"
            [ "${rps:-0}" -gt "$best" ] && best="$rps"
        done
        for config in "${configs[@]}"; do
            read -r rps p50 p99 _errors < <(median "$handler" "$config")
            ratio="$(awk -v a="$rps" -v b="$best" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }')"
            echo "| $(label "$config") | $rps | $p50 | $p99 | $ratio |"
        done
        echo
    done
} >"$table"
cat "$table"

# Replace this script's section of docs/benchmarks.md (from its heading to
# the next "## " heading), leaving the other sections as they are.
doc="$repo_root/docs/benchmarks.md"
mkdir -p "$(dirname "$doc")"
[ -f "$doc" ] || printf '# Benchmarks\n\nEach section is written by the script it names; rerun it to update.\n\n' >"$doc"
python3 - "$doc" "$table" <<'EOF'
import sys
doc_path, table_path = sys.argv[1], sys.argv[2]
doc = open(doc_path).read()
section = open(table_path).read().rstrip("\n") + "\n"
heading = "## HTTP serving (bench/http.sh)"
start = doc.find(heading)
if start < 0:
    doc = doc.rstrip("\n") + "\n\n" + section
else:
    # Up to the next heading or the marker of another script's section.
    ends = [i for i in (doc.find("\n## ", start + len(heading)), doc.find("\n<!-- ", start + len(heading))) if i >= 0]
    end = min(ends) if ends else -1
    rest = doc[end + 1:] if end >= 0 else ""
    doc = doc[:start] + section + ("\n" + rest if rest else "")
open(doc_path, "w").write(doc)
EOF
echo "wrote $doc" >&2

#!/usr/bin/env bash
# Clusters on loopback, with real nats-server processes (JetStream) and
# real `qyv daemon --cluster` processes:
#
#   1. deploy → running: `qyv cluster deploy` of a 1 MB bundle (a service)
#      with 3 replicas over 3 nodes and 3 NATS servers, timed from the
#      command's start to its exit (when every replica runs). Median of
#      RUNS (10), each a new revision.
#   2. failover: kill -9 of a node that runs a replica (4 nodes, 3
#      replicas), timed until `qyv cluster ps` shows the replica running on
#      another node; median and max of TRIALS (10); the node is started
#      again between trials.
#   3. placement at scale: 10,000 replicas over 1,000 simulated nodes with
#      the scheduler's own placement code, in process (cargo bench).
#   4. DAEMONS (20) real daemons on one machine with one NATS: deploy of
#      an app with one replica per node, timed like 1.
#
#   5. one HTTP entry for every node: examples/http-rust with one replica
#      on 2 nodes with --http; wrk against the node that runs it (local)
#      and against the other one (forwarded over node-to-node HTTP), at 1
#      connection (latency) and 32 (throughput), interleaved, ROUNDS (3)
#      rounds of DURATION (10s) each, median round by req/s.
#
# Next to 1, in the same run: `qyv deploy` of the same bundle to one node.
# Results go into docs/benchmarks.md (between the cluster markers; 5
# between the cluster-forward markers).
#
#   bench/cluster.sh                  # builds the release qyv, measures
#   ONLY=forward bench/cluster.sh     # part 5 alone
#   QYV=path/to/qyv bench/cluster.sh  # measures that binary, writes nothing
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

RUNS="${RUNS:-10}"
TRIALS="${TRIALS:-10}"
DAEMONS="${DAEMONS:-20}"
write_doc=1
if [ -n "${QYV:-}" ]; then
    write_doc=0
else
    build_qyv
fi
[ -n "$NATS_SERVER" ] || { echo "no nats-server: run scripts/install-toolchains.sh" >&2; exit 1; }

work="$build_dir/cluster"
rm -rf "$work" && mkdir -p "$work/app/data"
export XDG_CONFIG_HOME="$work/config" QYVOL_CACHE_DIR="$work/cache"
unset QYVOL_NODE QYVOL_TOKEN QYVOL_FINGERPRINT QYVOL_CLUSTER QYVOL_CLUSTER_CREDS
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -9 "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    if [ -f "$work/nats.pids" ]; then
        while read -r p; do kill "$p" 2>/dev/null || true; done <"$work/nats.pids"
        rm -f "$work/nats.pids"
    fi
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now_ns() { date +%s%N; }
median() { sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
maximum() { sort -n | tail -1; }
ms() { awk '{printf "%.1f", $1/1000}'; }

# N nats servers (clustered when N > 1) under $1; prints the client URLs.
start_nats() {
    local dir="$1" n="$2" i routes=() ports=()
    mkdir -p "$dir"
    for i in $(seq 1 "$n"); do routes+=("$(free_port)"); ports+=("$(free_port)"); done
    local route_list
    route_list="$(printf 'nats://127.0.0.1:%s, ' "${routes[@]}")"
    for i in $(seq 1 "$n"); do
        {
            echo "server_name: s$i"
            echo "listen: 127.0.0.1:${ports[$((i - 1))]}"
            echo "jetstream { store_dir: \"$dir/s$i\" }"
            [ "$n" -gt 1 ] && echo "cluster { name: bench, listen: 127.0.0.1:${routes[$((i - 1))]}, routes: [${route_list%, }] }"
        } >"$dir/s$i.conf"
        # Called in $(…): the pid goes to a file that cleanup reads.
        "$NATS_SERVER" -c "$dir/s$i.conf" >"$dir/s$i.log" 2>&1 &
        echo $! >>"$work/nats.pids"
    done
    printf 'nats://127.0.0.1:%s,' "${ports[@]}" | sed 's/,$//'
}

# A daemon NAME joining $urls; sets its pid in node_pid[NAME].
declare -A node_pid
start_node() {
    local name="$1" urls="$2"
    "$QYV" daemon --listen 127.0.0.1:0 --data-dir "$work/nodes/$name" --cluster "$urls" --node-name "$name" \
        >"$work/nodes/$name.out" 2>"$work/nodes/$name.err" &
    node_pid[$name]=$!
    pids+=($!)
}

wait_ready_nodes() {
    local want="$1" i
    for i in $(seq 600); do
        [ "$("$QYV" cluster nodes --json 2>/dev/null | grep -c '"state": "ready"')" -ge "$want" ] && return 0
        sleep 0.1
    done
    echo "only $("$QYV" cluster nodes --json | grep -c '"state": "ready"') of $want nodes ready" >&2
    exit 1
}

# --- 5. local vs forwarded HTTP ---------------------------------------------
ROUNDS="${ROUNDS:-3}"
DURATION="${DURATION:-10s}"
# wrk_run ADDR CONNECTIONS: "req/s p50_ms p99_ms"
wrk_run() {
    wrk -t1 -c"$2" -d"$DURATION" --latency "http://$1/hi" | awk '
        function ms(v) { if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0; if (v ~ /s$/) return v * 1000; return v }
        /Requests\/sec/ {rps = $2}
        /^ +50%/ {p50 = ms($2)}
        /^ +99%/ {p99 = ms($2)}
        END {printf "%.0f %.3f %.3f\n", rps, p50, p99}'
}
forward_bench() {
    command -v wrk >/dev/null || { echo "wrk missing: run scripts/install-toolchains.sh" >&2; exit 1; }
    local urls a b holder entry_addr holder_addr c where rows="" section
    urls="$(start_nats "$work/nats-fwd" 1)"
    "$QYV" context add fwd "$urls" >/dev/null
    "$QYV" context use fwd >/dev/null
    mkdir -p "$work/nodes"
    for n in h1 h2; do
        "$QYV" daemon --listen 127.0.0.1:0 --http "127.0.0.1:$(free_port)" --data-dir "$work/nodes/$n" \
            --cluster "$urls" --node-name "$n" >"$work/nodes/$n.out" 2>"$work/nodes/$n.err" &
        pids+=($!)
    done
    wait_ready_nodes 2
    "$QYV" cluster deploy "$repo_root/examples/http-rust/http-rust.qyv" --replicas 1 >/dev/null
    holder="$("$QYV" cluster ps http-rust --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["placement"]["nodes"][0])')"
    a="$(sed -n 's|^  http apps *http://||p' "$work/nodes/h1.out")"
    b="$(sed -n 's|^  http apps *http://||p' "$work/nodes/h2.out")"
    if [ "$holder" = h1 ]; then holder_addr="$a" entry_addr="$b"; else holder_addr="$b" entry_addr="$a"; fi
    for _ in $(seq 100); do curl -sf "http://$entry_addr/hi" >/dev/null && break; sleep 0.1; done
    curl -sfi "http://$entry_addr/hi" | grep -qi "^x-qyvol-node: $holder" || { echo "the entry node does not forward" >&2; exit 1; }
    wrk -t1 -c8 -d2s "http://$holder_addr/hi" >/dev/null
    wrk -t1 -c8 -d2s "http://$entry_addr/hi" >/dev/null
    : >"$work/fwd.txt"
    for _ in $(seq "$ROUNDS"); do
        for c in 1 32; do
            echo "local $c $(wrk_run "$holder_addr" "$c")" >>"$work/fwd.txt"
            echo "forwarded $c $(wrk_run "$entry_addr" "$c")" >>"$work/fwd.txt"
        done
    done
    for c in 1 32; do
        for where in local forwarded; do
            # The median round by req/s.
            rows+="$(awk -v w="$where" -v c="$c" '$1 == w && $2 == c' "$work/fwd.txt" | sort -k3,3n |
                awk -v n="$ROUNDS" 'NR == int((n + 1) / 2) {printf "| %s | %s | %s | %s ms | %s ms |", $1, $2, $3, $4, $5}')"$'\n'
        done
    done
    local load
    load=$(cut -d' ' -f1 /proc/loadavg)
    cleanup
    pids=()
    section="<!-- cluster-forward:begin -->
### One HTTP entry for every node: local vs forwarded

Command: \`ONLY=forward bench/cluster.sh\` (ROUNDS=$ROUNDS, DURATION=$DURATION). Machine: $(machine_description).
examples/http-rust (a fresh instance per request) with one replica on one of
two nodes (\`--http\`, one NATS, loopback); wrk (1 thread) against the node
that runs it and against the other, which forwards each request over a kept
connection to the first (node-to-node HTTP). Median round by req/s. Load
average $load at the end (a shared machine: other builds ran beside it).

| served | connections | req/s | p50 | p99 |
|---|---|---|---|---|
${rows%$'\n'}
<!-- cluster-forward:end -->"
    echo "$section"
    if [ "$write_doc" = 1 ]; then write_doc_section cluster-forward "$section"; fi
}
if [ "${ONLY:-all}" = forward ]; then
    forward_bench
    exit 0
fi

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
for i in $(seq 0 "$RUNS"); do
    head -c 1000000 /dev/urandom >"$work/app/data/blob"
    "$QYV" pack "$work/app/app.qyv" -o "$work/bundle-$i.qyvbin" >/dev/null
done
bundle_size=$(stat -c %s "$work/bundle-0.qyvbin")
mkdir -p "$work/nodes"

# --- 1. deploy → 3 replicas running, 3 NATS, 3 nodes (+ 1 spare for 2) ----
urls="$(start_nats "$work/nats3" 3)"
"$QYV" context add bench "$urls" >/dev/null
for n in n1 n2 n3 n4; do start_node "$n" "$urls"; done
wait_ready_nodes 4
"$QYV" cluster deploy "$work/bundle-0.qyvbin" --replicas 3 >/dev/null
: >"$work/deploy.us"
for i in $(seq 1 "$RUNS"); do
    start=$(now_ns)
    "$QYV" cluster deploy "$work/bundle-$i.qyvbin" --replicas 3 >"$work/last.out"
    end=$(now_ns)
    grep -q "3/3 replicas running" "$work/last.out" || { cat "$work/last.out" >&2; exit 1; }
    echo $(((end - start) / 1000)) >>"$work/deploy.us"
done
deploy_median=$(median <"$work/deploy.us" | ms)

# --- 2. failover after kill -9 -----------------------------------------------
running_nodes() {
    "$QYV" cluster ps bench-app --json | python3 -c '
import json, sys
v = json.load(sys.stdin)
print(" ".join(sorted(r["node"] for r in v["replicas_view"] if r["state"] == "running" and not r["node_lost"])))'
}
: >"$work/failover.us"
for t in $(seq 1 "$TRIALS"); do
    before="$(running_nodes)"
    victim="${before%% *}"
    start=$(now_ns)
    kill -9 "${node_pid[$victim]}"
    while :; do
        now="$(running_nodes)"
        if [ "$(wc -w <<<"$now")" -eq 3 ] && ! grep -qw "$victim" <<<"$now"; then break; fi
        [ $((($(now_ns) - start) / 1000000000)) -lt 60 ] || { echo "no failover in 60 s" >&2; exit 1; }
        sleep 0.05
    done
    end=$(now_ns)
    echo $(((end - start) / 1000)) >>"$work/failover.us"
    start_node "$victim" "$urls"
    wait_ready_nodes 4
    # Let the returned node drop its moved replica before the next trial.
    sleep 1
done
failover_median=$(median <"$work/failover.us" | ms)
failover_max=$(maximum <"$work/failover.us" | ms)
load_12=$(cut -d' ' -f1 /proc/loadavg)

# Same bundle to one node, for comparison.
"$QYV" daemon --listen 127.0.0.1:0 --data-dir "$work/single" >"$work/single.out" 2>"$work/single.err" &
pids+=($!)
for _ in $(seq 100); do grep -q '^  connect' "$work/single.out" 2>/dev/null && break; sleep 0.1; done
single_url="$(sed -n 's/^qyv daemon listening on //p' "$work/single.out")"
single_fp="$(awk '$1 == "fingerprint" {print $2}' "$work/single.out")"
single_token="$("$QYV" daemon token --data-dir "$work/single")"
"$QYV" deploy "$work/bundle-0.qyvbin" "$single_url" --token "$single_token" --fingerprint "$single_fp" >/dev/null
: >"$work/single.us"
for i in $(seq 1 "$RUNS"); do
    start=$(now_ns)
    "$QYV" deploy "$work/bundle-$i.qyvbin" "$single_url" --token "$single_token" --fingerprint "$single_fp" >/dev/null
    end=$(now_ns)
    echo $(((end - start) / 1000)) >>"$work/single.us"
done
single_median=$(median <"$work/single.us" | ms)
cleanup
pids=()

# --- 3. placement at scale, in process ---------------------------------------
placement="$(cd "$repo_root" && cargo bench --locked --workspace --bench placement 2>/dev/null | grep '^placement:')"

# --- 4. DAEMONS real daemons, one NATS -----------------------------------------
urls1="$(start_nats "$work/nats1" 1)"
"$QYV" context add many "$urls1" >/dev/null
"$QYV" context use many >/dev/null
for i in $(seq 1 "$DAEMONS"); do start_node "d$i" "$urls1"; done
wait_ready_nodes "$DAEMONS"
start=$(now_ns)
"$QYV" cluster deploy "$work/bundle-0.qyvbin" --replicas "$DAEMONS" --timeout 120s >"$work/many.out"
end=$(now_ns)
grep -q "$DAEMONS/$DAEMONS replicas running" "$work/many.out" || { cat "$work/many.out" >&2; exit 1; }
many_ms=$(echo $(((end - start) / 1000)) | ms)
load_many=$(cut -d' ' -f1 /proc/loadavg)
cleanup

report="$(cat <<EOF
Command: \`bench/cluster.sh\` (RUNS=$RUNS, TRIALS=$TRIALS, DAEMONS=$DAEMONS). Machine: $(machine_description);
nats-server $("$NATS_SERVER" --version | sed 's/nats-server: //'); load average $load_12 after the
first two parts, $load_many after the last (a shared machine: other builds ran beside it).

| what | result |
|---|---|
| \`qyv cluster deploy\` of a $((bundle_size / 1000)) kB bundle → 3 replicas running on 3 nodes (3 NATS servers), median of $RUNS | $deploy_median ms |
| \`qyv deploy\` of the same bundle to one node, same run, median of $RUNS | $single_median ms |
| failover: kill -9 of a node → its replica running on another node (4 nodes), median / max of $TRIALS | $failover_median / $failover_max ms |
| placement in process | ${placement#placement: } |
| $DAEMONS daemons and one NATS on this machine: deploy → $DAEMONS replicas running | $many_ms ms |
EOF
)"
echo "$report"
if [ "$write_doc" = 1 ]; then
    doc="$repo_root/docs/benchmarks.md"
    python3 - "$doc" "$report" <<'PY'
import sys
doc, report = sys.argv[1], sys.argv[2]
text = open(doc).read()
begin, end = "<!-- cluster:begin -->", "<!-- cluster:end -->"
block = f"{begin}\n{report}\n{end}"
if begin in text:
    text = text[: text.index(begin)] + block + text[text.index(end) + len(end):]
else:
    text = text.rstrip("\n") + "\n\n## Clusters\n\n" + block + "\n"
open(doc, "w").write(text)
PY
fi
forward_bench

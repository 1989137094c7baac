#!/usr/bin/env bash
# The hub over loopback: `qyv push` and `qyv pull` of the precompiled,
# signed CPython bundle (bench/qyvbin.sh's app: ~18 MB of wasm and ~32 MB
# of machine code) to and from Debian's docker-registry on 127.0.0.1,
# against `curl` moving the same blob through the same registry API (POST +
# streamed PUT up, GET down) in the same run. Then `qyv run REF` of the
# already pulled app (by tag: the registry is asked for the tag's digest
# only; by digest: not at all) against `qyv run app.qyvbin`. Median of RUNS
# (5) each; every push goes to a new repository (so the blob is sent), every
# pull starts from an empty store.
#
#   bench/hub.sh                    # builds the release qyv, measures, writes docs/benchmarks.md
#   QYV=path/to/qyv bench/hub.sh    # measures that binary, writes nothing
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

RUNS="${RUNS:-5}"
die() { printf 'bench/hub.sh: %s\n' "$*" >&2; exit 1; }
command -v docker-registry >/dev/null || die "docker-registry not found: run scripts/install-toolchains.sh"
command -v curl >/dev/null || die "curl not found"
write_doc=1
if [ -n "${QYV:-}" ]; then
    write_doc=0
else
    build_qyv
fi
build_python_hello

work="$build_dir/hub"
rm -rf "$work" && mkdir -p "$work/data"
export XDG_CONFIG_HOME="$work/config" QYVOL_CACHE_DIR="$work/cache" DOCKER_CONFIG="$work/docker"
unset QYVOL_CONFIG QYVOL_INSECURE_REGISTRIES
"$QYV" keygen --out "$work/keys" >/dev/null
cat >"$work/python-hello.qyv" <<EOF
name: python-hello
entrypoint: $PYTHON_HELLO
language: python
EOF
bundle="$work/python-hello.qyvbin"
"$QYV" pack "$work/python-hello.qyv" -o "$bundle" --precompile --sign "$work/keys/qyvol.key" >&2
size=$(stat -c %s "$bundle")
digest="sha256:$(sha256sum "$bundle" | cut -d' ' -f1)"

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$work/registry.yml" <<EOF
version: 0.1
log: { level: error }
storage:
  filesystem: { rootdirectory: $work/data }
  delete: { enabled: true }
http:
  addr: 127.0.0.1:$port
EOF
docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry=$!
trap 'kill "$registry" 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    curl -sf "http://127.0.0.1:$port/v2/" >/dev/null && break
    sleep 0.1
done
base="127.0.0.1:$port"

now_ns() { date +%s%N; }
timed() { # FILE COMMAND…: appends the command's wall time in µs to FILE
    local out="$1" start end
    shift
    start=$(now_ns)
    "$@" >/dev/null
    end=$(now_ns)
    echo $(((end - start) / 1000)) >>"$out"
}
curl_push() { # REPO
    local location
    location=$(curl -sfi -X POST "http://$base/v2/$1/blobs/uploads/" |
        awk 'tolower($1) == "location:" {print $2}' | tr -d '\r')
    curl -sf -X PUT -H 'Content-Type: application/octet-stream' -T "$bundle" "$location&digest=$digest"
}
qyv_pull() {
    "$QYV" pull --key "$work/keys/qyvol.pub" "$base/bench/qyv-1:1"
}

: >"$work/qyv-push.us"; : >"$work/curl-push.us"; : >"$work/qyv-pull.us"; : >"$work/curl-pull.us"
# `sync` before each timed command (outside the timing): qyv fsyncs what
# it pulls, and on ext4 (data=ordered) an fsync also waits for the dirty
# data of other files in the same journal commit: without it, a pull paid
# for the blobs the registry, curl and the earlier runs had left in memory.
for i in $(seq 1 "$RUNS"); do
    sync
    timed "$work/qyv-push.us" "$QYV" push "$bundle" "$base/bench/qyv-$i:1"
    sync
    timed "$work/curl-push.us" curl_push "bench/curl-$i"
done
for _ in $(seq 1 "$RUNS"); do
    rm -rf "$QYVOL_CACHE_DIR/hub"
    sync
    timed "$work/qyv-pull.us" qyv_pull
    rm -f "$work/blob"
    sync
    timed "$work/curl-pull.us" curl -sf -o "$work/blob" "http://$base/v2/bench/qyv-1/blobs/$digest"
    cmp -s "$work/blob" "$bundle" || die "curl pulled other bytes"
done

# Runs of the pulled app against the bundle file; one warm-up each.
key=(--key "$work/keys/qyvol.pub")
manifest_digest=$("$QYV" pull "${key[@]}" "$base/bench/qyv-1:1" | awk '$1 == "digest" {print $2}')
: >"$work/run-file.us"; : >"$work/run-tag.us"; : >"$work/run-digest.us"
"$QYV" run "${key[@]}" "$bundle" >/dev/null
"$QYV" run "${key[@]}" "$base/bench/qyv-1:1" >/dev/null
for _ in $(seq 1 "$RUNS"); do
    timed "$work/run-file.us" "$QYV" run "${key[@]}" "$bundle"
    timed "$work/run-tag.us" "$QYV" run "${key[@]}" "$base/bench/qyv-1:1"
    timed "$work/run-digest.us" "$QYV" run "${key[@]}" "$base/bench/qyv-1@$manifest_digest"
done
kill "$registry" && wait "$registry" 2>/dev/null || true

section="$("${QYV_PYTHON:-python3}" - "$work" "$size" \
    "$(machine_description)" "$("$QYV" --version)" "$RUNS" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import pathlib, statistics, sys

work, size, machine, version, runs, load = sys.argv[1:]
work, size = pathlib.Path(work), int(size)
def ms(name):
    us = [int(l) for l in (work / name).read_text().split()]
    return statistics.median(us) / 1000, min(us) / 1000, max(us) / 1000
def rate(t):
    return size / 1e6 / (t / 1000)
rows = []
for what, qyv, curl in [("push", "qyv-push.us", "curl-push.us"), ("pull", "qyv-pull.us", "curl-pull.us")]:
    q, c = ms(qyv), ms(curl)
    ratio = rate(q[0]) / rate(c[0])
    ok = "yes" if ratio >= 0.8 else "**no**"
    rows.append(f"| {what} | {q[0]:.0f} ms ({rate(q[0]):.0f} MB/s) | {c[0]:.0f} ms ({rate(c[0]):.0f} MB/s) | {ratio:.2f}× | ≥ 0.8×: {ok} |")
runs_rows = []
f, t, d = ms("run-file.us"), ms("run-tag.us"), ms("run-digest.us")
for what, m in [("`qyv run app.qyvbin`", f), ("`qyv run REG/APP:TAG` (pulled)", t), ("`qyv run REG/APP@sha256:…` (pulled)", d)]:
    runs_rows.append(f"| {what} | {m[0]:.1f} ms | {m[1]:.1f} ms | {m[2]:.1f} ms |")
section = f"""<!-- hub:begin -->
## Hub: push and pull over loopback (bench/hub.sh)

A precompiled, signed CPython bundle ({size / 2**20:.1f} MiB: componentize-py's
18 MB component and its machine code) to and from Debian's docker-registry
2.8 on 127.0.0.1 (filesystem storage). `qyv push` to a new repository each
time (the whole blob is sent; it includes the `/v2/` request, the blob's
`HEAD`, the config and the manifest) against `curl` sending the same blob
through the same API (POST, then a streamed PUT); `qyv pull` into an empty
store (digest checked as it streams, written, fsynced and renamed; with the
manifest, the config and the trust check) against `curl` GETting the blob
into a file. qyv hashes every byte it moves (the digest names what is
pushed and checks what is pulled); curl only moves bytes. The hashing is
kept off the transfer's path (crates/qyvol-hub/src/hashing.rs): a push
streams the bundle in one `PATCH`, as `docker push` does, while another
thread hashes the file, and asks for the blob once the digest is known
(the `PUT` that closes the upload names it); a pull hashes each megabyte on
a second thread while the next is read and written, and starts the disk
write-out as it goes, so the `fsync` before the blob is named waits for
the last megabytes only. Median of {runs}.

| what | qyv | curl | qyv / curl | target |
|---|---|---|---|---|
{chr(10).join(rows)}

Running the pulled app: the registry is asked only for the tag's digest (by
tag), or not at all (by digest); median, min, max of {runs}.

| command | median | min | max |
|---|---|---|---|
{chr(10).join(runs_rows)}

Command: `bench/hub.sh` ({version}, release build). Machine: {machine};
load average {load} after (the machine is shared).
<!-- hub:end -->"""
print(section)
PY
)"
echo "$section"
if [ "$write_doc" = 1 ]; then
    write_doc_section hub "$section"
fi

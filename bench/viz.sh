#!/usr/bin/env bash
# The dashboard with many apps: APPS (1,000) idle services
# (bench/apps/idle/idle.c) on a node through `qyv daemon --apps-dir`, then
# bench/viz.py in headless Chromium (Playwright, Debian's chromium, its
# software WebGL): the page's transfer size, the time from the login to
# every app drawn, and frames per second with all of them drawn. Results
# go into docs/benchmarks.md (between the viz markers).
#
#   bench/viz.sh                         # builds the release qyv, measures, writes
#   APPS=200 QYV=path/to/qyv bench/viz.sh   # that binary, writes nothing
#   QYV=target/debug/qyv WRITE_DOC=1 bench/viz.sh   # that binary, writes (the
#                                        # browser's side, measured here, does not depend on it)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=lib.sh
source "$here/lib.sh"

APPS="${APPS:-1000}"
SECONDS_MEASURED="${SECONDS_MEASURED:-10}"
write_doc=1
build=release
if [ -n "${QYV:-}" ]; then
    write_doc="${WRITE_DOC:-0}"
    case "$QYV" in */debug/*) build=debug ;; esac
else
    build_qyv
fi
[ -n "${CLANG:-}" ] || { echo "clang-19 missing: run scripts/install-toolchains.sh" >&2; exit 1; }
[ -x /usr/bin/chromium ] || { echo "chromium missing: run scripts/install-toolchains.sh" >&2; exit 1; }

work="$build_dir/viz"
rm -rf "$work" && mkdir -p "$work/apps.d"
export XDG_CONFIG_HOME="$work/config" QYVOL_CACHE_DIR="$work/cache"
unset QYVOL_NODE QYVOL_TOKEN QYVOL_FINGERPRINT
"$CLANG" --target=wasm32-wasi --sysroot=/usr -O2 -s -o "$work/apps.d/idle.wasm" "$here/apps/idle/idle.c"
for i in $(seq 1 "$APPS"); do
    printf 'name: idle-%s\nentrypoint: idle.wasm\ntype: service\nrestart: always\n' "$i" >"$work/apps.d/idle-$i.qyv"
done

"$QYV" daemon --listen 127.0.0.1:0 --data-dir "$work/node" --apps-dir "$work/apps.d" \
    >"$work/daemon.out" 2>"$work/daemon.err" &
daemon=$!
trap 'kill "$daemon" 2>/dev/null || true' EXIT
for _ in $(seq 600); do
    grep -q '^  connect' "$work/daemon.out" 2>/dev/null && break
    sleep 0.1
done
QYVOL_NODE="$(sed -n 's/^qyv daemon listening on //p' "$work/daemon.out")"
QYVOL_FINGERPRINT="$(awk '$1 == "fingerprint" {print $2}' "$work/daemon.out")"
[ -n "$QYVOL_NODE" ] || { cat "$work/daemon.err" >&2; exit 1; }
QYVOL_TOKEN="$("$QYV" daemon token --data-dir "$work/node")"
export QYVOL_NODE QYVOL_FINGERPRINT QYVOL_TOKEN

# Every app runs before the page opens: the time to draw them is the page's.
for _ in $(seq 600); do
    n="$("$QYV" ps --json | "${QYV_PYTHON:-python3}" -c 'import json, sys; print(sum(a["state"] == "running" for a in json.load(sys.stdin)))')"
    [ "$n" -ge "$APPS" ] && break
    sleep 1
done
result="$("${QYV_PYTHON:-python3}" "$here/viz.py" "$APPS" "$SECONDS_MEASURED")"
kill "$daemon" && wait "$daemon" 2>/dev/null || true

section="$("${QYV_PYTHON:-python3}" - "$(machine_description)" "$("$QYV" --version)" \
    "$APPS" "$result" "$(cut -d' ' -f1-3 /proc/loadavg)" "$(chromium --version 2>/dev/null | head -n 1)" "$build" <<'PY'
import json, sys

machine, version, apps, result, load, chromium, build = sys.argv[1:]
r = json.loads(result)
apps = int(apps)
section = f"""<!-- viz:begin -->
## The dashboard with {apps:,} apps (bench/viz.sh)

{apps:,} idle services on a node (`--apps-dir`), the dashboard
(`https://NODE/ui`) in headless Chromium driven by Playwright, WebGL by
the software renderer ({r['renderer']}).

| what | measured | target |
|---|---|---|
| the page's transfer (HTML, JS, CSS; not compressed) | {r['transfer'] / 1024:.1f} KiB | |
| login to all {apps:,} apps drawn | {r['drawn_s']:.2f} s | |
| frames per second with {apps:,} apps drawn | {r['fps']:.1f} | 60 |

Command: `bench/viz.sh` ({version}, {build} build; {chromium}). Machine:
{machine}; load average {load} after (the machine is shared).
<!-- viz:end -->"""
print(section)
PY
)"
echo "$section"
if [ "$write_doc" = 1 ]; then
    write_doc_section viz "$section"
fi

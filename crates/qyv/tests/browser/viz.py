"""The dashboard in a real headless Chromium (Debian's, driven by
Playwright for Python), against a real `qyv daemon` with real apps.

Run by the e2e test `node::viz::the_dashboard_in_a_real_browser`, which
starts the node, deploys the first apps and passes everything in the
environment:

  QYV            the qyv binary (for deploy, stop, start)
  QYVOL_NODE, QYVOL_TOKEN, QYVOL_FINGERPRINT   the node, as qyv reads them
  VIZ_APPS       JSON: {"shown": [names deployed before], "later": manifest,
                 "later_name": name, "service": name, "talker": name}
  VIZ_SHOTS      folder for the screenshots (docs/img)

Checks: a wrong token gets the login page and no data; the graph draws
every app, in its state's colour; a deploy appears without a reload; a
stop changes the app's state; the log panel shows `<script>` as text and
follows new lines; after the node restarts (the script prints RESTART and
waits for `go` on its standard input) the page reconnects by itself; the
page logs no console error. Waits are bounded (a
hang fails), never timed: the seconds a deploy took to appear are
printed, not judged.
"""

import json
import os
import subprocess
import sys
import time

from playwright.sync_api import sync_playwright

NODE = os.environ["QYVOL_NODE"]
TOKEN = os.environ["QYVOL_TOKEN"]
APPS = json.loads(os.environ["VIZ_APPS"])
SHOTS = os.environ["VIZ_SHOTS"]
CHROMIUM = os.environ.get("VIZ_CHROMIUM", "/usr/bin/chromium")
STUCK_MS = 60_000

COLOURS = {"running": (0x10, 0xB9, 0x81), "failed": (0xF9, 0x73, 0x16)}


def qyv(*args):
    out = subprocess.run([os.environ["QYV"], *args], capture_output=True, text=True)
    assert out.returncode == 0, f"qyv {' '.join(args)}: {out.stderr}"
    return out.stdout


def drawn(page):
    return {d["name"]: d for d in page.evaluate("() => window.qyvolViz.drawn()")}


def wait_state(page, name, state):
    page.wait_for_function(
        "([n, s]) => window.qyvolViz.drawn().some(d => d.name === n && d.state === s)",
        arg=[name, state],
        timeout=STUCK_MS,
    )


def main():
    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True)
        context = browser.new_context(
            ignore_https_errors=True, viewport={"width": 1280, "height": 800}
        )
        page = context.new_page()
        page.on(
            "console",
            lambda m: errors.append(m.text) if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: errors.append(str(e)))

        # A wrong token: the login page again, and no data.
        page.goto(NODE + "/ui")
        page.wait_for_selector("#login:not([hidden])")
        page.screenshot(path=os.path.join(SHOTS, "viz-login.png"))
        page.fill("#token", "not-the-token")
        page.click("#login-form button")
        page.wait_for_function(
            "() => document.querySelector('#login-error').textContent.includes('refused')",
            timeout=STUCK_MS,
        )
        assert page.is_hidden("#dash")
        assert page.evaluate("() => sessionStorage.length") == 0
        assert page.evaluate("() => window.qyvolViz.drawn().length") == 0
        for name in APPS["shown"]:
            assert name not in page.content(), f"{name} shown without the token"
        # The refused request is the only error so far: Chromium logs it.
        refused = [e for e in errors if "401" in e]
        assert len(refused) == len(errors), errors
        errors.clear()

        # The token: the graph draws every app.
        page.fill("#token", TOKEN)
        page.click("#login-form button")
        page.wait_for_selector("#dash:not([hidden])")
        assert TOKEN not in page.url
        page.evaluate("() => { window.sameDocument = true; }")
        page.wait_for_function(
            "names => names.every(n => window.qyvolViz.drawn().some(d => d.name === n))",
            arg=APPS["shown"],
            timeout=STUCK_MS,
        )
        wait_state(page, APPS["service"], "running")
        wait_state(page, APPS["failed"], "failed")
        page.wait_for_function("() => window.qyvolViz.settled()", timeout=STUCK_MS)
        print(f"frames per second with {len(APPS['shown'])} apps: {page.evaluate('() => window.qyvolViz.fps()')}")
        shown = drawn(page)
        for name, state in [(APPS["service"], "running"), (APPS["failed"], "failed")]:
            d = shown[name]
            pixel = page.evaluate("([x, y]) => window.qyvolViz.pixel(x, y)", [d["x"], d["y"]])
            want = COLOURS[state]
            assert all(abs(pixel[i] - want[i]) <= 40 for i in range(3)), (name, pixel, want)
        page.screenshot(path=os.path.join(SHOTS, "viz-graph.png"))

        # A deploy appears without a reload.
        qyv("deploy", APPS["later"])
        deployed = time.monotonic()
        page.wait_for_function(
            "n => window.qyvolViz.drawn().some(d => d.name === n)",
            arg=APPS["later_name"],
            timeout=STUCK_MS,
        )
        print(f"deploy to the graph: {time.monotonic() - deployed:.3f} s after the deploy returned")
        assert page.evaluate("() => window.sameDocument === true")

        # A stop changes the state, in the graph and in the list.
        qyv("stop", APPS["service"])
        wait_state(page, APPS["service"], "stopped")
        row = page.locator("#list tbody tr", has_text=APPS["service"])
        assert row.get_attribute("data-state") == "stopped"

        # The panel: a click on the talker; its log holds <script> as text.
        talker = APPS["talker"]
        page.wait_for_function("() => window.qyvolViz.settled()", timeout=STUCK_MS)
        d = drawn(page)[talker]
        box = page.locator("#gl").bounding_box()
        page.mouse.click(box["x"] + d["x"], box["y"] + d["y"])
        page.wait_for_selector("#panel:not([hidden])")
        assert page.text_content("#p-name") == talker
        marker = "<script>window.pwned=1</script><img src=x onerror=window.pwned=2>"
        page.wait_for_function(
            "m => document.querySelector('#p-log').textContent.includes(m)",
            arg=marker,
            timeout=STUCK_MS,
        )
        assert page.locator("#p-log script, #p-log img").count() == 0
        assert page.evaluate("() => window.pwned === undefined")
        page.wait_for_function(
            "() => document.querySelectorAll('#p-revisions tr').length > 0",
            timeout=STUCK_MS,
        )
        assert "permissions.fs" in page.text_content("#p-grants")
        lines = page.evaluate("() => document.querySelectorAll('#p-log span').length")
        # The log follows: another run writes another line.
        qyv("start", talker)
        page.wait_for_function(
            "n => document.querySelectorAll('#p-log span').length > n",
            arg=lines,
            timeout=STUCK_MS,
        )
        page.screenshot(path=os.path.join(SHOTS, "viz-panel.png"))

        # The node restarts: the page reconnects by itself and goes on
        # showing changes, without a reload.
        print("RESTART", flush=True)
        assert sys.stdin.readline().strip() == "go"
        page.wait_for_function(
            "() => document.querySelector('#conn').textContent === 'live'",
            timeout=STUCK_MS,
        )
        qyv("start", APPS["service"])
        wait_state(page, APPS["service"], "running")
        assert page.evaluate("() => window.sameDocument === true")
        # The events sent again on reconnecting are not shown twice.
        shown = page.evaluate("() => [...document.querySelectorAll('#timeline li')].map(li => li.dataset.id)")
        assert len(shown) == len(set(shown)), shown
        # While the node was away, Chromium logged the cut stream and the
        # refused connections: network errors, not the page's.
        errors[:] = [e for e in errors if not e.startswith("Failed to load resource: net::ERR_")]

        # A phone: the list instead of the graph.
        page.set_viewport_size({"width": 390, "height": 760})
        page.click("#p-close")
        assert page.is_hidden("#stage")
        assert page.is_visible("#list")
        for name in APPS["shown"]:
            assert page.locator("#list tbody tr", has_text=name).count() == 1
        page.screenshot(path=os.path.join(SHOTS, "viz-list.png"))

        assert errors == [], errors
        browser.close()
    print("browser checks passed")


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print(f"assertion failed: {e}", file=sys.stderr)
        raise

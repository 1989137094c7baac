"""Measures the dashboard in headless Chromium (Playwright, Debian's
chromium, software WebGL) against a node: the page's transfer size, the
time until the graph draws every app, and frames per second over
SECONDS with every app drawn. Prints one JSON object. Run by bench/viz.sh."""

import json
import os
import sys
import time

from playwright.sync_api import sync_playwright

node, token, apps, seconds = os.environ["QYVOL_NODE"], os.environ["QYVOL_TOKEN"], int(sys.argv[1]), float(sys.argv[2])
with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=os.environ.get("VIZ_CHROMIUM", "/usr/bin/chromium"), headless=True)
    page = browser.new_context(ignore_https_errors=True, viewport={"width": 1280, "height": 800}).new_page()
    page.goto(node + "/ui")
    files = page.evaluate(
        "() => performance.getEntriesByType('navigation').concat(performance.getEntriesByType('resource'))"
        ".map(e => [e.name, e.transferSize, e.decodedBodySize])"
    )
    page.fill("#token", token)
    started = time.monotonic()
    page.click("#login-form button")
    page.wait_for_function(f"() => window.qyvolViz.drawn().length >= {apps}", timeout=600_000)
    drawn_s = time.monotonic() - started
    page.wait_for_function("() => window.qyvolViz.settled()", timeout=600_000)
    frames = page.evaluate(
        """seconds => new Promise(done => {
            let n = 0; const start = performance.now();
            const tick = t => { n += 1; if (t - start < seconds * 1000) requestAnimationFrame(tick); else done([n, t - start]); };
            requestAnimationFrame(tick);
        })""",
        seconds,
    )
    renderer = page.evaluate(
        """() => { const gl = document.createElement('canvas').getContext('webgl');
                   const d = gl.getExtension('WEBGL_debug_renderer_info');
                   return d ? gl.getParameter(d.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER); }"""
    )
    browser.close()
print(json.dumps({
    "files": files,
    "transfer": sum(f[1] for f in files),
    "body": sum(f[2] for f in files),
    "drawn_s": drawn_s,
    "fps": frames[0] * 1000 / frames[1],
    "renderer": renderer,
}))

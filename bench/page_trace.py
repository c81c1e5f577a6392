"""Where the page's main thread goes under a stream: a DevTools timeline trace of Debian's Chromium
showing one view of a 2,000-device lab while LAVA events stream in, summed by trace event name.
Prints JSON.

The same page is traced twice in one run: as shipped, and with the device tiles' containment turned
off by a rule added to its style sheet (`.tile { contain: none }`), which is how it was before (docs/performance.md,
"The page under a stream").

    python bench/page_trace.py --layout wall --rate 500 --seconds 6
"""
import argparse
import collections
import json
import pathlib
import sys
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.browser import ARGS, CHROMIUM, LAYOUTS, PROBE, seeded_lab  # noqa: E402

CATEGORIES = "devtools.timeline,disabled-by-default-devtools.timeline,v8.execute"
# Added to the page's own style sheet through the CSSOM (its Content-Security-Policy refuses an
# inline style, rightly).
UNCONTAIN = """() => {
  const sheet = [...document.styleSheets].find((s) => (s.href || "").endsWith("/dashboard.css"));
  sheet.insertRule(".tile { contain: none !important; }", sheet.cssRules.length);
}"""


def trace(browser, url, layout, devices, publisher, rate, seconds, contained):
    """{event name: % of the traced time} on the renderer's main thread, during a stream."""
    context = browser.new_context(viewport={"width": 1920, "height": 1080})
    page = context.new_page()
    page.add_init_script(PROBE % devices)
    cdp = context.new_cdp_session(page)
    page.goto(url + LAYOUTS[layout])
    page.wait_for_function("() => window.__probe && window.__probe.firstFull !== null", timeout=60000)
    if not contained:
        page.evaluate(UNCONTAIN)
    page.wait_for_timeout(2000)
    stream = publisher.stream(rate, seconds + 6)
    page.wait_for_timeout(3000)  # into the stream
    events, done = [], []
    cdp.on("Tracing.dataCollected", lambda e: events.extend(e["value"]))
    cdp.on("Tracing.tracingComplete", lambda e: done.append(True))
    frames0 = page.evaluate("() => window.__probe.frames")
    cdp.send("Tracing.start", {"categories": CATEGORIES, "transferMode": "ReportEvents"})
    page.wait_for_timeout(seconds * 1000)
    frames = page.evaluate("() => window.__probe.frames") - frames0
    cdp.send("Tracing.end")
    for _ in range(100):  # bounded: 10 s for the trace to arrive
        if done:
            break
        page.wait_for_timeout(100)
    stream.join(seconds + 20)
    context.close()
    main = {(e["pid"], e["tid"]) for e in events
            if e.get("name") == "thread_name" and e["args"].get("name") == "CrRendererMain"}
    spent = collections.Counter()
    for e in events:
        if (e.get("pid"), e.get("tid")) in main and e.get("ph") == "X" and "dur" in e:
            spent[e["name"]] += e["dur"]
    return {"fps": round(frames / seconds, 1),
            "main_thread_percent": {name: round(us / (seconds * 1e6) * 100, 1)
                                    for name, us in spent.most_common(12)}}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--layout", default="wall", choices=sorted(LAYOUTS))
    parser.add_argument("--rate", type=int, default=500, help="events per second")
    parser.add_argument("--seconds", type=int, default=6, help="traced seconds per arm")
    args = parser.parse_args()

    from playwright.sync_api import sync_playwright

    started = time.monotonic()
    with seeded_lab(args.devices) as (publisher, app):
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
            arms = {name: trace(browser, app.url, args.layout, args.devices, publisher, args.rate,
                                args.seconds, contained)
                    for name, contained in (("tiles_contained", True),
                                            ("tiles_not_contained", False))}
            browser.close()
    print(json.dumps({"benchmark": "page_trace", "command": "python " + " ".join(sys.argv),
                      "layout": args.layout, "rate": args.rate, "devices": args.devices,
                      "traced_seconds": args.seconds, "arms": arms,
                      "total_seconds": round(time.monotonic() - started, 1)}, indent=2))


if __name__ == "__main__":
    main()

"""A wall must put problems first at any screen size (the wall review's defects 1 to 5), in Debian's
Chromium: the alert banner keeps to a quarter of the screen and says the worst first; a device on an
Offline worker still says its health in words; the overview's problem counters go worst first; a
shortened hostname keeps at least three characters, unique within its group; a desk tile cuts a long
hostname's start, never its end.

One lab for every test: 71 devices, 51 of them of type bcm2711-rpi-4-b whose names differ only in
their last three characters (…-001, …-101, …-201: "01" for all of them at two characters), some
Bad, Maintenance and Looping, three on a worker that is Offline; the server's alerts (Bad,
Maintenance as critical, the worker Offline) fire at once, with long messages.
"""
import datetime
import re

import pytest

from tests.helpers import AppProcess, TestPublisher, wait_until
from tests.test_app_browser import device, job, open_page, send

TYPE = "bcm2711-rpi-4-b"
DEVICES = 71
# Every 19th device on, by its number: the problems among the 48 on the online worker.
HEALTHS = {3: "Bad", 5: "Looping", 7: "Maintenance", 11: "Bad", 13: "Bad", 17: "Looping"}
SEVERITY = {"critical": 0, "warning": 1, "info": 2}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    config = tmp_path_factory.mktemp("alerts") / "alerts.toml"
    config.write_text("[rules.device_bad]\nminutes = 0\n[rules.worker_offline]\nminutes = 0\n"
                      "[rules.device_maintenance]\nminutes = 0\nseverity = \"critical\"\n")
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--alerts-config", str(config), "--alerts-interval", "0.2",
                     "--no-store")
    try:
        publisher.wait_for_subscriber()
        send(publisher, "worker", "w1", {"hostname": "w-1", "state": "Online", "health": "Active"})
        send(publisher, "worker", "w2", {"hostname": "w-2", "state": "Offline", "health": "Active"})
        n = 0
        for hundred in range(4):
            for i in range(1, 13):
                n += 1
                send(publisher, "device", f"d{n}", device(f"{TYPE}-{hundred}{i:02d}", TYPE, "w-1", "Idle",
                                                         HEALTHS.get(n % 19, "Good")))
        # On the Offline worker: a Bad device, a Good one and one in Maintenance.
        send(publisher, "device", "o1", device(f"{TYPE}-401", TYPE, "w-2", "Idle", "Bad"))
        send(publisher, "device", "o2", device(f"{TYPE}-402", TYPE, "w-2", "Idle", "Good"))
        send(publisher, "device", "o3", device(f"{TYPE}-403", TYPE, "w-2", "Idle", "Maintenance"))
        for i in range(20):
            send(publisher, "device", f"i{i}", device(f"imx8mm-evk-{i:03d}", "imx8mm-evk", "w-1", "Idle",
                                                     "Bad" if i % 6 == 0 else "Good"))
        wait_until(lambda: len(app.json("/api/v1/state")["devices"]) == DEVICES, timeout=15, what="71 devices")
        # 12 Bad, 4 in Maintenance, the worker: 17 alerts.
        wait_until(lambda: len(app.json("/api/v1/alerts?status=firing")["alerts"]) == 17, timeout=20,
                   what="17 alerts firing")
        yield app
    finally:
        app.stop()
        publisher.close()


def open_at(browser, app, width, height, query="?wall=1", devices=DEVICES, banner=".alert-banner-more"):
    """The page once its `devices` tiles are shown; on a wall, once fitted and its banner shows
    `banner` (the fit and the banner's type settled)."""
    page = open_page(browser, width=width, height=height)
    page.goto(app.url + "/" + query)
    page.wait_for_selector("#connection[data-state=live]", timeout=15000)
    page.wait_for_function(f"() => document.querySelectorAll('[data-device]').length === {devices}", timeout=15000)
    if "wall" in query:
        page.wait_for_function("() => document.querySelector('.device-groups.is-fit') !== null", timeout=10000)
        page.wait_for_selector(f"#alert-banner {banner}", timeout=15000)
    page.wait_for_timeout(300)
    return page


BANNER = """() => {
  const banner = document.querySelector('#alert-banner');
  const font = parseFloat(getComputedStyle(banner).fontSize);
  const tiles = [...document.querySelectorAll('[data-device]')].map((el) => el.getBoundingClientRect());
  return {
    height: banner.getBoundingClientRect().height, font, wrapped: banner.classList.contains('is-wrapped'),
    lines: [...banner.querySelectorAll('.alert-banner-line')].map((p) => ({
      title: p.getAttribute('title'), text: p.textContent.trim(), height: p.getBoundingClientRect().height,
      severity: p.dataset.severity})),
    more: (banner.querySelector('.alert-banner-more') || {}).textContent,
    board: document.querySelector('#main').getBoundingClientRect().toJSON(),
    tiles: tiles.length,
    outside: tiles.filter((r) => r.top < 0 || r.bottom > innerHeight + 0.5 || r.right > innerWidth + 0.5).length,
    strip: [...document.querySelectorAll('.attention-item')].map((el) => el.dataset.alert || el.dataset.id),
  };
}"""


def minutes(text):
    """An alert's words without its current figure ("for N minutes")."""
    return re.sub(r"\bfor \d+ minutes\b", "for N minutes", text)


def test_the_wall_banner_keeps_to_a_quarter_of_the_screen_worst_first(lab, browser):
    """1920×1080, 200 % zoom of it (960×540) and a phone: the banner under about a quarter of the
    height, one line per alert with its whole text in its tooltip, "and N more" for the rest, the
    board below with every tile on the screen; critical before warning, then the newest."""
    firing = lab.json("/api/v1/alerts?status=firing")["alerts"]
    # Worst first: the severity, then the newest (ties keep the server's order, as the page's sort).
    fired = lambda a: datetime.datetime.fromisoformat(a["fired_at"]).timestamp()  # noqa: E731
    expected = [a["message"] for a in sorted(firing, key=lambda a: (SEVERITY[a["severity"]], -fired(a)))]
    assert [a["message"] for a in firing][:4] != expected[:4]  # the server's order is not the worst first
    for width, height in [(1920, 1080), (960, 540), (390, 844)]:
        page = open_at(browser, lab, width, height)
        try:
            got = page.evaluate(BANNER)
            assert got["height"] <= 0.26 * height, (width, height, got["height"])
            # The board below it keeps its share (at 1080p more than half; header, strip and
            # overview take the rest on the smaller screens), every tile on the screen.
            assert got["board"]["height"] >= (0.5 if height >= 1080 else 0.25) * height, (width, got["board"])
            assert got["tiles"] == DEVICES and got["outside"] == 0, got
            assert got["font"] >= 14, got
            shown = got["lines"]
            assert 1 <= len(shown) <= 4, shown
            for line in shown:
                # One line each; two at most where the screen is tall enough (a phone, portrait).
                assert line["height"] <= (2.7 if got["wrapped"] else 1.4) * got["font"], (width, line)
                assert line["title"] and line["text"] == line["title"], line  # the whole text, cut only by CSS
            # Each line says its severity in words first (not only by its colour)
            words = {"critical": "Critical", "warning": "Warning", "info": "Info"}
            # (A message's figure is the current one, "for 10951 minutes": it may have moved on a
            # minute between the API's answer above and the page's own poll; compared without it.)
            assert [minutes(line["title"]) for line in shown] == [
                minutes(f"{words[a['severity']]} {a['message']}") for a in sorted(
                    firing, key=lambda a: (SEVERITY[a["severity"]], -fired(a)))][:len(shown)], (shown, expected)
            assert [line["severity"] for line in shown][0] == "critical"
            assert got["more"] == f"and {len(firing) - len(shown)} more", got["more"]
            assert page.errors == [] and page.evaluate("window.__csp") == []
        finally:
            page.context.close()


def status_items(page, hostname):
    """A wall tile's status line as it is seen: its visible items (on the first line, which the
    tile shows), left to right, and any cut by the line's box."""
    return page.evaluate("""(host) => {
      const tile = document.querySelector(`[data-device="${host}"]`);
      const line = tile.querySelector('.tile-status, .tile-symbol');
      const box = line.getBoundingClientRect();
      if (line.classList.contains('tile-symbol')) return {items: [line.textContent.trim()], cut: []};
      const shown = [...line.children].map((el) => ({el, r: el.getBoundingClientRect()}))
        .filter(({r}) => r.width > 0 && r.top < box.bottom - 1);
      return {items: shown.sort((a, b) => a.r.left - b.r.left).map(({el}) => el.textContent.trim()),
        cut: shown.filter(({r}) => r.right > box.right + 1 || r.bottom > box.bottom + 1).map(({el}) => el.textContent)};
    }""", hostname)


def test_a_device_on_an_offline_worker_says_its_health_in_words_then_offline(lab, browser):
    """A medium wall tile (1920×1080): "✕ Bad" first, then the worker offline as ⊘ (and "offline"
    when it fits), nothing cut; a Good one says "⊘ offline"; one in Maintenance "⚒ Maint.". A compact tile (960×540): the health's
    symbol when it is not Good, else ⊘, never the ○ of an Idle device."""
    page = open_at(browser, lab, 1920, 1080)
    try:
        assert page.get_attribute(".device-groups", "data-detail") == "medium"
        bad = status_items(page, f"{TYPE}-401")
        assert bad["items"][:2] == ["✕", "Bad"] and "⊘" in bad["items"], bad
        assert bad["cut"] == [], bad
        good = status_items(page, f"{TYPE}-402")
        assert good["items"][:2] == ["⊘", "offline"] and good["cut"] == [], good
        # "Maintenance" never fitted a medium tile (it showed ⚒ alone): its short word does.
        maintenance = status_items(page, f"{TYPE}-007")
        assert maintenance["items"][:2] == ["⚒", "Maint."] and maintenance["cut"] == [], maintenance
        label = page.get_attribute(f'[data-device="{TYPE}-007"] button', "aria-label")
        assert "Maintenance" in label, label
        label = page.get_attribute(f'[data-device="{TYPE}-401"] button', "aria-label")
        assert "Bad" in label and "(worker offline)" in label, label
        # Hatched on the wall too, Bad or not.
        for host in ("401", "402", "403"):
            hatch = page.evaluate(f"""getComputedStyle(document.querySelector('[data-device="{TYPE}-{host}"]'))
              .backgroundImage""")
            assert "repeating-linear-gradient" in hatch, (host, hatch)
    finally:
        page.context.close()
    page = open_at(browser, lab, 960, 540)
    try:
        assert page.get_attribute(".device-groups", "data-detail") == "compact"
        symbols = {host: status_items(page, f"{TYPE}-{host}")["items"] for host in ("401", "402", "403", "001")}
        assert symbols == {"401": ["✕"], "402": ["⊘"], "403": ["⚒"], "001": ["○"]}, symbols
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


def test_the_walls_counters_put_the_worst_problem_first(lab, browser):
    """Bad, then Maintenance, then Looping (not the protocol's Looping first): a screen too narrow
    for all of them keeps the worst."""
    for width, height in [(1920, 1080), (960, 540)]:
        page = open_at(browser, lab, width, height)
        try:
            got = page.evaluate("""() => { const row = document.querySelector('[aria-label="Devices by health"]');
              const box = row.getBoundingClientRect();
              return [...row.querySelectorAll('.counter')].map((el) => [el.dataset.counter,
                el.getBoundingClientRect().top < box.bottom - 1]); }""")
            names = [name for name, _ in got]
            assert names[:3] == ["device-health-Bad", "device-health-Maintenance", "device-health-Looping"], got
            shown = [name for name, visible in got if visible]
            assert shown[:1] == ["device-health-Bad"] and shown == names[:len(shown)], got
        finally:
            page.context.close()


def test_shortened_hostnames_keep_three_characters_unique_in_their_group(lab, browser):
    """fit.js leaves room for three characters; abbreviate.js keeps the end that tells a name from
    the others of its group. On the page (960×540, compact tiles) every label is whole and unique."""
    page = open_at(browser, lab, 960, 540)
    try:
        pure = page.evaluate("""async () => {
          const { tileDetail } = await import('/static/js/fit.js');
          const { abbreviate, abbreviateGroup } = await import('/static/js/abbreviate.js');
          const sizes = [];
          // (A tile too small for three characters shows none: "bare" or "blank", chars 0.)
          for (let w = 8; w <= 60; w += 1) for (const h of [6, 10, 14, 21, 30]) {
            const d = tileDetail(w, h);
            sizes.push(['bare', 'blank'].includes(d.detail) ? (d.chars === 0 ? Infinity : -1) : d.chars);
          }
          const group = (names, prefix, max) => { const m = abbreviateGroup(names, prefix, max);
            return names.map((n) => (m && m.get(n)) || n); };
          return {
            least: Math.min(...sizes),
            rpi: group(['bcm2711-rpi-4-b-001', 'bcm2711-rpi-4-b-201', 'bcm2711-rpi-4-b-401'], 'bcm2711-rpi-4-b', 2),
            byWorker: group(['bcm2711-rpi-4-b-001', 'bcm2711-rpi-4-b-201'], null, 3),
            longer: group(['imx8-sam-1-00042', 'imx8-sam-2-00042'], null, 9),
            short: group(['qemu-07', 'qemu-08'], 'qemu', 4),
            alone: abbreviate('imx8mm-evk-sam-03', null, 8),
          };
        }""")
        assert pure["least"] >= 3, pure
        assert pure["rpi"] == ["001", "201", "401"], pure
        assert pure["byWorker"] == ["001", "201"], pure
        assert pure["longer"] == ["i…1-00042", "i…2-00042"], pure
        assert pure["short"] == ["07", "08"] and pure["alone"] == "im…am-03", pure

        assert page.get_attribute(".device-groups", "data-detail") == "compact"
        got = page.evaluate("""() => [...document.querySelectorAll('.device-group')].map((g) =>
          [...g.querySelectorAll('.tile-host')].map((el) => ({text: el.textContent,
            cut: el.scrollWidth > el.clientWidth + 1})))""")
        for labels in got:
            texts = [label["text"] for label in labels]
            assert all(len(text) >= 3 for text in texts), texts
            assert len(set(texts)) == len(texts), texts
            assert not any(label["cut"] for label in labels), labels
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


def test_a_desk_tile_cuts_the_start_of_a_long_hostname_never_its_end(lab, browser):
    """bcm2711-rpi-4-b-001 in a desk tile: its last character shows (the end tells boards apart),
    its first is the one cut, and the tooltip has the whole name."""
    page = open_at(browser, lab, 1280, 800, query="")
    try:
        got = page.evaluate("""(host) => {
          const tile = document.querySelector(`[data-device="${host}"]`);
          const el = tile.querySelector('.tile-host');
          const box = el.getBoundingClientRect();
          let text = el;
          while (text.firstChild) text = text.firstChild;
          const at = (i) => { const r = document.createRange(); r.setStart(text, i); r.setEnd(text, i + 1);
            return r.getBoundingClientRect(); };
          const last = at(text.data.length - 1), first = at(0);
          return {title: tile.getAttribute('title'), text: text.data, overflows: el.scrollWidth > el.clientWidth,
            lastInside: last.left >= box.left - 0.5 && last.right <= box.right + 0.5,
            firstInside: first.left >= box.left - 0.5 && first.right <= box.right + 0.5};
        }""", f"{TYPE}-001")
        assert got["text"] == f"{TYPE}-001" and got["title"].startswith(f"{TYPE}-001:"), got
        assert got["overflows"], got  # too long for its tile: the test means something
        assert got["lastInside"] and not got["firstInside"], got
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


# ---- the browser review's second round: A to D ---------------------------------------------------

TYPES = ["qemu", TYPE, "imx8mm-evk", "juno-r2", "x86-64-generic", "beaglebone-black"]


@pytest.fixture(scope="module")
def big():
    """500 devices of six types, some Bad, Maintenance and Looping, and 20 jobs queued for juno-r2
    (and 10 for qemu): the queue note in their group's label."""
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--no-store")
    try:
        publisher.wait_for_subscriber()
        send(publisher, "worker", "w1", {"hostname": "w-1", "state": "Online", "health": "Active"})
        for i in range(500):
            health = "Bad" if i % 17 == 3 else "Maintenance" if i % 23 == 4 else "Looping" if i % 41 == 7 else "Good"
            send(publisher, "device", f"d{i}", device(f"{TYPES[i % 6]}-{i:03d}", TYPES[i % 6], "w-1", "Idle", health))
        for k in range(30):
            send(publisher, "testjob", f"q{k}", job(5000 + k, "juno-r2" if k < 20 else "qemu", "carol", "Submitted"))
        wait_until(lambda: len(app.json("/api/v1/state")["devices"]) == 500, timeout=20, what="500 devices")
        yield app
    finally:
        app.stop()
        publisher.close()


def open_big(browser, app, width, height, query="?wall=1", scale=1):
    page = open_page(browser, width=width, height=height, device_scale_factor=scale)
    page.goto(app.url + "/" + query)
    page.wait_for_selector("#connection[data-state=live]", timeout=15000)
    page.wait_for_function("() => document.querySelectorAll('[data-device]').length === 500", timeout=15000)
    if "wall" in query:
        page.wait_for_function("() => document.querySelector('.device-groups.is-fit') !== null", timeout=5000)
    page.wait_for_timeout(300)
    return page


QUEUE_NOTES = """() => {
  const tiles = [...document.querySelectorAll('[data-device]')].map((el) => el.getBoundingClientRect());
  const hits = (r) => tiles.filter((t) => t.left < r.right - 0.5 && r.left < t.right - 0.5
    && t.top < r.bottom - 0.5 && r.top < t.bottom - 0.5).length;
  return [...document.querySelectorAll('.device-group-title')].map((title) => {
    const box = title.getBoundingClientRect();
    const name = title.querySelector('.device-group-name').getBoundingClientRect();
    const note = title.querySelector('.device-group-queue');
    const r = note && note.getBoundingClientRect();
    return {group: title.closest('.device-group').dataset.group, tooltip: title.getAttribute('title'),
      nameInside: name.right <= box.right + 1 && name.bottom <= box.bottom + 1,
      note: note && {text: note.textContent, queued: note.dataset.queued, leftOut: note.classList.contains('is-left-out'),
        font: parseFloat(getComputedStyle(note).fontSize), hits: hits(r), width: r.width, height: r.height,
        inside: r.left >= box.left - 0.5 && r.right <= box.right + 0.5 && r.top >= box.top - 0.5 && r.bottom <= box.bottom + 0.5}};
  });
}"""


def test_the_queue_note_is_whole_in_its_label_or_left_out_whole(big, browser):
    """A: 500 devices at 1920×1080 and 1080×1920: a group's "20 queued, oldest …" is either inside
    its label cell, in type of 12 px or more, over no tile, or left out whole (a screen reader still
    reads it in the heading, its tooltip has the count); the group names are whole."""
    for width, height in [(1920, 1080), (1080, 1920)]:
        page = open_big(browser, big, width, height)
        try:
            groups = page.evaluate(QUEUE_NOTES)
            notes = {g["group"]: g for g in groups if g["note"]}
            assert set(notes) == {"juno-r2", "qemu"}, groups
            for g in groups:
                assert g["nameInside"], (width, g)
            for g in notes.values():
                note = g["note"]
                assert note["text"].startswith(f"{note['queued']} queued, oldest "), note
                if note["leftOut"]:
                    assert note["width"] <= 1 and note["height"] <= 1, (width, g)
                    assert f"{note['queued']} queued" in g["tooltip"], g
                else:
                    assert note["font"] >= 12 and note["inside"], (width, g)
                assert note["hits"] == 0, (width, g)
            assert page.errors == [] and page.evaluate("window.__csp") == []
        finally:
            page.context.close()


SMALL_WALL = """() => {
  const cut = [...document.querySelectorAll('.attention *, .overview *, .device-group-title *')]
    // (A row of counters holds more than it shows: its hidden second row; its counters are checked below.)
    .filter((el) => !el.closest('.is-left-out') && !el.matches('.counters') && el.getBoundingClientRect().width > 0
      && el.scrollWidth > el.clientWidth + 1)
    .map((el) => `${el.className}: ${el.textContent.trim()}`);
  const list = document.querySelector('.attention-items');
  const box = list.getBoundingClientRect();
  const cells = [...list.children].map((el) => ({text: el.textContent.trim(), r: el.getBoundingClientRect()}));
  const overlaps = [];
  cells.forEach((a, i) => cells.slice(i + 1).forEach((b) => {
    if (a.r.left < b.r.right - 0.5 && b.r.left < a.r.right - 0.5) overlaps.push([a.text, b.text]);
  }));
  const outside = cells.filter(({r}) => r.left < box.left - 0.5 || r.right > box.right + 0.5).map((c) => c.text);
  const counters = [];
  for (const row of document.querySelectorAll('.overview .counters')) {
    const b = row.getBoundingClientRect();
    for (const c of row.querySelectorAll('.counter')) {
      const r = c.getBoundingClientRect();
      if (r.top < b.bottom - 1 && (r.right > b.right + 0.5 || r.bottom > b.bottom + 0.5)) counters.push(c.textContent);
    }
  }
  const names = [...document.querySelectorAll('.device-group-title')].filter((t) => {
    const b = t.getBoundingClientRect(); const r = t.querySelector('.device-group-name').getBoundingClientRect();
    return r.right > b.right + 1 || r.bottom > b.bottom + 1; }).map((t) => t.textContent);
  const more = document.querySelector('.attention-more');
  return {cut, overlaps, outside, counters, names, items: cells.length, shown: document.querySelectorAll('.attention-item').length,
    count: Number(document.querySelector('.attention').dataset.count), more: more && more.textContent};
}"""


def test_a_small_wall_leaves_out_whole_what_does_not_fit(lab, browser):
    """B: 320×568 and 1366×768 at 200 % (683×384): no text of the strip, the overview or a group's
    label cut ("2 Offlin", "rpi-4-"), no two attention cells overlapping or outside the strip, and
    "and N more" counting the items left out."""
    for width, height, scale in [(320, 568, 1), (683, 384, 2)]:
        page = open_page(browser, width=width, height=height, device_scale_factor=scale)
        try:
            page.goto(lab.url + "/?wall=1")
            page.wait_for_selector("#connection[data-state=live]", timeout=15000)
            page.wait_for_function(f"() => document.querySelectorAll('[data-device]').length === {DEVICES}", timeout=15000)
            page.wait_for_function("() => document.querySelector('.device-groups.is-fit') !== null", timeout=5000)
            page.wait_for_timeout(500)
            got = page.evaluate(SMALL_WALL)
            assert got["cut"] == [] and got["overlaps"] == [] and got["outside"] == [], (width, got)
            assert got["counters"] == [], (width, got)
            if got["more"]:
                assert got["more"] == f"and {got['count'] - got['shown']} more", got
            assert page.errors == [] and page.evaluate("window.__csp") == []
        finally:
            page.context.close()


def test_a_phone_desk_has_the_heading_above_the_items_and_no_sideways_scroll(big, browser):
    """C: at 320×568 the strip's heading is above its items, each as wide as the strip, the queue
    chips wrap and the page does not scroll sideways; at 768 every counter is inside its card."""
    page = open_big(browser, big, 320, 568, query="")
    try:
        got = page.evaluate("""() => {
          const strip = document.querySelector('.attention').getBoundingClientRect();
          const title = document.querySelector('.attention-title').getBoundingClientRect();
          const items = [...document.querySelectorAll('.attention-item')].map((el) => el.getBoundingClientRect());
          return {scroll: document.documentElement.scrollWidth, width: innerWidth, strip: strip.toJSON(),
            titleBottom: title.bottom, firstTop: items[0].top, narrowest: Math.min(...items.map((r) => r.width)),
            chips: document.querySelectorAll('.queue-type').length};
        }""")
        assert got["chips"] == 2, got
        assert got["scroll"] <= got["width"], got
        assert got["titleBottom"] <= got["firstTop"] + 0.5, got
        assert got["narrowest"] >= 0.85 * got["strip"]["width"], got
    finally:
        page.context.close()
    page = open_big(browser, big, 768, 1024, query="")
    try:
        out = page.evaluate("""() => [...document.querySelectorAll('.overview-card')].flatMap((card) => {
          const b = card.getBoundingClientRect();
          return [...card.querySelectorAll('.counter')].filter((c) => c.getBoundingClientRect().right > b.right - 1)
            .map((c) => c.textContent); })""")
        assert out == [], out
        assert page.evaluate("document.documentElement.scrollWidth") <= 768
        assert page.errors == [] and page.evaluate("window.__csp") == []
    finally:
        page.context.close()


def test_the_boards_problems_first_order_is_the_overviews(lab, browser):
    """D: sort=problems puts a device on an Offline worker first, then Bad, Maintenance, Looping
    (the overview's order), Unknown, the rest, Retired last; on the page the group's tiles so."""
    page = open_at(browser, lab, 1280, 800, query="?sort=problems")
    try:
        ranks = page.evaluate("""async () => { const s = await import('/static/js/selectors.js');
          return ['Bad', 'Maintenance', 'Looping', 'Unknown', 'Good', 'Retired'].map((health) =>
            s.problemRank({hostname: 'x', worker: 'w', health}, new Set())); }""")
        assert ranks == sorted(ranks) and len(set(ranks)) == len(ranks), ranks
        order = page.evaluate(f"""() => [...document.querySelectorAll('[data-device-type="{TYPE}"] [data-device]')]
          .filter((el) => !el.classList.contains('tile-worker-offline'))
          .map((el) => ['bad', 'maintenance', 'looping'].find((h) => el.classList.contains('health-' + h)) || 'good')""")
        seen = [h for i, h in enumerate(order) if i == 0 or order[i - 1] != h]
        assert seen == ["bad", "maintenance", "looping", "good"], seen
    finally:
        page.context.close()


def test_a_running_device_of_unknown_health_says_so_in_words_on_a_medium_tile(browser):
    """An audit found medium wall tiles showing "▶ ?": a Running device of health Unknown (a health
    check running) lost its state word to the health's, and the word "Unknown" did not fit, which
    left two bare symbols. Now the health's "?" comes only with its word, first (a later audit: a
    grey bar alone said Unknown), then the state in words where it fits (both are in the tile's
    label and tooltip: "Running, health Unknown")."""
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--no-store")
    page = None
    try:
        publisher.wait_for_subscriber()
        send(publisher, "worker", "w1", {"hostname": "w-1", "state": "Online", "health": "Active"})
        for i in range(DEVICES):
            running = i % 10 == 0
            send(publisher, "device", f"d{i}", device(f"{TYPE}-{i:03d}", TYPE, "w-1", "Running" if running else "Idle",
                                                     "Unknown" if running else "Good", job=5000 + i if running else None))
        wait_until(lambda: len(app.json("/api/v1/state")["devices"]) == DEVICES, timeout=15, what="every device")
        page = open_page(browser, width=1920, height=1080)
        page.goto(app.url + "/?wall=1")
        page.wait_for_selector("#connection[data-state=live]", timeout=15000)
        page.wait_for_function("() => document.querySelector('.device-groups.is-fit') !== null", timeout=15000)
        page.wait_for_timeout(300)
        assert page.get_attribute(".device-groups", "data-detail") == "medium"
        for i in range(0, DEVICES, 10):
            host = f"{TYPE}-{i:03d}"
            got = status_items(page, host)
            assert got["cut"] == [], (host, got)
            # Every item seen has a word, and "?" never alone; the health first ("? Unknown": a
            # health that is not Good wins the room), then the state's ("▶ Running") where it fits.
            assert got["items"] and all(any(c.isalpha() for c in item) for item in got["items"]), (host, got)
            assert got["items"][0] == "? Unknown" and got["items"][1:] in ([], ["▶ Running"]), (host, got)
            label = page.get_attribute(f'[data-device="{host}"] button', "aria-label")
            assert label.startswith(f"{host}: Running, health Unknown, job #{5000 + i}"), label
        assert page.errors == [] and page.evaluate("window.__csp") == []
        page.context.close()
        # A desk tile (1280×800) says it the same way: the health's symbol and word go together
        # ("▶ Running ?" said no more), first (a new user's walk-through found "? Unknown" wrapped
        # out of sight behind the state on narrow desk tiles), the state after where it fits.
        page = open_page(browser, width=1280, height=800)
        page.goto(app.url + "/?view=devices")
        page.wait_for_selector(f'[data-device="{TYPE}-000"]', timeout=15000)
        for i in range(0, DEVICES, 10):
            got = status_items(page, f"{TYPE}-{i:03d}")
            assert got["items"][0] == "? Unknown" and got["items"][1:] in ([], ["▶ Running"]), got
            assert all(any(c.isalpha() for c in item) for item in got["items"]), got
    finally:
        if page is not None:
            page.context.close()
        app.stop()
        publisher.close()

"""A small wall never shows a hostname cut below three characters (Debian's Chromium, Playwright,
the app as a subprocess on 127.0.0.1, every wait bounded). An audit found every label cut at 800×600
with 300 devices ("001" needed 14.6 px and got 5.3) and 7 px type showing one digit at 1280×720
with 2,000. Each tile shown now holds a label of at least three characters, whole inside its tile,
or no label at all, and then the board says in words, once, why it names no device.
"""
import pytest

from tests.helpers import AppProcess, TestPublisher, wait_until
from tests.test_app_browser import device, open_page, send

TYPES = ["qemu", "bcm2711-rpi-4-b", "imx8mm-evk", "juno-r2", "x86-64-generic", "beaglebone-black",
         "hi6220-hikey", "rk3399-rock-pi-4b", "meson-g12b-a311d", "sun50i-h6-orangepi", "dragonboard-845c",
         "mustang"]
HEALTHS = ["Good"] * 30 + ["Bad", "Maintenance", "Unknown", "Looping"]


def fill(publisher, count, types):
    for i in range(count):
        dtype = types[i % len(types)]
        send(publisher, "device", f"d{i}", device(f"{dtype}-{i:04d}", dtype, f"w-{i % 4}", "Idle",
                                                  HEALTHS[i % len(HEALTHS)]))


@pytest.fixture(scope="module", params=[300, 2000], ids=["300", "2000"])
def lab(request, tmp_path_factory):
    """The devices, some Bad or in Maintenance: their alerts fire at once, and the wall's banner
    takes its share of the screen above the board (as in the audit)."""
    count = request.param
    config = tmp_path_factory.mktemp("alerts") / "alerts.toml"
    config.write_text("[rules.device_bad]\nminutes = 0\n[rules.device_maintenance]\nminutes = 0\n")
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--no-store", "--alerts-config", str(config),
                     "--alerts-interval", "0.2")
    try:
        publisher.wait_for_subscriber()
        fill(publisher, count, TYPES[:8] if count == 300 else TYPES)
        wait_until(lambda: len(app.json("/api/v1/state")["devices"]) == count, timeout=60,
                   what=f"{count} devices")
        app.count = count
        yield app
    finally:
        app.stop()
        publisher.close()


# Every tile's label as it is seen: its text, its width and its box's (which cuts it), and
# whether the box lies inside its tile (which clips); the board's note, and whether it is inside.
LABELS = """() => {
  const board = document.querySelector('.fit-box').getBoundingClientRect();
  const tiles = [...document.querySelectorAll('[data-device]')].map((tile) => {
    const t = tile.getBoundingClientRect();
    const host = tile.querySelector('.tile-host');
    const shown = host && getComputedStyle(host).display !== 'none' && host.textContent.trim() !== '';
    if (!shown) return {shown: false, text: ''};
    const r = host.getBoundingClientRect();
    // (Fractions count: a text wider than its box by a tenth of a pixel is shown as "…1".)
    const text = tile.querySelector('.tile-host-name').getBoundingClientRect();
    return {shown: true, text: host.textContent.trim(), scroll: text.width, client: r.width,
      inside: r.left >= t.left - 0.5 && r.right <= t.right + 0.5 && r.top >= t.top - 0.5 && r.bottom <= t.bottom + 0.5,
      font: parseFloat(getComputedStyle(host).fontSize), w: t.width, h: t.height};
  });
  const notes = [...document.querySelectorAll('.fit-note')];
  const note = notes[0];
  const n = note && note.getBoundingClientRect();
  const doc = document.documentElement;
  return {tiles, notes: notes.length, note: note ? note.textContent.trim() : '',
    noteInside: !!note && n.width > 0 && n.left >= board.left - 0.5 && n.right <= board.right + 0.5
      && n.top >= board.top - 0.5 && n.bottom <= board.bottom + 0.5 && note.scrollWidth <= note.clientWidth + 1,
    scroll: doc.scrollWidth > innerWidth || doc.scrollHeight > innerHeight,
    detail: document.querySelector('.device-groups').dataset.detail};
}"""

SIZES = {300: [(800, 600), (640, 360)], 2000: [(1280, 720), (800, 600), (640, 360), (1920, 1080)]}


def test_a_small_wall_shows_three_characters_of_each_hostname_or_none(lab, browser):
    for width, height in SIZES[lab.count]:
        page = open_page(browser, width=width, height=height)
        try:
            page.goto(lab.url + "/?wall=1")
            page.wait_for_selector("#connection[data-state=live]", timeout=15000)
            page.wait_for_function(f"() => document.querySelectorAll('[data-device]').length === {lab.count}",
                                   timeout=30000)
            page.wait_for_function("() => document.querySelector('.device-groups.is-fit') !== null", timeout=10000)
            page.wait_for_selector("#alert-banner .alert-banner-more", timeout=20000)
            page.wait_for_timeout(300)  # the fit settled
            got = page.evaluate(LABELS)
            tiles = got["tiles"]
            assert len(tiles) == lab.count and not got["scroll"], (width, height, got["scroll"])  # every device
            named = [t for t in tiles if t["shown"]]
            for tile in named:
                assert len(tile["text"]) >= 3, (width, height, tile)
                assert tile["scroll"] <= tile["client"] + 0.01 and tile["inside"], (width, height, tile)
            if len(named) < len(tiles):
                # None named (never some): and the board says why, once, in words, inside itself.
                assert named == [], (width, height, len(named))
                assert got["notes"] == 1 and "larger screen" in got["note"] and got["noteInside"], (width, height, got)
            else:
                assert got["notes"] == 0, (width, height, got["note"])
            if (width, height) == (1920, 1080):
                assert len(named) == lab.count  # a 1080p wall names all 2,000
            assert page.errors == [], page.errors
        finally:
            page.context.close()


def test_a_wall_shows_a_hostname_whole_when_it_fits_measured_not_counted(browser):
    """A wall audit: at 1920×1080 the simulated lab's "rpi4b-01" showed as "rp…b-01", though it
    fit: fit.js counts each letter as wide as a digit (0.68 em; "rpi4b-01" is 4.8 em in DejaVu Sans
    Bold, not 5.4). A group whose names all fit, measured (textwidth.js), shows them whole; one
    whose names do not is still shortened, and no name is wider than its box."""
    publisher = TestPublisher()
    app = AppProcess("--zmq", publisher.endpoint, "--no-store")
    groups = [("bcm2711-rpi-4-b", "rpi4b-{:02d}", 8), ("beaglebone-black", "bbb-{:02d}", 9),
              ("docker", "docker-{:02d}", 10), ("qemu", "qemu-{:02d}", 14), ("x86", "x86-{:02d}", 9)]
    try:
        publisher.wait_for_subscriber()
        for dtype, pattern, count in groups:
            for i in range(1, count + 1):
                send(publisher, "device", f"{dtype}{i}", device(pattern.format(i), dtype, "w-1",
                                                                 "Running" if i % 3 else "Idle"))
        wait_until(lambda: len(app.json("/api/v1/state")["devices"]) == 50, timeout=20, what="50 devices")
        page = open_page(browser, width=1920, height=1080)
        try:
            page.goto(app.url + "/?wall=1")
            page.wait_for_function("() => document.querySelectorAll('[data-device]').length === 50",
                                   timeout=15000)
            page.wait_for_function("() => document.querySelector('.device-groups.is-fit') !== null",
                                   timeout=10000)
            page.wait_for_timeout(300)  # the fit settled
            got = page.evaluate("""async () => {
              const { boldWidthEm, allFit } = await import('/static/js/textwidth.js');
              const tiles = [...document.querySelectorAll('[data-device]')].map((tile) => {
                const box = tile.querySelector('.tile-host').getBoundingClientRect();
                const text = tile.querySelector('.tile-host-name').getBoundingClientRect();
                return {device: tile.dataset.device, shown: tile.querySelector('.tile-host').textContent.trim(),
                        fits: text.width <= box.width + 0.01};
              });
              return {tiles, rpi: boldWidthEm('rpi4b-01'), digits: boldWidthEm('00000000'),
                      none: allFit(['x'], 0)};
            }""")
            assert got["rpi"] < 0.9 * got["digits"] and got["none"] is False, got
            rpi = [t for t in got["tiles"] if t["device"].startswith("rpi4b")]
            assert [t["shown"] for t in rpi] == [t["device"] for t in rpi], rpi
            assert all(t["fits"] for t in got["tiles"]), [t for t in got["tiles"] if not t["fits"]]
            assert page.errors == [], page.errors
        finally:
            page.context.close()
    finally:
        app.stop()
        publisher.close()

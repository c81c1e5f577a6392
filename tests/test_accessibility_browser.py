"""Accessibility as a test (issue 13, item 7): axe-core (through axe-playwright-python, pinned in
requirements-test.txt) on every view, light and dark, on the desk and on the wall, with a device's
details open on the desk; a serious or critical violation fails. The simulated lab, seeded, with a
rule that fires at once (a device in Maintenance, critical), so that the alerts table, the attention
strip's alert item and the wall's banner are checked too. Two rules of lesser impact fail as well:
`region` (everything in a landmark) and `aria-allowed-role` (the details panel was an <aside> with
role=dialog). And the stale state (the server gone): text contrast still AA, desk and wall, light
and dark, while the page says and shows that it is stale.
"""
import pytest

from tests.helpers import AppProcess
from tests.test_app_browser import open_page

DESK_VIEWS = ["all", "devices", "jobs", "workers", "feed", "charts", "alerts", "reports"]
WALL_VIEWS = ["devices", "jobs", "workers", "feed", "all", "charts"]
FAILING = ("serious", "critical")
# Rules that fail whatever axe's impact for them (moderate, minor): an audit found both.
ALWAYS = ("region", "aria-allowed-role")
# What each view shows once it has its data (the charts, alerts and reports ask the REST API).
READY = {"charts": ".chart[data-status=ok]", "alerts": ".alert-row", "reports": "[data-report-row]"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    config = tmp_path_factory.mktemp("alerts") / "alerts.toml"
    config.write_text('[rules.device_maintenance]\nminutes = 0\nseverity = "critical"\n')
    app = AppProcess("--sim-devices", "30", "--sim-seed", "5", "--sim-speed", "4",
                     "--alerts-config", str(config), "--alerts-interval", "0.5")
    try:
        yield app
    finally:
        app.stop()


@pytest.fixture(scope="module")
def axe():
    from axe_playwright_python.sync_playwright import Axe
    return Axe()


def problems(axe, page, **options):
    results = axe.run(page, **options)
    return [f"{v['impact']} {v['id']}: {v['help']} — "
            + "; ".join(n["target"][0] if n["target"] else "?" for n in v["nodes"][:4])
            for v in results.response["violations"] if v["impact"] in FAILING or v["id"] in ALWAYS]


@pytest.mark.parametrize("theme", ["light", "dark"])
@pytest.mark.parametrize("wall", [False, True], ids=["desk", "wall"])
def test_every_view_has_no_serious_accessibility_violation(sim, browser, axe, theme, wall):
    page = open_page(browser, width=1920 if wall else 1280, height=1080 if wall else 800)
    found = {}
    try:
        for view in (WALL_VIEWS if wall else DESK_VIEWS):
            query = f"?view={view}&theme={theme}" + ("&wall=1" if wall else "")
            page.goto(sim.url + "/" + query)
            if view in READY:
                page.wait_for_selector(READY[view], timeout=15000)
                page.wait_for_timeout(1500)
            else:
                page.wait_for_selector("#connection[data-state=live]", timeout=10000)
                page.wait_for_selector("[data-device], .job-rows, .workers, .feed-item, .empty", timeout=10000)
                page.wait_for_timeout(500)
            found[view] = problems(axe, page)
        if not wall:  # a device's details, open beside the board
            page.goto(sim.url + f"/?theme={theme}")
            page.wait_for_selector("[data-device]", timeout=10000)
            page.click("[data-device] button")
            page.wait_for_selector("#detail", timeout=5000)
            page.wait_for_timeout(1000)
            found["detail"] = problems(axe, page)
        bad = {view: v for view, v in found.items() if v}
        for view, v in bad.items():
            print(theme, "wall" if wall else "desk", view, *v, sep="\n  ")
        assert bad == {}
        assert page.errors == []
    finally:
        page.context.close()


def test_the_stale_state_keeps_aa_contrast_and_says_it_is_stale(browser, axe):
    """The server gone (killed: no goodbye): desk and wall, light and dark, the data is marked stale
    in words (the header's "stale", the connection's "Offline") and by a dashed, hatched frame, and
    axe's color-contrast finds nothing (opacity 0.5 and grayscale once took the text under 4.5:1)."""
    app = AppProcess("--sim-devices", "30", "--sim-seed", "5", "--sim-speed", "4", "--no-store")
    pages = {}
    try:
        for wall in (False, True):
            for theme in ("light", "dark"):
                page = open_page(browser, width=1920 if wall else 1280, height=1080 if wall else 800)
                page.goto(app.url + f"/?theme={theme}" + ("&wall=1" if wall else ""))
                page.wait_for_selector("#connection[data-state=live]", timeout=15000)
                page.wait_for_selector("[data-device]", timeout=10000)
                pages[("wall" if wall else "desk", theme)] = page
        app.kill()
        found = {}
        for name, page in pages.items():
            page.wait_for_selector('#dashboard[data-stale="true"]', timeout=15000)
            page.wait_for_selector("#connection[data-state=offline]", timeout=15000)
            page.wait_for_timeout(500)
            marks = page.evaluate("""() => {
              const board = getComputedStyle(document.querySelector('#main'));
              const overview = getComputedStyle(document.querySelector('.overview'));
              return {label: document.querySelector('#stale-label').textContent.trim(),
                connection: document.querySelector('.connection-label').textContent,
                outline: board.outlineStyle, hatch: board.backgroundImage,
                faded: [board, overview].some((s) => s.opacity !== '1' || s.filter !== 'none')};
            }""")
            assert marks["label"] == "stale" and marks["connection"].startswith("Offline"), (name, marks)
            assert marks["outline"] == "dashed" and "gradient" in marks["hatch"], (name, marks)
            assert not marks["faded"], (name, marks)
            found[name] = problems(axe, page, options={"runOnly": ["color-contrast"]})
        bad = {name: v for name, v in found.items() if v}
        for name, v in bad.items():
            print(*name, *v, sep="\n  ")
        assert bad == {}
        for page in pages.values():
            assert all("WebSocket" in e or "ERR_CONNECTION_REFUSED" in e for e in page.errors), page.errors
    finally:
        for page in pages.values():
            page.context.close()
        app.stop()

"""Shared fixtures, and the `unit` marker given to every test under tests/unit/."""
import pathlib
import warnings

import pytest

from tests.helpers import CHROMIUM, CHROMIUM_ARGS, OPEN_VIEWS

UNIT = pathlib.Path(__file__).resolve().parent / "unit"


def pytest_collection_modifyitems(config, items):
    """Everything under tests/unit/ is pure and fast: `-m unit` runs it alone, `-m "not unit"` the rest."""
    for item in items:
        if UNIT in item.path.resolve().parents:
            item.add_marker(pytest.mark.unit)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for every browser test (each test opens its own context)."""
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@pytest.fixture(autouse=True)
def close_live_views():
    """After each test, close the LiveViews it left open. One left reconnecting ran on through every
    later test of its worker, and its jitter's draws on the `random` module made Hypothesis warn
    ("Do not use the `random` module inside strategies") in test_parse_property."""
    yield
    for view in list(OPEN_VIEWS):
        try:
            view.close()
        except Exception as exc:  # one that fails to close must not keep the others open
            OPEN_VIEWS.discard(view)
            warnings.warn(f"a LiveView did not close: {exc!r}")

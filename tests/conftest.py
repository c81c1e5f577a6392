"""Shared fixtures, and the `unit` marker given to every test under tests/unit/."""
import pathlib

import pytest

from tests.helpers import CHROMIUM, CHROMIUM_ARGS

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

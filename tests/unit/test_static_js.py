"""The single-page app's sources read as text, without a browser (in a browser:
tests/test_app_browser.py)."""
import re

from tests.helpers import ROOT


def test_components_take_html_from_html_js():
    """The standalone bundle's `html` caches static elements (see static/vendor/README.md)."""
    offenders = [p.name for p in (ROOT / "static" / "js").glob("*.js")
                 if re.search(r'import \{[^}]*\bhtml\b[^}]*\} from "/static/vendor/htm/standalone',
                              p.read_text())]
    assert offenders == []

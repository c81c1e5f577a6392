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


def frontend_map(text):
    """The .js names in docs/frontend.md's "Files" section (its role tables)."""
    section = text.split("\n## Files\n", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"`([A-Za-z0-9_]+\.js)`", section))


def test_the_frontend_map_names_exactly_the_files_in_static_js():
    """docs/frontend.md's map by role stays true: a file added, renamed or removed changes it."""
    on_disk = {p.name for p in (ROOT / "static" / "js").glob("*.js")}
    named = frontend_map((ROOT / "docs" / "frontend.md").read_text())
    assert {"missing from the map": on_disk - named, "not in static/js": named - on_disk} == {
        "missing from the map": set(), "not in static/js": set()}


def test_the_map_check_reads_only_the_files_section():
    """The check can fail: a name outside the section does not count, one inside does."""
    text = "# x\n`a.js`\n## Files\n| `b.js`, `C.js` (`d.js`) | uses `e.json` |\n## Next\n`f.js`\n"
    assert frontend_map(text) == {"b.js", "C.js", "d.js"}

"""The layering of dashboard/ (README, "How it works"): imports go downward only, and core/ is pure.

Read from the source with `ast`, every import counts, including those inside functions, so that the
layering cannot erode without this test saying where.
"""
import ast
import pathlib
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2] / "dashboard"
# Higher imports lower, never the reverse. Packages of the same rank do not import each other.
# alerts/ uses core/ only (its rules are pure; the store and Apprise are handed to it), and is
# wired by the factory.
RANK = {"core": 0, "sources": 1, "storage": 1, "alerts": 1, "live": 2, "web": 3, "top": 4}
# What core/ may use besides itself and the standard library: no Flask, no sockets, no Apprise; only
# orjson (core/jsontext.py: values ↔ JSON text, pure functions, no I/O). An allow-list, so that a
# package nobody thought of is caught too.
CORE_ALLOWED_THIRD_PARTY = {"orjson"}


def core_may_import(target):
    """True for the standard library, our own package and the allowed third-party names."""
    top = target.split(".")[0]
    return top in sys.stdlib_module_names or top == "dashboard" or top in CORE_ALLOWED_THIRD_PARTY


def layer_of(module):
    """`dashboard.core.state` → core; `dashboard.config` (and the package itself) → top."""
    parts = module.split(".")
    return parts[1] if len(parts) >= 2 and parts[1] in RANK else "top"


def imports(path):
    """Every module this file imports (absolute names), with its line."""
    tree = ast.parse(path.read_text(), str(path))
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this file's package
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                name = f"{base}.{node.module}" if node.module else base
            else:
                name = node.module
            yield name, node.lineno
            for alias in node.names:  # `from dashboard.live import cluster` imports a module
                yield f"{name}.{alias.name}", node.lineno


def modules():
    for path in sorted(ROOT.rglob("*.py")):
        name = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts)
        yield name.removesuffix(".__init__"), path


def violations():
    out = []
    for name, path in modules():
        mine = layer_of(name)
        for target, line in imports(path):
            if mine == "core" and not core_may_import(target):
                out.append(f"{path.name}:{line}: core imports {target}")
            if not target.startswith("dashboard.") or target == "dashboard":
                continue
            theirs = layer_of(target)
            if theirs == mine:
                continue
            if target in ("dashboard.__version__",):
                continue
            if RANK[theirs] >= RANK[mine]:
                out.append(f"{path.relative_to(ROOT.parent)}:{line}: {mine} imports {target} ({theirs})")
    return out


@pytest.mark.unit
def test_imports_go_downward_only():
    assert violations() == []


@pytest.mark.unit
def test_the_checker_sees_a_violation(tmp_path, monkeypatch):
    """The check itself can fail: an upward import in a copy of core/ is reported."""
    bad = tmp_path / "dashboard" / "core"
    bad.mkdir(parents=True)
    (bad / "bad.py").write_text("def f():\n    from dashboard.web import api\n    import flask\n"
                                "    import apprise.plugins\n    from prometheus_client import Gauge\n"
                                "    import some_package_nobody_listed\n"
                                "    import json, os.path\n    from . import state\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path / "dashboard")
    found = violations()
    assert any("core imports dashboard.web.api" in v for v in found), found
    for name in ("flask", "apprise.plugins", "prometheus_client", "some_package_nobody_listed"):
        assert any(v.endswith(f"core imports {name}") for v in found), (name, found)
    # The standard library and core's own modules are not reported.
    assert not any(v.endswith(("imports json", "imports os.path", "imports dashboard.core.state"))
                   for v in found), found
    # Lines 2-6 of bad.py are the violations; 7 and 8 (stdlib, core itself) are not.
    assert {int(v.split(":")[1]) for v in found} == {2, 3, 4, 5, 6}, found


@pytest.mark.unit
def test_an_allowed_third_party_name_is_not_reported(tmp_path, monkeypatch):
    """CORE_ALLOWED_THIRD_PARTY is what the check reads: a name in it passes, others still fail."""
    bad = tmp_path / "dashboard" / "core"
    bad.mkdir(parents=True)
    (bad / "ok.py").write_text("import attrs\nimport websocket\n")
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path / "dashboard")
    monkeypatch.setattr(sys.modules[__name__], "CORE_ALLOWED_THIRD_PARTY", {"attrs"})
    assert violations() == ["ok.py:2: core imports websocket"]


@pytest.mark.unit
def test_every_layer_exists():
    """The layers the README names are packages here (a rename must update this test and the docs)."""
    for layer in ("core", "sources", "storage", "live", "web"):
        assert (ROOT / layer / "__init__.py").is_file(), layer

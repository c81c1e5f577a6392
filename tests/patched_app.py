"""app.py with some module constants set first: `python -m tests.patched_app MODULE.NAME=VALUE ...
-- <app.py's arguments>`. For a test that would otherwise wait out a fixed production interval (a
minute of messages before LAVA's clock offset is known): the rest is the real app, and each such
interval keeps its own unit test at its real value."""
import ast
import importlib
import sys


def main(argv):
    cut = argv.index("--")
    for item in argv[:cut]:
        name, _, value = item.partition("=")
        module, _, attribute = name.rpartition(".")
        target = importlib.import_module(module)
        if not hasattr(target, attribute):  # a constant renamed: say so, not set a new one
            sys.exit(f"tests.patched_app: {module} has no {attribute}")
        setattr(target, attribute, ast.literal_eval(value))
    import app

    app.main(argv[cut + 1:])


if __name__ == "__main__":
    main(sys.argv[1:])

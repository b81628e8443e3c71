"""Every fivefold module imports on its own, first, in a fresh interpreter (no import cycles)."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import pkgutil, sys
import fivefold
names = [m.name for m in pkgutil.walk_packages(fivefold.__path__, "fivefold.")]
failed = []
for name in names:
    for loaded in [k for k in sys.modules if k == "fivefold" or k.startswith("fivefold.")]:
        del sys.modules[loaded]
    try:
        __import__(name)
    except Exception as err:  # report every failure, not just the first
        failed.append(f"{name}: {type(err).__name__}: {err}")
print(len(names))
print("\\n".join(failed))
sys.exit(1 if failed else 0)
"""


def test_every_module_imports_first() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], check=False, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert int(done.stdout.split()[0]) > 50


LOOP_ONLY = """
import sys
import fivefold.training.fit
loaded = sorted(m for m in sys.modules if m.startswith("fivefold."))
heavy = [m for m in ("peft", "kornia", "fairlearn", "captum") if m in sys.modules]
print(" ".join(loaded))
print(" ".join(heavy) or "-")
"""


def test_the_training_loop_imports_no_technique_or_pillar() -> None:
    done = subprocess.run(
        [sys.executable, "-c", LOOP_ONLY], check=True, capture_output=True, text=True, timeout=300
    )
    loaded, heavy = done.stdout.splitlines()
    above = ("fivefold.attacks", "fivefold.techniques", "fivefold.pillars", "fivefold.runner")
    assert [m for m in loaded.split() if m.startswith(above)] == []
    assert heavy == "-"


def test_dir_lists_the_public_names() -> None:
    import fivefold

    names = dir(fivefold)
    assert {"run_experiment", "load_experiment", "Task", "TECHNIQUES"} <= set(names)
    assert "importlib" not in names and "TYPE_CHECKING" not in names
    assert all(hasattr(fivefold, n) for n in names)

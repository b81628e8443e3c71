"""Report fixtures: copies of the committed result folders, and a run with hostile names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

FIXTURES = Path(__file__).parent / "fixtures"
PAYLOAD = (
    "<script>window.__pwned=1;document.title='pwned'</script>"
    '<img src=x onerror="window.__pwned=2">'
)


@pytest.fixture
def payload() -> str:
    """A script payload put into user-provided strings by ``hostile_dir``."""
    return PAYLOAD


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A writable copy of the digits fixture run (3 recipes, a failed trial)."""
    shutil.copytree(
        FIXTURES / "run", tmp_path / "run", ignore=shutil.ignore_patterns("*.html", "*.md")
    )
    return tmp_path / "run"


@pytest.fixture
def fairness_dir(tmp_path: Path) -> Path:
    """A writable copy of the Adult fixture run (groups, tabular attributions)."""
    shutil.copytree(
        FIXTURES / "fairness", tmp_path / "fair", ignore=shutil.ignore_patterns("*.html", "*.md")
    )
    return tmp_path / "fair"


def _rename(node: object, old: str, new: str) -> object:
    if isinstance(node, dict):
        return {_rename(k, old, new): _rename(v, old, new) for k, v in node.items()}
    if isinstance(node, list):
        return [_rename(v, old, new) for v in node]
    return node.replace(old, new) if isinstance(node, str) else node


@pytest.fixture
def hostile_dir(tmp_path: Path) -> Path:
    """The fairness run with the payload in the experiment, a recipe, a group, a class and a
    feature name, plus a failed trial whose error message is the payload."""
    out = tmp_path / "hostile"
    for path in sorted((FIXTURES / "fairness").rglob("result.json")):
        result = json.loads(path.read_text())
        result = _rename(result, ">50K", ">50K" + PAYLOAD)  # a class name
        result = _rename(result, "Female", "Female" + PAYLOAD)  # a group name
        result["experiment"] = "exp" + PAYLOAD
        if result["trial"]["recipe"] == "reweigh":
            result["trial"]["recipe"] = "re" + PAYLOAD
        target = out / "trials" / f"t{len(list(out.rglob('result.json')))}" / "result.json"
        target.parent.mkdir(parents=True)
        target.write_text(json.dumps(result))
    failed = json.loads(target.read_text())
    failed.update(status="failed", metrics={}, pillars={})
    failed["trial"] = {**failed["trial"], "seed": 7, "key": "fail" + PAYLOAD}
    failed["error"] = {"type": "ValueError" + PAYLOAD, "message": PAYLOAD, "traceback": PAYLOAD}
    (out / "trials" / "failed").mkdir()
    (out / "trials" / "failed" / "result.json").write_text(json.dumps(failed))
    return out

"""Report generation speed: 10 recipes × 3 seeds of realistic result files → report.html.

The result files are synthesised from the test fixture (a real digits run with every pillar):
each recipe gets its own offset and each seed its own noise on every score, curve and table
value, so the report has as many distinct charts, cells and tests as a real run of that size.

    python benchmarks/report_speed.py [--recipes 10] [--seeds 3] [--repeats 3]

Targets: under 5 s per report and an HTML file under 5 MB.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "report" / "fixtures" / "run"
# Axis values (x of curves, bin edges, settings) are kept; every other float is varied.
KEEP = {
    "fraction",
    "severity",
    "eps",
    "strength",
    "lo",
    "hi",
    "coverage",
    "threshold",
    "edits",
    "temperature",
    "values",
    "attributions",
    "scale",
    "n",
    "count",
    "example",
    "seed",
    "n_in",
    "n_out",
    "probability",
}


def _vary(node: Any, key: str, factor: float, rng: random.Random) -> Any:
    if key in KEEP:
        return node
    if isinstance(node, dict):
        return {k: _vary(v, k, factor, rng) for k, v in node.items()}
    if isinstance(node, list):
        return [_vary(v, key, factor, rng) for v in node]
    if isinstance(node, float):
        value = node * factor * (1 + rng.gauss(0, 0.01))
        return min(1.0, max(0.0, value)) if 0.0 <= node <= 1.0 else value
    return node


def synthesise_result(
    source: dict[str, Any], recipe: str, seed: int, factor: float, rng: random.Random
) -> dict[str, Any]:
    """A copy of ``source`` as trial (recipe, seed) with its metrics and tables varied."""
    out = copy.deepcopy(source)
    out["trial"] = {**source["trial"], "recipe": recipe, "seed": seed}
    out["trial"]["key"] = (
        f"{recipe}/seed-{seed}"
        if source["trial"]["fraction"] >= 1.0
        else f"{recipe}/fraction-{source['trial']['fraction']:g}/seed-{seed}"
    )
    out["config"]["recipe"] = [] if recipe == "baseline" else [{"technique": recipe}]
    for part in ("metrics", "pillars"):
        out[part] = _vary(source[part], part, factor, rng)
    out["timings"] = _vary(source["timings"], "timings", factor, rng)
    return out


def synthesise_run(
    sources: list[dict[str, Any]], out_dir: Path, recipes: list[str], seeds: list[int]
) -> None:
    """Write ``out_dir/trials/<recipe>/.../result.json`` for every recipe × seed × source."""
    for r, recipe in enumerate(recipes):
        factor = 1.0 - 0.03 * r
        for seed in seeds:
            rng = random.Random(f"{recipe}/{seed}")
            for source in sources:
                result = synthesise_result(source, recipe, seed, factor, rng)
                path = out_dir / "trials" / result["trial"]["key"] / "result.json"
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(json.dumps(result))


def _sources() -> list[dict[str, Any]]:
    """The fixture's baseline results of seed 0 (the full trial and its refits)."""
    found = [json.loads(p.read_text()) for p in sorted(FIXTURE.rglob("result.json"))]
    return [r for r in found if r["trial"]["recipe"] == "baseline" and r["trial"]["seed"] == 0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--recipes", type=int, default=10)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "src"))
    from fivefold.report import write_report

    recipes = ["baseline"] + [f"recipe_{i}" for i in range(1, args.recipes)]
    tmp = Path(tempfile.mkdtemp(prefix="fivefold-report-"))
    try:
        synthesise_run(_sources(), tmp, recipes, list(range(args.seeds)))
        times = []
        for _ in range(args.repeats):
            start = time.perf_counter()
            html_path, _ = write_report(tmp)
            times.append(time.perf_counter() - start)
        size = html_path.stat().st_size
        n = len(list(tmp.rglob("result.json")))
        print(f"{args.recipes} recipes × {args.seeds} seeds ({n} result files)")
        print(
            f"report time: median {statistics.median(times):.2f} s "
            f"({' '.join(f'{t:.2f}' for t in times)})"
        )
        print(f"report.html: {size / 1e6:.2f} MB")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

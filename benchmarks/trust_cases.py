"""The numbers-trust cases, re-run: data that is not built in, used as a new user would.

Each case writes a user file (scikit-learn's breast cancer and diabetes as CSV, the UCR
ArrowHead series from the sktime wheel as NPZ), runs the ``fivefold`` command on it and prints
what the user sees: the warnings, the significance claims, the calibration notes and the
audit's class order and scored rows. "Before" columns are what the same run reported before
these checks (reproduced here with the old behaviour's settings, e.g. ``train.min_val_rows=0``
or the paired t-test over seeds alone).

Usage: ``python benchmarks/trust_cases.py [--out runs/trust-cases] [--only arrowhead ...]``
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

from _common import arrowhead_npz, cpu_model, load_average

CLI = str(Path(sys.executable).parent / "fivefold")


def fivefold(*args: str) -> tuple[int, str]:
    """Run the CLI; return its exit code and its output (stdout + stderr)."""
    done = subprocess.run([CLI, *args], capture_output=True, text=True, check=False)
    return done.returncode, done.stdout + done.stderr


def result_files(run: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted(run.glob("trials/*/seed-*/result.json"))]


def experiment(root: Path, name: str, data: str, extra: str = "") -> Path:
    path = root / f"{name}.toml"
    path.write_text(
        textwrap.dedent(
            f"""\
            name = "{name}"
            seeds = [0, 1, 2]
            pillars = ["generalization", "safety"]
            [data]
            {data}
            {extra}
            [recipes]
            baseline = []
            """
        )
    )
    return path


def case_arrowhead(root: Path) -> None:
    """1. A collapsed model: ArrowHead at the defaults, selecting epochs on 3 val series."""
    npz = arrowhead_npz(root / "arrowhead.npz")
    data = f'dataset = "npz"\npath = "{npz}"'
    print("\n## 1. ArrowHead at the defaults (3 val series)\n")
    print("| setting | per-seed test accuracy | warnings per trial |")
    print("|---|---|---|")
    for label, overrides in (
        (
            "before: 30 epochs, patience 10, epoch selected on 3 val rows",
            ["train.epochs=30", "train.patience=10", "train.min_val_rows=0"],
        ),
        ("after: defaults (auto epochs, last epoch kept, warned)", []),
    ):
        out = root / f"arrowhead-{len(overrides)}"
        sets = [a for o in overrides for a in ("--set", o)]
        _, text = fivefold(
            "run", str(experiment(root, "arrowhead", data)), "--out", str(out), *sets
        )
        results = result_files(out)
        accs = ", ".join(f"{r['metrics']['test_accuracy']:.4f}" for r in results)
        kinds = sorted({w.split(":")[0] for r in results for w in r.get("warnings", [])})
        print(f"| {label} | {accs} | {'; '.join(kinds) or 'none'} |")
        for line in text.splitlines():
            if line.startswith("! ") or line.startswith("  ! "):
                print(f"    {line.strip()}")


def breast_cancer_csv(root: Path, labels: str) -> Path:
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer(as_frame=True)
    frame = bunch.frame.rename(columns={"target": "label"})
    if labels == "names":
        frame["label"] = [bunch.target_names[v] for v in bunch.target]
    path = root / f"breast_cancer_{labels}.csv"
    frame.to_csv(path, index=False)
    return path


def case_significance_and_calibration(root: Path) -> None:
    """2 and 3. Significance with 2, 3 and 5 seeds; temperature scaling on 46 val rows."""
    from fivefold.results.stats import paired_t_test

    csv = breast_cancer_csv(root, "ids")
    data = f'dataset = "csv"\npath = "{csv}"\ntarget = "label"'
    noise = '{technique = "augment", tabular_ops = ["gaussian_noise"]}'
    recipes = f"[recipes]\nbaseline = []\nnoise = [{noise}]"
    print("\n## 2. Significance: breast cancer CSV, baseline vs augment(noise)\n")
    print("| seeds | Δ test accuracy | before: paired t over seeds | after |")
    print("|---|---|---|---|")
    for seeds in ([0, 1], [0, 1, 2], [0, 1, 2, 3, 4]):
        path = root / f"sig-{len(seeds)}.toml"
        path.write_text(
            f'name = "sig"\nseeds = {seeds}\npillars = ["generalization", "safety"]\n'
            f"[data]\n{data}\n{recipes}\n"
        )
        out = root / f"sig-{len(seeds)}"
        fivefold("run", str(path), "--out", str(out))
        card = json.loads((out / "scorecard.json").read_text())
        base = card["recipes"]["baseline"]["metrics"]["test_accuracy"]
        other = card["recipes"]["noise"]["metrics"]["test_accuracy"]
        old = paired_t_test(base["values"], other["values"])
        vs = other["vs_baseline"]
        after = (
            f"p = {vs['p_value']:.3g} ({vs['test']})" if vs["p_value"] is not None else vs["reason"]
        )
        print(f"| {len(seeds)} | {vs['difference']:+.4f} | p = {old:.3g} | {after} |")
    # the case: a change identical in every seed (one more test row right)
    from fivefold.results.stats import compare

    rows = [float(c) for c in result_files(root / "sig-3")[0]["test_examples"]["correct"]]
    better = list(rows)
    better[better.index(0.0)] = 1.0
    base, other = [rows] * 3, [better] * 3
    acc = [sum(rows) / len(rows)] * 3
    plus = [sum(better) / len(better)] * 3
    seeds = [0, 1, 2]
    old = compare(acc, seeds, plus, seeds)
    new = compare(acc, seeds, plus, seeds, base_examples=base, other_examples=other)
    print(
        f"\nThe same +{100 / len(rows):.2f}-point change in each of 3 seeds ({len(rows)} test "
        "rows): paired t over seeds before: p = 0 (zero spread, marked significant); now over "
        f"seeds only: {old.reason}; seed × example t: p = {new.p_value:.3g}"
    )
    print("\n## 3. Temperature scaling fitted on the 46 val rows of the same CSV\n")
    out = root / "sig-3"
    for r in result_files(out)[:3]:
        safety = r["pillars"]["safety"]
        rows = {row["stage"]: row for row in safety["tables"]["calibration"]}
        note = next(n for n in safety["notes"] if n.startswith("temperature scaling"))
        print(f"- {r['trial']['key']}: NLL raw {rows['raw']['nll']:.4f}; {note}")


def case_audit(root: Path) -> None:
    """4. Audit traps: string labels sorted alphabetically; a file without a test split."""
    import torch
    from safetensors.torch import save_file
    from sklearn.datasets import load_breast_cancer
    from torch import nn

    bunch = load_breast_cancer()
    x = (bunch.data - bunch.data.mean(0)) / bunch.data.std(0, ddof=1)
    y = bunch.target  # scikit-learn's encoding: 0 = malignant, 1 = benign
    torch.manual_seed(0)
    net = nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 2))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    xt, yt = torch.tensor(x, dtype=torch.float32), torch.tensor(y)
    for _ in range(300):  # the user's own model, trained on every row
        opt.zero_grad()
        nn.functional.cross_entropy(net(xt), yt).backward()
        opt.step()
    weights = root / "user_net.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(weights))
    (root / "user_nets.py").write_text(
        "from torch import nn\n\ndef make():\n"
        "    return nn.Sequential(nn.Linear(30, 32), nn.ReLU(), nn.Linear(32, 2))\n"
    )
    csv = breast_cancer_csv(root, "names")
    print("\n## 4. Audit of a model trained with 0 = malignant, on a CSV of label names\n")
    for label, extra in (
        ("default class order", []),
        ("--classes malignant,benign", ["--classes", "malignant,benign"]),
    ):
        out = root / f"audit-{len(extra)}"
        args = ["audit", "--model", "user_nets:make", "--weights", str(weights), "--data"]
        args += [str(csv), "--pillars", "generalization", "safety", "--out", str(out), *extra]
        code, text = run_in(root, args)
        result = json.loads((out / "trials" / "audit" / "result.json").read_text())
        print(f"### {label}: test accuracy {result['metrics']['test_accuracy']:.4f} (exit {code})")
        for line in text.splitlines():
            if line.startswith(("scored", "class order", "!")):
                print(f"    {line}")
        report_code, _ = fivefold("report", str(out))
        print(f"    `fivefold report {out.name}`: exit {report_code}")


def run_in(folder: Path, args: list[str]) -> tuple[int, str]:
    """The CLI run from ``folder`` (so that the user's module imports)."""
    done = subprocess.run([CLI, *args], capture_output=True, text=True, check=False, cwd=folder)
    return done.returncode, done.stdout + done.stderr


def case_regression(root: Path) -> None:
    """5. A regression target: scikit-learn's diabetes progression as a CSV label."""
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame.rename(columns={"target": "label"})
    csv = root / "diabetes.csv"
    frame.to_csv(csv, index=False)
    path = experiment(root, "diabetes", f'dataset = "csv"\npath = "{csv}"')
    code, text = fivefold("run", str(path), "--out", str(root / "diabetes"))
    print("\n## 5. Diabetes (a continuous target) as labels\n")
    print(f"exit {code}: {text.strip().splitlines()[-1]}")


CASES = {
    "arrowhead": case_arrowhead,
    "significance": case_significance_and_calibration,
    "audit": case_audit,
    "regression": case_regression,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="runs/trust-cases")
    parser.add_argument("--only", nargs="+", choices=list(CASES), default=list(CASES))
    args = parser.parse_args()
    root = Path(args.out).resolve()
    root.mkdir(parents=True, exist_ok=True)
    print(f"# Trust cases (CPU {cpu_model()}, load average {load_average():.2f})")
    start = time.perf_counter()
    for name in args.only:
        CASES[name](root)
    print(f"\n({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()

"""Each built-in dataset: fivefold's default model next to scikit-learn LogisticRegression.

Both see exactly the same train/val/test split from ``load_task`` (LogisticRegression is fitted
on train + val, on standardised flattened features — TF-IDF 1–2-grams for text). The default
model is trained by ``fivefold.run_experiment`` at the default training settings over several
seeds ("after"), and at the defaults before ``epochs = "auto"`` ("before": 30 epochs, patience
10, the epoch selected on any validation split), next to a published number for a model of its
kind on the same benchmark.

Usage: ``python benchmarks/default_models_vs_logreg.py [--seeds 0 1 2] [--only digits adult]``
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from _common import arrowhead_npz, cpu_model, load_average
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fivefold.config import parse_experiment
from fivefold.data import DataConfig, Split, Task, load_task
from fivefold.results.scorecard import mean_std
from fivefold.runner.run import run_experiment
from fivefold.schema import build
from fivefold.training.config import TrainConfig

# Per-dataset data options (the training settings are the defaults being checked).
DATA: dict[str, dict[str, Any]] = {
    "digits": {},
    "fashion_mnist": {"max_train": 10000},
    "basic_motions": {},
    "gunpoint": {},
    "italy_power_demand": {},
    "arrowhead": {},  # UCR ArrowHead from the sktime wheel, as a user's npz file
    "adult": {},
    "rotten_tomatoes": {},
}

# Published accuracy of a model of the kind, on the same benchmark (split as published).
PUBLISHED: dict[str, tuple[float | None, str]] = {
    "digits": (None, "no standard split"),
    "fashion_mnist": (0.897, "SVC, best of Xiao et al. 2017's benchmark (60k train)"),
    "basic_motions": (1.0, "ROCKET, Ruiz et al. 2021"),
    "gunpoint": (0.991, "ResNet, Fawaz et al. 2019; 1NN-DTW 0.907, Dau et al. 2019"),
    "italy_power_demand": (0.963, "ResNet, Fawaz et al. 2019; 1NN-DTW 0.950"),
    "arrowhead": (0.845, "ResNet, Fawaz et al. 2019; 1NN-DTW 0.703"),
    "adult": (0.859, "NBTree, Kohavi 1996"),
    "rotten_tomatoes": (0.761, "CNN-rand on MR, Kim 2014 (a 10.7k-snippet variant)"),
}

# The defaults before this release, for the "before" column.
OLD_DEFAULTS = {"epochs": 30, "patience": 10, "min_val_rows": 0}


def data_options(name: str) -> dict[str, Any]:
    if name == "arrowhead":
        return {"dataset": "npz", "path": str(arrowhead_npz(Path("runs/bench-default/ah.npz")))}
    return {"dataset": name, **DATA[name]}


def flat(split: Split) -> np.ndarray:
    x = split.x
    parts = [x[k] for k in sorted(x)] if isinstance(x, dict) else [x]
    return torch.cat([p.flatten(1).float() for p in parts], dim=1).numpy()


def logreg_accuracy(task: Task) -> float:
    train_y = torch.cat([task.train.y, task.val.y]).numpy()
    if task.train.texts is not None:
        assert task.val.texts is not None and task.test.texts is not None
        model = make_pipeline(
            TfidfVectorizer(ngram_range=(1, 2), min_df=2), LogisticRegression(max_iter=2000, C=4.0)
        )
        model.fit([*task.train.texts, *task.val.texts], train_y)
        return float(model.score(list(task.test.texts), task.test.y.numpy()))
    model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))
    model.fit(np.concatenate([flat(task.train), flat(task.val)]), train_y)
    return float(model.score(flat(task.test), task.test.y.numpy()))


def default_model_accuracy(
    name: str, seeds: list[int], train: dict[str, Any], tag: str, model: dict[str, Any]
) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "name": f"bench-{name}",
        "seeds": seeds,
        "output": f"runs/bench-default/{name}-{tag}{'-' + model['name'] if model else ''}",
        "data": data_options(name),
        "train": train,
        "recipes": {"baseline": []},
    }
    exp = parse_experiment(raw | ({"model": model} if model else {}))
    summary = run_experiment(exp)
    ok = [r for r in summary.results if r["status"] == "ok"]
    accs = [r["metrics"]["test_accuracy"] for r in ok]
    mean, std = mean_std(accs)
    model = summary.results[0]["model"]
    return {
        "model": model["name"],
        "params": model["params_total"],
        "mean": mean,
        "std": std,
        "values": accs,
        "epochs_run": [r["training"]["epochs_run"] for r in ok],
        "warnings": sorted({w.split(":")[0] for r in ok for w in r.get("warnings", [])}),
        "seconds_per_seed": summary.seconds / len(seeds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", default=list(DATA), choices=list(DATA))
    parser.add_argument("--model", help="a model instead of the default, e.g. gru")
    parser.add_argument(
        "--option", nargs="*", default=[], help="model options, e.g. hidden_size=128 num_layers=2"
    )
    args = parser.parse_args()
    model: dict[str, Any] = {}
    if args.model:
        model = {"name": args.model}
        for item in args.option:
            key, value = item.split("=", 1)
            model[key] = json.loads(value)
    print(f"# CPU {cpu_model()}, load average {load_average():.2f}", flush=True)
    rows = []
    for name in args.only:
        cfg = build(DataConfig, data_options(name), "data")
        task = load_task(cfg)
        start = time.perf_counter()
        logreg = logreg_accuracy(task)
        lr_seconds = time.perf_counter() - start
        new = default_model_accuracy(name, args.seeds, {}, "after", model)
        old_cfg = build(TrainConfig, OLD_DEFAULTS, "train").resolved(len(task.train))
        new_cfg = build(TrainConfig, {}, "train").resolved(len(task.train))
        same = (old_cfg.epochs, old_cfg.patience) == (new_cfg.epochs, new_cfg.patience)
        same = same and len(task.val) >= new_cfg.min_val_rows
        old = (
            new if same else default_model_accuracy(name, args.seeds, OLD_DEFAULTS, "before", model)
        )
        published, source = PUBLISHED[name]
        row = {
            "dataset": name,
            "n_train": len(task.train),
            "n_val": len(task.val),
            "n_test": len(task.test),
            "logreg": round(logreg, 4),
            "logreg_seconds": round(lr_seconds, 2),
            "published": published,
            "source": source,
            "default_model": new["model"] + (f" {args.option}" if args.option else ""),
            "params": new["params"],
            "epochs_after": new_cfg.epochs,
            "before_mean": round(old["mean"], 4),
            "before_std": round(old["std"], 4),
            "after_mean": round(new["mean"], 4),
            "after_std": round(new["std"], 4),
            "after_epochs_run": new["epochs_run"],
            "after_warnings": new["warnings"],
            "same_settings": same,
            "seconds_per_seed": round(new["seconds_per_seed"], 1),
        }
        rows.append(row)
        print(json.dumps(row), flush=True)
    print(
        "\n| dataset | train / val / test | published (source) | LogReg | default model | "
        "before | after (epochs) |"
    )
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        pub = "—" if r["published"] is None else f"{r['published']:.3f}"
        before = (
            "same settings"
            if r["same_settings"]
            else (f"{r['before_mean']:.4f} ± {r['before_std']:.4f}")
        )
        print(
            f"| {r['dataset']} | {r['n_train']:,} / {r['n_val']:,} / {r['n_test']:,} | {pub} "
            f"({r['source']}) | {r['logreg']:.4f} | {r['default_model']} ({r['params']:,}) | "
            f"{before} | {r['after_mean']:.4f} ± {r['after_std']:.4f} ({r['epochs_after']}) |"
        )


if __name__ == "__main__":
    main()

"""Each built-in dataset: fivefold's default model next to scikit-learn LogisticRegression.

Both see exactly the same train/val/test split from ``load_task`` (LogisticRegression is fitted
on train + val, on standardised flattened features — TF-IDF 1–2-grams for text). The default
model is trained by ``fivefold.run_experiment`` with the settings below over several seeds.

Usage: ``python benchmarks/default_models_vs_logreg.py [--seeds 0 1 2] [--only digits adult]``
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np
import torch
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from fivefold.config import parse_experiment
from fivefold.data import DataConfig, Split, Task, load_task
from fivefold.results.scorecard import mean_std
from fivefold.runner.run import run_experiment

# Per-dataset settings: data options and training settings of the default model.
SETTINGS: dict[str, dict[str, Any]] = {
    "digits": {"data": {}, "train": {"epochs": 30}},
    "fashion_mnist": {"data": {"max_train": 10000}, "train": {"epochs": 15, "batch_size": 128}},
    "basic_motions": {"data": {}, "train": {"epochs": 100, "batch_size": 16, "patience": 30}},
    "gunpoint": {"data": {}, "train": {"epochs": 150, "batch_size": 16, "patience": 40}},
    "italy_power_demand": {"data": {}, "train": {"epochs": 100, "batch_size": 16, "patience": 30}},
    "adult": {"data": {"sensitive": "sex"}, "train": {"epochs": 15, "batch_size": 256}},
    "rotten_tomatoes": {"data": {}, "train": {"epochs": 10, "batch_size": 64}},
}


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


def default_model_accuracy(name: str, seeds: list[int]) -> dict[str, Any]:
    settings = SETTINGS[name]
    exp = parse_experiment(
        {
            "name": f"bench-{name}",
            "seeds": seeds,
            "output": f"runs/bench-default/{name}",
            "data": {"dataset": name, **settings["data"]},
            "train": settings["train"],
            "recipes": {"baseline": []},
        }
    )
    summary = run_experiment(exp)
    accs = [r["metrics"]["test_accuracy"] for r in summary.results if r["status"] == "ok"]
    mean, std = mean_std(accs)
    model = summary.results[0]["model"]
    return {
        "model": model["name"],
        "params": model["params_total"],
        "mean": mean,
        "std": std,
        "values": accs,
        "seconds_per_seed": summary.seconds / len(seeds),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", nargs="+", default=list(SETTINGS))
    args = parser.parse_args()
    for name in args.only:
        task = load_task(DataConfig(dataset=name, **SETTINGS[name]["data"]))
        start = time.perf_counter()
        logreg = logreg_accuracy(task)
        lr_seconds = time.perf_counter() - start
        ours = default_model_accuracy(name, args.seeds)
        row = {
            "dataset": name,
            "n_train": len(task.train),
            "n_test": len(task.test),
            "logreg": round(logreg, 4),
            "logreg_seconds": round(lr_seconds, 2),
            "default_model": ours["model"],
            "params": ours["params"],
            "accuracy_mean": round(ours["mean"], 4),
            "accuracy_std": round(ours["std"], 4),
            "delta_points": round(100 * (ours["mean"] - logreg), 2),
            "seconds_per_seed": round(ours["seconds_per_seed"], 1),
        }
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()

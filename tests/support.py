"""Helpers shared by tests (importable: pytest puts tests/ on sys.path)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from fivefold.config import Experiment, parse_experiment
from fivefold.data.task import ModalityInfo, Split, Task
from fivefold.data.text import WordVocab


def fit_tiny_mlp(x: torch.Tensor, y: torch.Tensor, n_classes: int, steps: int) -> nn.Module:
    """A 4-16-C MLP fitted full-batch with Adam for ``steps`` steps (seeded)."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(x.shape[1], 16), nn.ReLU(), nn.Linear(16, n_classes))
    opt = torch.optim.Adam(model.parameters(), lr=0.05)
    for _ in range(steps):
        opt.zero_grad()
        torch.autograd.backward(nn.functional.cross_entropy(model(x), y))
        opt.step()
    return model


def tiny_task(kind: str, n: int = 96, seed: int = 0) -> Task:
    """A small learnable 3-class task of one modality (image, sequence, tabular or text).

    Inputs of image and sequence tasks lie in [0, 1] (their ``bounds``); the tabular task has
    four numeric features and one three-way one-hot categorical feature; the text task has
    raw texts, token ids and a fitted vocabulary.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(n) % 3
    texts: list[str] | None = None
    encoder = None
    if kind == "image":
        x = 0.3 * torch.rand(n, 1, 8, 8, generator=g)
        for c in range(3):  # class c lights up a horizontal band
            x[y == c, 0, 2 * c + 1 : 2 * c + 3, :] += 0.6
        info = ModalityInfo("image", (1, 8, 8), bounds=(0.0, 1.0))
    elif kind == "sequence":
        t = torch.linspace(0, 1, 40)
        x = 0.5 + 0.1 * torch.randn(n, 2, 40, generator=g)
        x[:, 0] += 0.3 * torch.sin(2 * torch.pi * (y[:, None] + 1) * t)
        x = x.clamp(0, 1)
        info = ModalityInfo("sequence", (2, 40), bounds=(0.0, 1.0), feature_names=("a", "b"))
    elif kind == "tabular":
        num = torch.randn(n, 4, generator=g) + torch.nn.functional.one_hot(y, 4)[:, :4] * 2.0
        cat = torch.nn.functional.one_hot(torch.randint(0, 3, (n,), generator=g), 3).float()
        x = torch.cat([num, cat], dim=1)
        names = ("f0", "f1", "f2", "f3", "c=a", "c=b", "c=c")
        info = ModalityInfo("tabular", (7,), feature_names=names, categorical=((4, 5, 6),))
    elif kind == "text":
        words = [["good", "great", "fine"], ["bad", "awful", "poor"], ["table", "chair", "lamp"]]
        filler = ["the", "a", "movie", "was", "it", "and", "plot"]
        texts = []
        for i, label in enumerate(y.tolist()):
            pick = torch.randint(0, 3, (3,), generator=g).tolist()
            fill = torch.randint(0, len(filler), (4,), generator=g).tolist()
            tokens = [words[label][p] for p in pick] + [filler[f] for f in fill]
            order = torch.randperm(len(tokens), generator=torch.Generator().manual_seed(i))
            texts.append(" ".join(tokens[j] for j in order.tolist()))
        encoder = WordVocab.fit(texts, min_count=1, max_len=12)
        x = encoder(texts)
        info = encoder.info()
    else:
        raise ValueError(kind)
    parts = {
        "train": slice(0, n // 2),
        "val": slice(n // 2, 3 * n // 4),
        "test": slice(3 * n // 4, n),
    }
    splits = {
        name: Split(x[part], y[part], None, None if texts is None else tuple(texts[part]))
        for name, part in parts.items()
    }
    return Task(f"tiny-{kind}", splits, {"x": info}, ("a", "b", "c"), text_encoder=encoder)


def tiny_experiment(tmp_path: Path, **overrides: Any) -> Experiment:
    """A one-seed, one-epoch digits MLP experiment writing to ``tmp_path / "run"``."""
    raw: dict[str, Any] = {
        "name": "t",
        "seeds": [0],
        "output": str(tmp_path / "run"),
        "data": {"dataset": "digits"},
        "model": {"name": "mlp", "hidden": [16]},
        "train": {"epochs": 1},
        "recipes": {"baseline": []},
    }
    return parse_experiment(raw | overrides)


def run_bad_experiment(tmp_path: Path, text: str, words: Sequence[str]) -> None:
    """Run ``fivefold run`` on the experiment ``text`` in a subprocess and check the bad-input
    contract: exit code 2, one stderr line holding every one of ``words`` (case-insensitive),
    no traceback, and no file written or changed."""
    import os
    import subprocess
    import sys

    def snapshot() -> dict[str, bytes]:
        return {
            str(p.relative_to(tmp_path)): p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()
        }

    (tmp_path / "exp.toml").write_text(text, encoding="utf-8")
    before = snapshot()
    env = {k: v for k, v in os.environ.items() if k != "FIVEFOLD_DEBUG"}
    done = subprocess.run(
        [sys.executable, "-m", "fivefold.cli", "run", "exp.toml", "--out", "out"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    for word in words:
        assert word.lower() in lines[0].lower(), lines[0]
    assert snapshot() == before, "a failed run changed files"
    out = tmp_path / "out"
    assert not out.exists() or not any(out.iterdir()), "a run that failed left files"

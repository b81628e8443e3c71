"""Built-in drifting streams (``sea_stream``, ``hyperplane_stream``, ``agrawal_stream``,
``rbf_stream``): river's SEA, rotating hyperplane, Agrawal and random RBF.

Each dataset is one stream of 20,000 rows with three drifts, at rows 5,000, 10,000 and
15,000, and its own test set: 2,000 fresh rows of the last concept, so the pillars score the
model on the concept as it stands at the end of the stream. The rows in arrival order are
the task's "stream" split (what ``continual`` with ``scenario = "stream"`` learns from, test
then train); the same rows, shuffled and split as usual, are the train and validation splits
of offline training (a model fitted on every concept at once).

Features are z-scored with the mean and std of the first 1,000 stream rows, the statistics an
online learner could know when the stream starts; nothing later leaks into the scaling.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import torch

from fivefold.data.config import DataConfig
from fivefold.data.drift import DriftGenerator, drift_stream
from fivefold.data.raw import DATASETS, RawData, reject_options
from fivefold.data.task import ModalityInfo, Split

__all__ = ["DRIFTS", "STREAM_ROWS", "TEST_ROWS", "WARMUP_ROWS", "load_drifting"]

STREAM_ROWS = 20_000
DRIFTS = (5_000, 10_000, 15_000)
TEST_ROWS = 2_000
WARMUP_ROWS = 1_000
_WIDTHS: dict[str, int] = {"sea": 1, "hyperplane": 500, "agrawal": 1, "rbf": 1}
"""Transition width of each drift: sudden, except the hyperplane's gradual rotation."""


def load_drifting(cfg: DataConfig, generator: DriftGenerator) -> RawData:
    """The stream of ``generator`` (seeded by ``data.split_seed``) with its last-concept test.

    Raises:
        ConfigError: data.path or data.sensitive given (these streams read no files).
    """
    reject_options(cfg, path=True, sensitive=True)
    width, seed = _WIDTHS[generator], cfg.split_seed
    stream = drift_stream(generator, n=STREAM_ROWS, drifts=DRIFTS, width=width, seed=seed)
    # fresh rows of the last concept: the same concepts, the mixing drawn past the last drift
    tail = drift_stream(
        generator, n=DRIFTS[-1] + 2 * width + TEST_ROWS, drifts=DRIFTS, width=width, seed=seed
    )
    mean = stream.x[:WARMUP_ROWS].mean(axis=0)
    std = stream.x[:WARMUP_ROWS].std(axis=0)
    std = np.where(std > 0, std, 1.0)

    def split(x: npt.NDArray[np.float32], y: npt.NDArray[np.int64]) -> Split:
        scaled = np.ascontiguousarray((x - mean) / std, dtype=np.float32)
        return Split(torch.from_numpy(scaled), torch.from_numpy(y.astype(np.int64)))

    ordered = split(stream.x, stream.y)
    test = split(tail.x[-TEST_ROWS:], tail.y[-TEST_ROWS:])
    info = ModalityInfo("tabular", (stream.x.shape[1],), feature_names=stream.feature_names)
    facts: dict[str, str | int | float] = {
        "drift_positions": ",".join(str(p) for p in stream.drift_positions),
        "drift_widths": ",".join(str(w) for w in stream.widths),
        "concepts": " | ".join(stream.concepts),
    }
    return RawData(
        ordered,
        {"x": info},
        stream.class_names,
        test=test,
        source=f"river.datasets.synth ({generator}, seed {seed})",
        stream=ordered,
        stream_info=facts,
    )


_HELP = {
    "sea": "SEA concepts (Street & Kim 2001): 3 features, sudden drifts at rows 5k/10k/15k "
    "of a 20k-row stream",
    "hyperplane": "rotating hyperplane (Hulten et al. 2001): gradual drifts (width 500) at "
    "rows 5k/10k/15k of a 20k-row stream",
    "agrawal": "Agrawal loan concepts (Agrawal et al. 1993): 9 features, sudden drifts at "
    "rows 5k/10k/15k of a 20k-row stream",
    "rbf": "random RBF concepts (MOA): sudden drifts at rows 5k/10k/15k of a 20k-row stream",
}


def _register(generator: DriftGenerator) -> None:
    def loader(cfg: DataConfig) -> RawData:
        return load_drifting(cfg, generator)

    loader.__doc__ = f"The {generator} stream (see :func:`load_drifting`)."
    DATASETS.register(f"{generator}_stream", help=_HELP[generator])(loader)


for _generator in ("sea", "hyperplane", "agrawal", "rbf"):
    _register(_generator)

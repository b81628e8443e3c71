"""``load_task``: a registered loader's raw data → a split, encoded and shifted :class:`Task`."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path

import torch

from fivefold.data.config import DataConfig
from fivefold.data.labels import check_classes, class_names, class_order, renumber
from fivefold.data.raw import DATASETS, RawData
from fivefold.data.shifts import apply_shifts
from fivefold.data.splits import make_splits
from fivefold.data.task import Inputs, ModalityInfo, Split, Task, TextEncoder
from fivefold.data.text import WordVocab
from fivefold.errors import ConfigError, DataError
from fivefold.registry import did_you_mean

__all__ = ["EVAL_ROWS", "load_evaluation_task", "load_task", "select_inputs"]

EVAL_ROWS = ("auto", "all", "test")
"""Which rows an audit scores: "all" rows of the data, its "test" split, or "auto" (the test
split where the data has an official one, every row of a user file without one)."""

Splits = dict[str, Split]


def _domain_rows(raw: RawData, names: tuple[str, ...]) -> torch.Tensor:
    assert raw.domain is not None
    ids = torch.tensor([raw.domain_names.index(n) for n in names], dtype=torch.int64)
    return torch.isin(raw.domain, ids)


def hold_out_domains(raw: RawData, cfg: DataConfig) -> tuple[Split, Splits]:
    """Move the pool rows of ``data.test_domains`` into shift splits "domain=<value>".

    Returns:
        the remaining pool, and one split per held-out domain.

    Raises:
        ConfigError: domains asked for data without a domain column, an unknown domain, or
            every domain held out.
    """
    if cfg.domain is not None and raw.domain is None:
        raise ConfigError(
            f"data.domain: dataset {cfg.dataset!r} has no domain column; "
            "domain shifts need a csv or parquet file"
        )
    if not cfg.test_domains:
        return raw.pool, {}
    if raw.domain is None:
        raise ConfigError("data.test_domains: set data.domain to the column naming the domains")
    for name in cfg.test_domains:
        if name not in raw.domain_names:
            allowed = list(raw.domain_names)
            raise ConfigError(
                f"data.test_domains: unknown domain {name!r}{did_you_mean(name, allowed)}; "
                f"domains: {', '.join(allowed[:20])}"
            )
    held = _domain_rows(raw, cfg.test_domains)
    if bool(held.all()):
        raise ConfigError("data.test_domains: every domain is held out; keep one for training")
    shifts = {
        f"domain={name}": raw.pool.subset(torch.nonzero(_domain_rows(raw, (name,))).flatten())
        for name in cfg.test_domains
    }
    return raw.pool.subset(torch.nonzero(~held).flatten()), shifts


def _check_inputs(raw: RawData, cfg: DataConfig) -> None:
    names = list(raw.inputs)
    for i, name in enumerate(cfg.inputs):
        if name not in raw.inputs:
            raise ConfigError(
                f"data.inputs: dataset {cfg.dataset!r} has no input {name!r}"
                f"{did_you_mean(name, names)}; inputs: {', '.join(names)}"
            )
        if name in cfg.inputs[:i]:
            raise ConfigError(f"data.inputs: {name!r} is listed twice; list each input once")


def _kept_split(split: Split, keep: list[str], single: bool, texts: bool) -> Split:
    """``split`` with the inputs ``keep`` only: a plain tensor when ``single``; raw texts
    only while a text input remains (``texts``)."""
    assert isinstance(split.x, dict)
    x: Inputs = split.x[keep[0]] if single else {k: split.x[k] for k in keep}
    return Split(x, split.y, split.group, split.texts if texts else None)


def select_inputs(raw: RawData, cfg: DataConfig) -> RawData:
    """Keep only the inputs ``data.inputs`` of a multi-input dataset (all when it is empty).

    One kept input becomes the task's single input "x" (a plain tensor), as every
    single-input dataset has it; a single-input dataset accepts its own input name.

    Raises:
        ConfigError: an input the dataset does not have, or one listed twice.
    """
    _check_inputs(raw, cfg)
    keep = [k for k in raw.inputs if k in cfg.inputs]
    if not cfg.inputs or len(keep) == len(raw.inputs):
        return raw
    single = len(keep) == 1
    texts = any(raw.inputs[k].kind == "text" for k in keep)
    test = None if raw.test is None else _kept_split(raw.test, keep, single, texts)
    inputs = {"x": raw.inputs[keep[0]]} if single else {k: raw.inputs[k] for k in keep}
    pool = _kept_split(raw.pool, keep, single, texts)
    return replace(raw, pool=pool, test=test, inputs=inputs)


def _map_x(split: Split, key: str, fn: Callable[[torch.Tensor], torch.Tensor]) -> Split:
    x: Inputs = {**split.x, key: fn(split.x[key])} if isinstance(split.x, dict) else fn(split.x)
    return Split(x, split.y, split.group, split.texts)


def _training_inputs(splits: Splits, key: str) -> torch.Tensor:
    """All training inputs of ``key`` (labelled and unlabeled), for fitting statistics."""
    parts = [splits[s].x for s in ("train", "unlabeled") if s in splits]
    return torch.cat([p[key] if isinstance(p, dict) else p for p in parts])


def standardize(splits: Splits, shifts: Splits, key: str, info: ModalityInfo) -> None:
    """Z-score the numeric (non one-hot) columns of tabular input ``key`` in place of the dicts.

    Mean and std come from the training rows; a constant column keeps std 1.
    """
    onehot = {i for group in info.categorical for i in group}
    numeric = torch.tensor([i for i in range(info.shape[0]) if i not in onehot], dtype=torch.long)
    if numeric.numel() == 0:
        return
    train = _training_inputs(splits, key)[:, numeric].double()
    mean = train.mean(dim=0)
    std = train.std(dim=0) if len(train) > 1 else torch.ones_like(mean)
    std = torch.where(std > 0, std, torch.ones_like(std))

    def apply(x: torch.Tensor) -> torch.Tensor:
        out = x.clone()
        out[:, numeric] = ((x[:, numeric].double() - mean) / std).to(x.dtype)
        return out

    for table in (splits, shifts):
        for name, split in table.items():
            table[name] = _map_x(split, key, apply)


def encode_texts(splits: Splits, shifts: Splits, key: str = "x") -> WordVocab:
    """Fit a :class:`WordVocab` on the training texts and encode every split in place.

    Args:
        splits: the task's splits, by name; their ``texts`` are encoded.
        shifts: the shift splits, encoded with the same vocabulary.
        key: the text input of a multi-input split (a single-input split's ``x`` is replaced).

    Returns:
        the fitted vocabulary.
    """
    texts = [t for s in ("train", "unlabeled") if s in splits for t in splits[s].texts or ()]
    vocab = WordVocab.fit(texts)
    for table in (splits, shifts):
        for name, split in table.items():
            if split.texts is None:
                raise DataError(f"split {name!r} of a text dataset has no texts")
            ids = vocab(split.texts)
            x: Inputs = {**split.x, key: ids} if isinstance(split.x, dict) else ids
            table[name] = Split(x, split.y, split.group, split.texts)
    return vocab


def _fit_inputs(
    raw: RawData, splits: Splits, shifts: Splits
) -> tuple[dict[str, ModalityInfo], TextEncoder | None]:
    inputs = dict(raw.inputs)
    encoder: TextEncoder | None = None
    for key, info in raw.inputs.items():
        if info.kind == "text":
            vocab = encode_texts(splits, shifts, key)
            inputs[key], encoder = vocab.info(), vocab
        elif info.kind == "tabular" and raw.standardize:
            standardize(splits, shifts, key, info)
    return inputs, encoder


def _info(
    raw: RawData, cfg: DataConfig, splits: Mapping[str, Split]
) -> dict[str, str | int | float]:
    info: dict[str, str | int | float] = {
        "source": raw.source,
        "official_test": int(raw.test is not None),
        "split_seed": cfg.split_seed,
    }
    if cfg.inputs:
        info["inputs"] = ",".join(cfg.inputs)
    info.update({f"n_{name}": len(split) for name, split in splits.items()})
    return info


def _raw(cfg: DataConfig) -> RawData:
    raw = select_inputs(DATASETS.get(cfg.dataset, field="data.dataset")(cfg), cfg)
    check_classes(raw, cfg)
    class_order(raw.class_names, class_names(cfg))  # a bad order fails before any split
    return raw


def _join(a: Split, b: Split) -> Split:
    """The rows of ``a`` followed by those of ``b``."""
    x: Inputs
    if isinstance(a.x, dict):
        assert isinstance(b.x, dict)
        x = {k: torch.cat([a.x[k], b.x[k]]) for k in a.x}
    else:
        assert isinstance(b.x, torch.Tensor)
        x = torch.cat([a.x, b.x])
    group = None if a.group is None or b.group is None else torch.cat([a.group, b.group])
    texts = None if a.texts is None or b.texts is None else (*a.texts, *b.texts)
    return Split(x, torch.cat([a.y, b.y]), group, texts)


def _build(
    raw: RawData, cfg: DataConfig, splits: Splits, shifts: Splits, **info: str | int
) -> Task:
    new_id = class_order(raw.class_names, class_names(cfg))
    if new_id is not None:
        for table in (splits, shifts):
            for name, split in table.items():
                table[name] = renumber(split, new_id)
    inputs, encoder = _fit_inputs(raw, splits, shifts)
    shifts.update(apply_shifts(splits["test"], inputs, cfg.shifts, cfg.split_seed))
    return Task(
        name=cfg.dataset,
        splits=splits,
        inputs=inputs,
        class_names=class_names(cfg) or raw.class_names,
        group_names=raw.group_names,
        shifts=shifts,
        text_encoder=encoder,
        info={**_info(raw, cfg, splits), **raw.stream_info, **info},
    )


def load_evaluation_task(cfg: DataConfig, rows: str = "auto") -> tuple[Task, str]:
    """The task an audit scores: its "test" split holds the rows to evaluate, as given.

    A user's file is not split again at random (its rows may be the ones the model was
    trained on): with ``rows = "all"`` (the default for a file without an official test
    split) every row is scored; ``"test"`` scores the official test split of a dataset or an
    npz file (``x_test``/``y_test``), or the seeded test split of a built-in dataset. The
    evaluated rows also give the input statistics (standardisation, text vocabulary); no
    validation split is made, so temperature scaling is skipped, and ``task.info`` has
    ``evaluated_rows = "all"``.

    Args:
        cfg: the ``[data]`` config.
        rows: one of :data:`EVAL_ROWS`.

    Returns:
        the task, and a line saying which rows are scored.

    Raises:
        ConfigError: ``rows = "test"`` for a file without a test split, or an unknown value.
    """
    if rows not in EVAL_ROWS:
        raise ConfigError(f"--rows: expected one of {', '.join(EVAL_ROWS)}, got {rows!r}")
    raw, source = _raw(cfg), cfg.path or cfg.dataset
    if rows == "test" or (rows == "auto" and (cfg.path is None or raw.test is not None)):
        if cfg.path is not None and raw.test is None:
            raise ConfigError(
                f"--rows test: {Path(cfg.path).name} has no test split (only npz files with "
                "x_test/y_test have one); use --rows all to score every row"
            )
        task = _split_task(raw, cfg)
        how = "official test split" if raw.test is not None else "test split"
        seed = "" if raw.test is not None else f" (split_seed {cfg.split_seed})"
        return task, f"{len(task.test)} rows: the {how} of {source}{seed}"
    pool, shifts = hold_out_domains(raw, cfg)
    every = pool if raw.test is None else _join(pool, raw.test)
    empty = every.subset(torch.zeros(0, dtype=torch.int64))
    splits = {"train": every, "val": empty, "test": every}
    task = _build(raw, cfg, splits, shifts, evaluated_rows="all")
    where = " (its test split included)" if raw.test is not None else ""
    return task, f"all {len(every)} rows of {source}{where}"


def _split_task(raw: RawData, cfg: DataConfig) -> Task:
    pool, shifts = hold_out_domains(raw, cfg)
    splits = make_splits(pool, raw.test, cfg, len(raw.class_names))
    if raw.stream is not None:
        splits["stream"] = raw.stream
    return _build(raw, cfg, splits, shifts)


def load_task(cfg: DataConfig) -> Task:
    """Load ``data.dataset`` and turn it into a :class:`Task`.

    Steps: the registered loader reads the data; a target that looks continuous is refused
    and ``data.classes`` renumbers the classes; ``data.inputs`` keeps some of its inputs;
    held-out domains become shift splits; the
    pool is split (test unless official, then val, ``max_train``, ``label_fraction``);
    tabular columns are standardised and texts encoded with train statistics; then the
    transform shifts of the test split are added.

    Args:
        cfg: the ``[data]`` config.

    Returns:
        the task with "train", "val", "test" (and "unlabeled", and "stream" for data that
        arrive in order) splits.

    Raises:
        ConfigError: unknown dataset, or options that do not fit the data.
        DataError: missing or malformed data files.
    """
    return _split_task(_raw(cfg), cfg)

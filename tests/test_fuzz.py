"""Fuzzing the config loader and the user-file loaders: only fivefold's own errors ever escape.

Random TOML documents and random config tables go through the experiment loader; random
(and randomly damaged) CSV, Parquet, NPZ and JSONL files go through ``load_task``. Each either
loads or raises a :class:`FivefoldError` with a one-line message; any other exception is a bug.
"""

from __future__ import annotations

import io
import json
import math
import string
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fivefold.config import load_experiment, parse_experiment
from fivefold.data import load_task
from fivefold.data.config import DataConfig
from fivefold.errors import FivefoldError

FAST = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    database=None,
)

names = st.text(string.ascii_letters + string.digits + "_.-/ \x00é<>", min_size=0, max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    names,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(names, inner, max_size=4)),
    max_leaves=8,
)
KNOWN = {
    "name": names,
    "seeds": st.one_of(values, st.lists(st.integers(-5, 2**64), max_size=3)),
    "data": st.one_of(
        values,
        st.fixed_dictionaries(
            {"dataset": st.sampled_from(["digits", "csv", "adult", "nope", ""])},
            optional={
                "test_fraction": scalars,
                "val_fraction": scalars,
                "label_fraction": scalars,
                "split_seed": scalars,
                "max_train": scalars,
                "shifts": values,
            },
        ),
    ),
    "train": st.dictionaries(
        st.sampled_from(["lr", "epochs", "batch_size", "optimizer", "patience", "lrr"]),
        scalars,
        max_size=4,
    ),
    "recipes": st.one_of(
        values,
        st.dictionaries(
            names,
            st.lists(
                st.one_of(
                    st.sampled_from(["augment", "adversarial", "peft", "ssl", "bogus"]),
                    st.dictionaries(
                        st.sampled_from(["technique", "eps", "method", "rank"]), scalars
                    ),
                ),
                max_size=3,
            ),
            max_size=3,
        ),
    ),
    "pillars": st.one_of(values, st.lists(st.sampled_from(["robustness", "safety", "x"]))),
    "model": values,
}
tables = st.fixed_dictionaries({}, optional=KNOWN)


def _fails_cleanly(call: Any) -> None:
    try:
        call()
    except FivefoldError as err:
        message = str(err)
        assert message and "\n" not in message, repr(message)


@settings(FAST, max_examples=500)
@given(raw=tables)
def test_config_tables_raise_only_fivefold_errors(raw: dict[str, Any]) -> None:
    _fails_cleanly(lambda: parse_experiment(raw))


toml_text = st.one_of(
    st.text(max_size=200),
    st.lists(
        st.tuples(
            st.sampled_from(["name", "seeds", "[data]", "dataset", "[train]", "lr", "[recipes]"]),
            st.sampled_from([" = ", "=", " ", ""]),
            st.sampled_from(['"x"', "1", "nan", "inf", "[1, 2]", "{", '"..', "1e999", "-0"]),
        ),
        max_size=8,
    ).map(lambda rows: "\n".join("".join(r) for r in rows)),
)


@FAST
@given(text=toml_text)
def test_experiment_files_raise_only_fivefold_errors(tmp_path: Path, text: str) -> None:
    path = tmp_path / "exp.toml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    _fails_cleanly(lambda: load_experiment(path))


def _frame(rows: int, cols: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {f"f{i}": rng.normal(size=rows) for i in range(cols)}
    data["label"] = rng.integers(0, 3, size=rows)
    frame = pd.DataFrame(data)
    if rows and cols:
        # one odd cell in the first column: missing, infinite, a word or empty
        frame["f0"] = frame["f0"].astype(object)
        frame.iloc[int(rng.integers(0, rows)), 0] = rng.choice([np.nan, np.inf, "x", ""])
    return frame


def _damage(blob: bytes, cut: float, flip: int) -> bytes:
    """Truncate ``blob`` at a fraction ``cut`` and flip one byte (at ``flip``)."""
    out = bytearray(blob[: max(0, math.floor(len(blob) * cut))])
    if out:
        out[flip % len(out)] ^= 0xFF
    return bytes(out)


def _file_bytes(kind: str, rows: int, cols: int, seed: int) -> bytes:
    frame = _frame(rows, cols, seed)
    if kind == "csv":
        return frame.to_csv(index=False).encode()
    if kind == "parquet":
        buffer = io.BytesIO()
        frame.astype({c: str for c in frame.columns[:1]}).to_parquet(buffer)
        return buffer.getvalue()
    if kind == "npz":
        buffer = io.BytesIO()
        x = np.random.default_rng(seed).normal(size=(rows, max(cols, 1)))
        np.savez(buffer, x=x, y=np.arange(rows) % 3)
        return buffer.getvalue()
    lines = [json.dumps({"text": f"w{i} w{i % 3}", "label": i % 3}) for i in range(rows)]
    return ("\n".join(lines) + "\n").encode()


@FAST
@given(
    kind=st.sampled_from(["csv", "parquet", "npz", "jsonl"]),
    rows=st.integers(0, 40),
    cols=st.integers(0, 4),
    seed=st.integers(0, 2**16),
    cut=st.sampled_from([1.0, 1.0, 0.5, 0.9, 0.0]),
    flip=st.integers(0, 10_000),
    damaged=st.booleans(),
)
def test_user_files_raise_only_fivefold_errors(
    tmp_path: Path, kind: str, rows: int, cols: int, seed: int, cut: float, flip: int, damaged: bool
) -> None:
    blob = _file_bytes(kind, rows, cols, seed)
    path = tmp_path / f"data.{kind}"
    path.write_bytes(_damage(blob, cut, flip) if damaged else blob)
    target = "label" if kind in ("csv", "parquet") else DataConfig().target
    cfg = DataConfig(dataset=kind, path=str(path), target=target)
    _fails_cleanly(lambda: load_task(cfg))

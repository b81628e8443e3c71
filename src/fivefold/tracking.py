"""Experiment trackers: every trial of a run logged to TensorBoard or MLflow.

Both read the same files as the report (``result.json`` and ``history.jsonl``), so a finished
run can be logged again at any time (``fivefold report RUN --tensorboard DIR``).

- TensorBoard: one event folder per trial (``DIR/<experiment>/<trial key>``) with the epoch
  history as ``train/<name>`` scalars (step = epoch), the core metrics as ``metrics/<name>``
  and every pillar metric as ``<pillar>/<metric>`` (step 0). Old event files of a trial are
  replaced, so re-logging never duplicates points.
- MLflow: one run per trial in the experiment named like the fivefold experiment, with the
  trial's settings as params, the metrics (epoch history with step = epoch), the status, and
  ``result.json`` as an artifact. A trial already logged with the same config hash is skipped.

Both packages are optional (``pip install 'fivefold[tracking]'``).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from fivefold.errors import ConfigError

__all__ = ["flat_metrics", "log_mlflow", "log_tensorboard", "mlflow_key"]

_INSTALL = "install it with: pip install 'fivefold[tracking]'"


def flat_metrics(result: dict[str, Any]) -> dict[str, float]:
    """Every number of a result: ``metrics/<name>`` and ``<pillar>/<metric>``."""
    out = {f"metrics/{k}": float(v) for k, v in result.get("metrics", {}).items()}
    for pillar, pres in result.get("pillars", {}).items():
        for name, m in pres.get("metrics", {}).items():
            out[f"{pillar}/{name}"] = float(m["value"])
    return out


def _history(run_dir: Path, key: str) -> Iterator[tuple[int, dict[str, float]]]:
    """(epoch, numeric fields) of a trial's ``history.jsonl``."""
    path = run_dir / "trials" / key / "history.jsonl"
    if not path.is_file():
        return
    for i, line in enumerate(path.read_text().splitlines()):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        epoch = int(record.get("epoch", i + 1))
        numbers = {
            k: float(v)
            for k, v in record.items()
            if k != "epoch" and isinstance(v, int | float) and not isinstance(v, bool)
        }
        yield epoch, numbers


def log_tensorboard(run_dir: Path, results: Sequence[dict[str, Any]], log_dir: Path) -> Path:
    """Write TensorBoard event files for every trial; returns the experiment's folder.

    Raises:
        ConfigError: the ``tensorboard`` package is not installed.
    """
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        raise ConfigError(f"--tensorboard needs the tensorboard package; {_INSTALL}") from None
    root = log_dir / (results[0]["experiment"] if results else "fivefold")
    for result in results:
        folder = root / result["trial"]["key"]
        for old in folder.glob("events.out.tfevents.*"):
            old.unlink()
        writer = SummaryWriter(log_dir=str(folder))
        for epoch, record in _history(run_dir, result["trial"]["key"]):
            for name, value in record.items():
                writer.add_scalar(f"train/{name}", value, epoch)
        for name, value in flat_metrics(result).items():
            writer.add_scalar(name, value, 0)
        writer.add_text("status", f"{result['status']}: {result.get('error') or ''}", 0)
        writer.close()
    return root


def mlflow_key(name: str) -> str:
    """A metric or param name MLflow accepts (letters, digits, ``_ - . / space``)."""
    return re.sub(r"[^A-Za-z0-9_\-./ ]", "_", name)


def _params(result: dict[str, Any]) -> dict[str, str]:
    trial, cfg = result["trial"], result.get("config", {})
    techniques = [t.get("technique", "?") for t in cfg.get("recipe", [])]
    model = (cfg.get("model") or {}).get("name") or result.get("model", {}).get("name", "")
    return {
        "recipe": trial["recipe"],
        "seed": str(trial["seed"]),
        "fraction": str(trial["fraction"]),
        "techniques": ", ".join(techniques) or "(none)",
        "dataset": str(cfg.get("data", {}).get("dataset", "")),
        "model": str(model),
        "epochs": str(cfg.get("train", {}).get("epochs", "")),
        "lr": str(cfg.get("train", {}).get("lr", "")),
        "config_hash": str(result.get("config_hash", "")),
    }


def _artifact_location(uri: str, run_dir: Path) -> str | None:
    """Local stores keep artifacts next to the database (else MLflow uses the cwd)."""
    if uri.startswith("sqlite:///"):
        return (Path(uri[len("sqlite:///") :]).parent / "mlartifacts").resolve().as_uri()
    if "://" not in uri:
        return (Path(uri) / "artifacts").resolve().as_uri()
    return None


def log_mlflow(run_dir: Path, results: Sequence[dict[str, Any]], uri: str) -> str:
    """Log every trial as an MLflow run; returns the MLflow experiment id.

    Raises:
        ConfigError: the ``mlflow`` package is not installed.
    """
    try:
        from mlflow.entities import Metric, Param, RunTag
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise ConfigError(f"--mlflow needs the mlflow package; {_INSTALL}") from None
    client = MlflowClient(tracking_uri=uri)
    name = results[0]["experiment"] if results else "fivefold"
    found = client.get_experiment_by_name(name)
    exp_id = (
        found.experiment_id
        if found is not None
        else client.create_experiment(name, artifact_location=_artifact_location(uri, run_dir))
    )
    now = int(time.time() * 1000)
    for result in results:
        key, chash = result["trial"]["key"], str(result.get("config_hash", ""))
        query = f"tags.`fivefold.trial` = '{key}' and tags.`fivefold.config_hash` = '{chash}'"
        if client.search_runs([exp_id], filter_string=query, max_results=1):
            continue
        tags = {"fivefold.trial": key, "fivefold.config_hash": chash, "status": result["status"]}
        run = client.create_run(exp_id, run_name=key, tags=tags)
        rid = run.info.run_id
        metrics = [Metric(mlflow_key(k), v, now, 0) for k, v in flat_metrics(result).items()]
        for epoch, record in _history(run_dir, key):
            metrics += [Metric(mlflow_key(f"train/{k}"), v, now, epoch) for k, v in record.items()]
        params = [Param(k, v) for k, v in _params(result).items()]
        error = result.get("error") or {}
        extra = [RunTag("error", f"{error.get('type')}: {error.get('message')}")] if error else []
        for start in range(0, len(metrics), 900):  # MLflow takes at most 1000 per batch
            client.log_batch(rid, metrics=metrics[start : start + 900])
        client.log_batch(rid, params=params, tags=extra)
        path = run_dir / "trials" / key / "result.json"
        if path.is_file():
            client.log_artifact(rid, str(path))
        client.set_terminated(rid, "FINISHED" if result["status"] == "ok" else "FAILED")
    return str(exp_id)

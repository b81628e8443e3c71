"""fivefold: what does each training technique buy my model, on my data?

Train PyTorch models with technique recipes and score every model on five pillars
(generalization, data efficiency, robustness, interpretability, ethics & safety).

Typical notebook use::

    import fivefold as ff
    exp = ff.load_experiment("examples/quickstart.toml", ["train.epochs=5"])
    summary = ff.run_experiment(exp)
    summary.scorecard["recipes"]["baseline"]["metrics"]["test_accuracy"]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fivefold.config import Experiment, load_experiment, parse_experiment
    from fivefold.data import DATASETS, load_task
    from fivefold.data.task import Split, Task
    from fivefold.errors import FivefoldError
    from fivefold.models import MODELS, build_model
    from fivefold.pillars import PILLARS, PillarResult
    from fivefold.results.files import read_results
    from fivefold.runner.run import RunSummary, run_experiment
    from fivefold.techniques import TECHNIQUES
    from fivefold.training.fit import fit
    from fivefold.training.hooks import FitContext, Technique

# The names load lazily (PEP 562), so that torch-free parts such as ``fivefold.report`` can be
# imported without importing torch.
_LAZY = {
    "Experiment": "fivefold.config",
    "load_experiment": "fivefold.config",
    "parse_experiment": "fivefold.config",
    "DATASETS": "fivefold.data",
    "load_task": "fivefold.data",
    "Split": "fivefold.data.task",
    "Task": "fivefold.data.task",
    "FivefoldError": "fivefold.errors",
    "MODELS": "fivefold.models",
    "build_model": "fivefold.models",
    "PILLARS": "fivefold.pillars",
    "PillarResult": "fivefold.pillars",
    "RunSummary": "fivefold.runner.run",
    "run_experiment": "fivefold.runner.run",
    "read_results": "fivefold.results.files",
    "TECHNIQUES": "fivefold.techniques",
    "Technique": "fivefold.techniques",
    "FitContext": "fivefold.training.hooks",
    "fit": "fivefold.training.fit",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'fivefold' has no attribute {name!r}")


def __dir__() -> list[str]:
    """The public names (lazy ones included), so that completion works in Jupyter and IDEs."""
    return sorted({*__all__, "__version__"})


__version__ = "0.1.0"

__all__ = [
    "DATASETS",
    "MODELS",
    "PILLARS",
    "TECHNIQUES",
    "Experiment",
    "FitContext",
    "FivefoldError",
    "PillarResult",
    "RunSummary",
    "Split",
    "Task",
    "Technique",
    "build_model",
    "fit",
    "load_experiment",
    "load_task",
    "parse_experiment",
    "read_results",
    "run_experiment",
]

"""fivefold: what does each training technique buy my model, on my data?

Train PyTorch models with technique recipes and score every model on five pillars
(generalization, data efficiency, robustness, interpretability, ethics & safety).

Typical notebook use::

    import fivefold as ff
    exp = ff.load_experiment("examples/quickstart.toml", ["train.epochs=5"])
    summary = ff.run_experiment(exp)
    summary.scorecard["recipes"]["baseline"]["metrics"]["test_accuracy"]
"""

from fivefold.config import Experiment, load_experiment, parse_experiment
from fivefold.data import DATASETS, load_task
from fivefold.data.task import Split, Task
from fivefold.errors import FivefoldError
from fivefold.models import MODELS, build_model
from fivefold.pillars import PILLARS, PillarResult
from fivefold.runner.run import RunSummary, run_experiment
from fivefold.runner.store import read_results
from fivefold.techniques import TECHNIQUES, Technique
from fivefold.training.fit import FitContext, fit

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

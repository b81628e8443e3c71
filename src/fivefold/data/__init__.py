"""Datasets as :class:`Task` objects: built-in real data, user files, splits and shifts.

Add a dataset by registering a loader ``(DataConfig) -> RawData`` once::

    @DATASETS.register("my_data", help="one line for `fivefold list datasets`")
    def load_my_data(cfg: DataConfig) -> RawData: ...

:func:`load_task` does the rest (splits, ``max_train``, ``label_fraction``, standardisation,
text encoding and shifts).
"""

from fivefold.data import arrays, clothing, drifting, files, images, tabular, text, timeseries
from fivefold.data.config import DataConfig, ShiftConfig
from fivefold.data.load import EVAL_ROWS, load_evaluation_task, load_task
from fivefold.data.raw import DATASETS, Loader, RawData
from fivefold.data.shifts import apply_shifts, shift_split
from fivefold.data.splits import (
    make_splits,
    nested_label_subset,
    stratified_split,
    stratified_subsample,
)
from fivefold.data.task import (
    Inputs,
    Modality,
    ModalityInfo,
    Split,
    Task,
    TextEncoder,
    index_inputs,
    input_length,
)
from fivefold.data.text import WordVocab, tokenize

del (
    arrays,
    clothing,
    drifting,
    files,
    images,
    tabular,
    text,
    timeseries,
)  # imported to register their loaders

__all__ = [
    "DATASETS",
    "EVAL_ROWS",
    "DataConfig",
    "Inputs",
    "Loader",
    "Modality",
    "ModalityInfo",
    "RawData",
    "ShiftConfig",
    "Split",
    "Task",
    "TextEncoder",
    "WordVocab",
    "apply_shifts",
    "index_inputs",
    "input_length",
    "load_evaluation_task",
    "load_task",
    "make_splits",
    "nested_label_subset",
    "shift_split",
    "stratified_split",
    "stratified_subsample",
    "tokenize",
]

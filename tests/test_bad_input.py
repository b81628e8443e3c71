"""The bad-input catalogue: hostile and malformed input through the real command line.

Every case runs ``python -m fivefold.cli ...`` in a subprocess inside a fresh folder and asserts:
exit code 2 (a user error), exactly one line on stderr holding the expected words, no
traceback, no files left behind by a run that failed before training (the output folder is
absent or empty), and nothing written anywhere but the output folder. Every option a later
change adds joins this table.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save
from torch import nn

Files = dict[str, bytes | str]
OUT = "out"  # every run case writes here (--out), except the cases about names and paths


@dataclass(frozen=True)
class Case:
    """One hostile input: files to create, CLI arguments, words the one error line must hold."""

    category: str
    name: str
    args: tuple[str, ...]
    words: tuple[str, ...]
    files: Callable[[], Files] = field(default=dict)
    code: int = 2


def toml(body: str) -> Callable[[], Files]:
    """An experiment file ``exp.toml``: one seed plus ``body`` (built-in defaults otherwise)."""
    return lambda: {"exp.toml": "seeds = [0]\n" + body}


def raw(text: str) -> Callable[[], Files]:
    """An experiment file with exactly ``text``."""
    return lambda: {"exp.toml": text}


RUN = ("run", "exp.toml", "--out", OUT)


def run_case(category: str, name: str, body: str, *words: str, extra: tuple[str, ...] = ()) -> Case:
    return Case(category, name, (*RUN, *extra), words, toml(body))


def data_case(name: str, file: str, payload: bytes | str | None, options: str, *words: str) -> Case:
    """A run on the user file ``file`` holding ``payload`` (None: the file does not exist)."""
    body = f'[data]\ndataset = "{file.rsplit(".", 1)[1]}"\npath = "{file}"\n{options}\n'
    exp = "seeds = [0]\n[train]\nepochs = 1\n[recipes]\nbaseline = []\n" + body
    files: Files = {"exp.toml": exp} | ({} if payload is None else {file: payload})
    return Case("data", name, RUN, words, lambda: files)


def _csv(rows: int, classes: int = 2) -> str:
    lines = ["a,b,label"] + [f"{i},{i * 2 % 7},{i % classes}" for i in range(rows)]
    return "\n".join(lines) + "\n"


def _npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    return buffer.getvalue()


CONFIG = [
    Case("config", "empty file", RUN, ("empty",), raw("")),
    Case("config", "not TOML", RUN, ("exp.toml",), raw("name = \n[[[")),
    Case("config", "unknown top-level key", RUN, ("seedz",), raw("seedz = [0]\n")),
    run_case("config", "unknown train key", "[train]\nepocs = 3\n", "train.epocs"),
    run_case("config", "lr is a string", "[train]\nlr = 'fast'\n", "train.lr"),
    run_case("config", "lr is nan", "[train]\nlr = nan\n", "train.lr"),
    run_case("config", "lr is inf", "[train]\nlr = inf\n", "train.lr"),
    run_case("config", "lr negative", "[train]\nlr = -1.0\n", "train.lr"),
    run_case("config", "epochs zero", "[train]\nepochs = 0\n", "train.epochs"),
    run_case("config", "epochs unknown word", "[train]\nepochs = 'autp'\n", "train.epochs"),
    run_case("config", "patience unknown word", "[train]\npatience = 'often'\n", "train.patience"),
    run_case("config", "min val rows negative", "[train]\nmin_val_rows = -1\n", "min_val_rows"),
    run_case("config", "batch size zero", "[train]\nbatch_size = 0\n", "train.batch_size"),
    run_case("config", "unknown optimizer", "[train]\noptimizer = 'adamm'\n", "train.optimizer"),
    Case("config", "seed beyond 64 bits", RUN, ("seed",), raw("seeds = [18446744073709551617]\n")),
    Case("config", "negative seed", RUN, ("seed",), raw("seeds = [-1]\n")),
    Case("config", "seeds not a list", RUN, ("seeds",), raw('seeds = "zero"\n')),
    run_case("config", "unknown dataset", '[data]\ndataset = "digitz"\n', "digitz"),
    run_case("config", "test fraction nan", "[data]\ntest_fraction = nan\n", "test_fraction"),
    run_case("config", "test fraction above 1", "[data]\ntest_fraction = 1.5\n", "test_fraction"),
    run_case("config", "label fraction zero", "[data]\nlabel_fraction = 0.0\n", "label_fraction"),
    run_case("config", "split seed nan", "[data]\nsplit_seed = nan\n", "split_seed"),
    run_case("config", "unknown model", '[model]\nname = "lstn"\n', "lstn"),
    run_case("config", "bad model option", "[model]\nname = 'mlp'\ndropout = 1.5\n", "dropout"),
    run_case("config", "unknown technique", "[recipes]\nr = ['agument']\n", "agument"),
    run_case(
        "config",
        "unknown technique option",
        "[recipes]\nr = [{technique = 'augment', strenght = 2}]\n",
        "strenght",
    ),
    run_case(
        "config",
        "technique option out of range",
        "[recipes]\nr = [{technique = 'adversarial', eps = -1.0}]\n",
        "eps",
    ),
    run_case(
        "config", "technique listed twice", "[recipes]\nr = ['augment', 'augment']\n", "twice"
    ),
    run_case(
        "config",
        "two loss owners",
        "[data]\ndataset = 'rotten_tomatoes'\n[recipes]\nr = ['trades', 'freelb']\n",
        "loss",
    ),
    run_case("config", "recipe not a list", "[recipes]\nr = 3\n", "recipes.r"),
    run_case("config", "unknown pillar", "pillars = ['robustnes']\n", "robustnes"),
    run_case("config", "pillar listed twice", "pillars = ['safety', 'safety']\n", "twice"),
    run_case("config", "bad pillar option", "[pillars.robustness]\npgd_stepz = 3\n", "pgd_stepz"),
    run_case(
        "config",
        "lora on a model without target layers",
        "[model]\nname = 'gru'\n[data]\ndataset = 'basic_motions'\n[recipes]\nr = ['peft']\n",
        "peft",
    ),
    run_case(
        "config",
        "shift that does not fit the modality",
        "[data]\ndataset = 'adult'\nshifts = [{kind = 'rotation', strengths = [10]}]\n",
        "rotation",
    ),
    run_case("config", "technique for another modality", "[recipes]\nr = ['freelb']\n", "freelb"),
    Case("config", "override without =", (*RUN, "--set", "train.lr"), ("train.lr",), toml("")),
    Case(
        "config", "override of an unknown key", (*RUN, "--set", "train.lrr=1"), ("lrr",), toml("")
    ),
    Case("config", "override with nan", (*RUN, "--set", "train.lr=nan"), ("train.lr",), toml("")),
]

DATA = [
    data_case("classes missing one", "d.csv", _csv(60), "classes = ['0']", "data.classes", "'1'"),
    data_case("classes unknown", "d.csv", _csv(60), "classes = [0, 1, 2]", "'2' not in the data"),
    data_case("classes repeated", "d.csv", _csv(60), "classes = [0, 0, 1]", "listed twice"),
    data_case(
        "continuous target",
        "d.csv",
        "a,label\n" + "".join(f"{i},{i * 1.37:.2f}\n" for i in range(60)),
        "",
        "looks continuous",
        "bin",
    ),
    data_case("csv missing", "gone.csv", None, "", "not found"),
    data_case("csv empty", "d.csv", "", "", "empty"),
    data_case("csv header only", "d.csv", "a,b,label\n", "", "no data rows"),
    data_case("csv without the target", "d.csv", _csv(60), 'target = "y"', "y"),
    data_case("csv not UTF-8", "d.csv", b"a,b,label\n\xff\xfe,1,0\n" * 30, "", "d.csv"),
    data_case("csv too small to split", "d.csv", _csv(4), "", "d.csv"),
    data_case("csv with one class", "d.csv", _csv(60, classes=1), "", "class"),
    data_case("csv with nan labels", "d.csv", "a,label\n1,\n2,1\n" * 20, "", "label"),
    data_case("parquet is random bytes", "d.parquet", os.urandom(256), "", "d.parquet"),
    data_case("npz is random bytes", "d.npz", os.urandom(256), "", "d.npz"),
    data_case("npz without y", "d.npz", _npz(x=np.zeros((40, 3))), "", "d.npz"),
    data_case(
        "npz with nan inputs",
        "d.npz",
        _npz(x=np.full((40, 3), np.nan), y=np.arange(40) % 2),
        "",
        "d.npz",
    ),
    data_case(
        "npz with mismatched lengths",
        "d.npz",
        _npz(x=np.zeros((40, 3)), y=np.arange(30) % 2),
        "",
        "d.npz",
    ),
    data_case(
        "jsonl not JSON", "d.jsonl", '{"text": "a", "label": 0}\n{oops\n' * 20, "", "d.jsonl"
    ),
    data_case("jsonl not UTF-8", "d.jsonl", b'{"text": "\xff", "label": 0}\n' * 40, "", "d.jsonl"),
    data_case("jsonl without label", "d.jsonl", '{"text": "a b"}\n' * 40, "", "label"),
    Case(
        "data",
        "data path is a folder",
        RUN,
        ("folder",),
        lambda: {
            "exp.toml": '[data]\ndataset = "csv"\npath = "sub"\n[recipes]\nb = []\n',
            "sub/keep.txt": "x",
        },
    ),
    run_case("data", "data path unset", '[data]\ndataset = "csv"\n', "data.path"),
]


def _net() -> nn.Module:
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))


def _weights() -> bytes:
    """safetensors bytes of a digits model that fits ``usernets:make_net``."""
    torch.manual_seed(0)
    return save({k: v.contiguous() for k, v in _net().state_dict().items()})


class _Payload:
    """Unpickling this writes a file: proof that a pickle ran code."""

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (Path.write_text, (Path("PWNED"), "x"))  # type: ignore[return-value]


def _pickle_payload() -> bytes:
    return pickle.dumps(_Payload())


def _torch_zip_payload() -> bytes:
    buffer = io.BytesIO()
    torch.save({"weight": _Payload()}, buffer)
    return buffer.getvalue()


def _empty_zip() -> bytes:
    buffer = io.BytesIO()
    zipfile.ZipFile(buffer, "w").close()
    return buffer.getvalue()


MODULES = """
from torch import nn
def make_net():
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
def needs_args(width, depth):
    return make_net()
def not_a_model():
    return 42
def raises():
    raise RuntimeError("factory exploded")
"""


def audit_csv_case(name: str, flags: tuple[str, ...], *words: str) -> Case:
    """``fivefold audit`` of a digits-sized model on a small CSV with extra ``flags``."""
    args = ("audit", "--model", "usernets:make_net", "--weights", "w.bin", "--data", "d.csv")

    def files() -> Files:
        return {"w.bin": _weights(), "usernets.py": MODULES, "d.csv": _csv(60, 10)}

    return Case("cli flags", name, (*args, "--out", OUT, *flags), words, files)


def audit_case(name: str, weights: Callable[[], bytes], model: str, *words: str) -> Case:
    args = ("audit", "--model", model, "--weights", "w.bin", "--data", "digits", "--out", OUT)
    return Case(
        "weights and modules",
        name,
        args,
        words,
        lambda: {
            "w.bin": weights(),
            "usernets.py": MODULES,
            "broken.py": "def f(:\n",
            "boom.py": "raise ValueError('boom at import')\n",
        },
    )


WEIGHTS = [
    audit_case("weights missing", lambda: b"", "usernets:make_net", "w.bin"),
    audit_case("weights random bytes", lambda: os.urandom(512), "usernets:make_net", "safetensors"),
    audit_case("weights pickle payload", _pickle_payload, "usernets:make_net", "safetensors"),
    audit_case("weights torch zip payload", _torch_zip_payload, "usernets:make_net", "safetensors"),
    audit_case("weights truncated", lambda: _weights()[:40], "usernets:make_net", "w.bin"),
    audit_case(
        "weights zip of nothing",
        _empty_zip,
        "usernets:make_net",
        "w.bin",
    ),
    audit_case("model target malformed", _weights, "usernets", "--model"),
    audit_case("model module missing", _weights, "nosuchmodule:make_net", "nosuchmodule"),
    audit_case("model module syntax error", _weights, "broken:f", "broken"),
    audit_case("model module raises at import", _weights, "boom:f", "boom"),
    audit_case("model factory missing", _weights, "usernets:nothing", "nothing"),
    audit_case("model factory needs arguments", _weights, "usernets:needs_args", "needs_args"),
    audit_case("model factory returns a number", _weights, "usernets:not_a_model", "nn.Module"),
    audit_case("model factory raises", _weights, "usernets:raises", "factory exploded"),
]

NAMES = [
    Case(
        "names and paths",
        "name climbs out",
        ("run", "exp.toml"),
        ("name",),
        raw('name = "../../escape"\nseeds = [0]\n[train]\nepochs = 1\n'),
    ),
    Case("names and paths", "name is ..", ("run", "exp.toml"), ("name",), raw('name = ".."\n')),
    Case("names and paths", "name is .", ("run", "exp.toml"), ("name",), raw('name = "."\n')),
    Case(
        "names and paths",
        "name override climbs out",
        ("run", "exp.toml", "--set", "name=../x"),
        ("name",),
        raw("seeds = [0]\n"),
    ),
    Case(
        "names and paths",
        "name with NUL",
        ("run", "exp.toml"),
        ("name",),
        raw('name = "a\\u0000b"\n'),
    ),
    Case(
        "names and paths",
        "name with newline",
        ("run", "exp.toml"),
        ("name",),
        raw('name = "a\\nb"\n'),
    ),
    Case(
        "names and paths",
        "name too long",
        ("run", "exp.toml"),
        ("name",),
        raw(f'name = "{"n" * 300}"\n'),
    ),
    Case(
        "names and paths", "name absolute", ("run", "exp.toml"), ("name",), raw('name = "/tmp/x"\n')
    ),
    run_case("names and paths", "recipe named ..", '[recipes]\n".." = []\n', ".."),
    run_case("names and paths", "recipe with a slash", '[recipes]\n"a/b" = []\n', "a/b"),
    Case(
        "names and paths",
        "--out is a file",
        ("run", "exp.toml", "--out", "taken"),
        ("taken",),
        lambda: {"exp.toml": "seeds = [0]\n", "taken": "mine"},
    ),
    Case("names and paths", "experiment missing", ("run", "nope.toml"), ("nope.toml",)),
    Case(
        "names and paths",
        "experiment is a folder",
        ("run", "dir"),
        ("dir",),
        lambda: {"dir/x.txt": "x"},
    ),
]

FLAGS = [
    audit_csv_case(
        "audit rows test of a file without one", ("--rows", "test"), "--rows test", "--rows all"
    ),
    audit_csv_case("audit classes unknown", ("--classes", "cat,dog"), "data.classes", "'cat'"),
    Case("cli flags", "workers zero", (*RUN, "--workers", "0"), ("workers",), toml("")),
    Case("cli flags", "workers negative", (*RUN, "--workers", "-2"), ("workers",), toml("")),
    Case("cli flags", "explain unknown", ("explain", "mlpp"), ("mlpp",)),
    Case("cli flags", "report of a missing folder", ("report", "nowhere"), ("nowhere",)),
    Case(
        "cli flags",
        "report of an empty folder",
        ("report", "empty"),
        ("result.json",),
        lambda: {"empty/.keep": ""},
    ),
    Case(
        "cli flags",
        "audit pillars unknown",
        (
            "audit",
            "--model",
            "usernets:make_net",
            "--weights",
            "w.bin",
            "--data",
            "digits",
            "--pillars",
            "robustnes",
            "--out",
            OUT,
        ),
        ("robustnes",),
        lambda: {"w.bin": _weights(), "usernets.py": MODULES},
    ),
    Case(
        "cli flags",
        "audit data unknown",
        (
            "audit",
            "--model",
            "usernets:make_net",
            "--weights",
            "w.bin",
            "--data",
            "digitz",
            "--out",
            OUT,
        ),
        ("digitz",),
        lambda: {"w.bin": _weights(), "usernets.py": MODULES},
    ),
    Case(
        "cli flags",
        "audit seed beyond 64 bits",
        (
            "audit",
            "--model",
            "usernets:make_net",
            "--weights",
            "w.bin",
            "--data",
            "digits",
            "--seed",
            str(2**64),
            "--out",
            OUT,
        ),
        ("seed",),
        lambda: {"w.bin": _weights(), "usernets.py": MODULES},
    ),
]

CASES = CONFIG + DATA + WEIGHTS + NAMES + FLAGS


def _snapshot(root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()
    }


def _write(root: Path, files: Files) -> None:
    for name, content in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")


@pytest.mark.parametrize("case", CASES, ids=[f"{c.category}: {c.name}" for c in CASES])
def test_bad_input_is_one_line(tmp_path: Path, case: Case) -> None:
    # The case runs two folders deep, so a name that climbs out still lands inside tmp_path.
    work = tmp_path / "a" / "b"
    work.mkdir(parents=True)
    _write(work, case.files())
    (tmp_path / "a" / "user-file.txt").write_text("the user's own file")
    before = _snapshot(tmp_path)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(work), *sys.path])}
    env.pop("FIVEFOLD_DEBUG", None)
    done = subprocess.run(
        [sys.executable, "-m", "fivefold.cli", *case.args],
        cwd=work,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert "Traceback" not in done.stderr, done.stderr
    assert done.returncode == case.code, done.stderr
    assert len(lines) == 1, done.stderr
    for word in case.words:
        assert word.lower() in lines[0].lower(), lines[0]
    after = _snapshot(tmp_path)
    changed = {k for k in after if before.get(k) != after[k]} | (set(before) - set(after))
    assert changed == set(), f"files changed by a failed run: {sorted(changed)}"
    assert not (work / "PWNED").exists()
    out = work / OUT
    assert not out.exists() or not any(out.iterdir()), "a run that failed left files"


# ------------------------------------------------- interrupted and edited runs (a finished run)

FINISHED = (
    'name = "done"\nseeds = [0, 1]\n[model]\nname = "mlp"\nhidden = [16]\n'
    "[train]\nepochs = 1\n[recipes]\nbaseline = []\n"
)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished two-seed digits run (``exp.toml`` and its output folder ``out``)."""
    root = tmp_path_factory.mktemp("finished")
    (root / "exp.toml").write_text(FINISHED)
    done = _cli(root, "run", "exp.toml", "--out", OUT)
    assert done.returncode == 0, done.stderr
    return root


def _cli(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "FIVEFOLD_DEBUG"}
    return subprocess.run(
        [sys.executable, "-m", "fivefold.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
        env=env,
    )


def _seed(run: Path, seed: int) -> Path:
    return run / OUT / "trials" / "baseline" / f"seed-{seed}" / "result.json"


def _truncate(run: Path) -> None:
    path = _seed(run, 0)
    path.write_text(path.read_text()[:100])


def _garbage_everywhere(run: Path) -> None:
    for seed in (0, 1):
        _seed(run, seed).write_text("[]")


def _no_metrics(run: Path) -> None:
    path = _seed(run, 1)
    data = json.loads(path.read_text())
    del data["metrics"]
    path.write_text(json.dumps(data))


def _user_folder(run: Path) -> None:
    folder = run / OUT / "trials" / "baseline" / "seed-2"
    folder.mkdir()
    (folder / "mine.txt").write_text("the user's own file")
    (run / "exp.toml").write_text(FINISHED.replace("[0, 1]", "[0, 1, 2]"))


def _result_is_a_folder(run: Path) -> None:
    path = _seed(run, 0)
    path.unlink()
    path.mkdir()


@dataclass(frozen=True)
class Edit:
    """An edit of a finished run, the command run after it, and what it must answer."""

    name: str
    edit: Callable[[Path], None]
    args: tuple[str, ...]
    code: int
    words: tuple[str, ...]
    lines: int = 1


EDITS = [
    Edit("report with a truncated result", _truncate, ("report", OUT), 1, ("seed-0",), 2),
    Edit("report with no usable result", _garbage_everywhere, ("report", OUT), 2, ("usable",)),
    Edit("run after a result lost its metrics", _no_metrics, RUN, 0, ("set aside",), 0),
    Edit("run into a folder fivefold did not make", _user_folder, RUN, 2, ("untouched",)),
    Edit("report with a result that is a folder", _result_is_a_folder, ("report", OUT), 1, (), 2),
]


@pytest.mark.parametrize("case", EDITS, ids=[e.name for e in EDITS])
def test_edited_runs(tmp_path: Path, finished_run: Path, case: Edit) -> None:
    work = tmp_path / "run"
    shutil.copytree(finished_run, work)
    case.edit(work)
    before = _snapshot(tmp_path)
    done = _cli(work, *case.args)
    text = done.stderr + done.stdout
    assert "Traceback" not in text, text
    assert done.returncode == case.code, text
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    if case.lines:
        assert len(lines) == case.lines, done.stderr
    for word in case.words:
        assert word.lower() in text.lower(), text
    changed = {k for k, v in _snapshot(tmp_path).items() if before.get(k) != v}
    assert all(k.startswith(f"run/{OUT}/") for k in changed), sorted(changed)
    mine = work / OUT / "trials" / "baseline" / "seed-2" / "mine.txt"
    assert not mine.parent.exists() or mine.read_text() == "the user's own file"


def test_the_catalogue_covers_every_category() -> None:
    counts: dict[str, int] = {}
    for case in CASES:
        counts[case.category] = counts.get(case.category, 0) + 1
    counts["interrupted and edited runs"] = len(EDITS)
    assert sum(counts.values()) >= 80, counts
    assert set(counts) == {
        "config",
        "data",
        "weights and modules",
        "names and paths",
        "cli flags",
        "interrupted and edited runs",
    }
    assert len({(c.category, c.name) for c in CASES}) == len(CASES)
    print(json.dumps(counts))

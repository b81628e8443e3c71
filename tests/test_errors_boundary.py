"""The CLI's one error boundary: user errors are one line (exit 2), internal errors one line and
a saved traceback (exit 1), Ctrl-C one line (exit 130); hostile weights never run code."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from test_cli import run_cli
from torch import nn

from fivefold import catalog
from fivefold.cli import main

MODULES = {
    "ffb_nets": (
        "from torch import nn\n"
        "def make_net():\n    return nn.Sequential(nn.Flatten(), nn.Linear(64, 10))\n"
        "def needs_args(width, depth):\n    return None\n"
        "def returns_int():\n    return 42\n"
        "def raises():\n    raise ValueError('no weights for you')\n"
    ),
    "ffb_syntax": "def broken(:\n    pass\n",
    "ffb_raises": "raise RuntimeError('cannot start here')\n",
    "ffb_dependency": "import ffb_not_installed_anywhere\n",
}


class Payload:
    """Unpickling this creates ``marker``: what a hostile checkpoint would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return open, (str(self.marker), "w")


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder with the user modules (on sys.path) and matching safetensors weights."""
    for name, source in MODULES.items():
        (tmp_path / f"{name}.py").write_text(source)
        sys.modules.pop(name, None)
    monkeypatch.syspath_prepend(str(tmp_path))
    net = nn.Sequential(nn.Flatten(), nn.Linear(64, 10))
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(tmp_path / "ok.st"))
    return tmp_path


def audit(model: str, weights: Path, data: str = "digits", *extra: str) -> int:
    return main(["audit", "--model", model, "--weights", str(weights), "--data", data, *extra])


def one_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


def test_random_bytes_weights(user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = user_dir / "random.pt"
    weights.write_bytes(bytes(range(256)) * 4)
    assert audit("ffb_nets:make_net", weights) == 2
    line = one_line(capsys)
    assert "corrupted or not a checkpoint" in line and "safetensors.torch.save_file" in line


def test_pickle_payload_is_never_run(user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    marker = user_dir / "pwned"
    for name, write in [
        ("plain.pkl", lambda p: p.write_bytes(__import__("pickle").dumps(Payload(marker)))),
        ("archive.pt", lambda p: torch.save({"w": Payload(marker)}, p)),
    ]:
        weights = user_dir / name
        write(weights)
        assert audit("ffb_nets:make_net", weights) == 2
        line = one_line(capsys)
        assert "weights-only torch state dicts" in line
        assert not marker.exists()


def test_torch_save_of_non_tensors(user_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    weights = user_dir / "checkpoint.pt"
    torch.save({"epoch": 3, "weight": torch.zeros(2)}, weights)
    assert audit("ffb_nets:make_net", weights) == 2
    assert "entry 'epoch' that is a int" in one_line(capsys)
    torch.save(nn.Linear(64, 10), weights)
    assert audit("ffb_nets:make_net", weights) == 2
    assert "torch.nn.modules.linear.Linear, which is not a tensor" in one_line(capsys)


@pytest.mark.parametrize(
    ("model", "message"),
    [
        ("ffb_syntax:broken", "your module 'ffb_syntax' raised SyntaxError: invalid syntax"),
        ("ffb_raises:f", "your module 'ffb_raises' raised RuntimeError: cannot start here"),
        ("ffb_dependency:f", "raised ModuleNotFoundError: No module named 'ffb_not_installed"),
        ("ffb_nets:needs_args", "takes (width, depth); give a factory that takes no argument"),
        ("ffb_nets:returns_int", "returned int, not an nn.Module"),
        ("ffb_nets:raises", "your factory 'ffb_nets:raises' raised ValueError: no weights"),
        ("ffb_nets:make_nte", "no callable 'make_nte' (did you mean 'make_net'?)"),
        ("ffb_missing_module:f", "cannot import 'ffb_missing_module'"),
    ],
)
def test_user_code_failures_are_one_line(
    user_dir: Path, model: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert audit(model, user_dir / "ok.st") == 2
    assert message in one_line(capsys)


def test_user_code_traceback_with_debug(
    user_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("FIVEFOLD_DEBUG", "1")
    assert audit("ffb_nets:raises", user_dir / "ok.st") == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and "no weights for you" in err
    assert err.strip().splitlines()[-1].startswith("fivefold: error: your factory")


@pytest.mark.parametrize("suffix", ["jsonl", "csv"])
def test_non_utf8_data_names_line_and_offset(
    user_dir: Path, suffix: str, capsys: pytest.CaptureFixture[str]
) -> None:
    data = user_dir / f"bad.{suffix}"
    good = b'{"text": "fine", "label": 1}\n' if suffix == "jsonl" else b"text,label\nfine,1\n"
    bad = b'{"text": "caf\xe9", "label": 0}\n' if suffix == "jsonl" else b"caf\xe9,0\n"
    data.write_bytes(good + bad)
    assert audit("ffb_nets:make_net", user_dir / "ok.st", str(data)) == 2
    line = one_line(capsys)
    offset = len(good) + bad.index(b"\xe9")
    line_number = good.count(b"\n") + 1
    assert f"bad.{suffix}:{line_number}: not valid UTF-8" in line
    assert f"byte 0xe9 at byte offset {offset}" in line


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temp files go to tmp_path/tmp and the cwd is an empty tmp_path/cwd."""
    (tmp_path / "tmp").mkdir()
    (tmp_path / "cwd").mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path / "tmp"))
    monkeypatch.chdir(tmp_path / "cwd")
    return tmp_path


def _break(monkeypatch: pytest.MonkeyPatch, error: BaseException) -> None:
    def broken(kind: str) -> object:
        raise error

    monkeypatch.setattr(catalog, "registry_of", broken)


def test_internal_error_saves_traceback(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("FIVEFOLD_DEBUG", raising=False)
    _break(monkeypatch, RuntimeError("widget exploded\nsecond line"))
    assert main(["list", "models"]) == 1
    line = one_line(capsys)
    prefix = "fivefold: internal error: RuntimeError: widget exploded; full traceback saved to "
    assert line.startswith(prefix)
    saved = Path(line.removeprefix(prefix))
    assert saved.parent == private_tmp / "tmp"
    assert "Traceback" in saved.read_text() and "second line" in saved.read_text()
    assert not any((private_tmp / "cwd").iterdir())


def test_internal_error_traceback_goes_to_output_folder(
    private_tmp: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def broken(request: object) -> object:
        raise KeyError("lost")

    monkeypatch.setattr("fivefold.audit.run_audit", broken)
    out = private_tmp / "out"
    out.mkdir()
    code = audit("x:y", private_tmp / "w.st", "digits", "--out", str(out))
    assert code == 1
    saved = Path(one_line(capsys).split("full traceback saved to ")[1])
    assert saved.parent == out and "KeyError" in saved.read_text()


@pytest.mark.parametrize("how", ["env", "flag"])
def test_debug_prints_the_traceback(
    how: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _break(monkeypatch, RuntimeError("widget exploded"))
    if how == "env":
        monkeypatch.setenv("FIVEFOLD_DEBUG", "1")
    assert main(["list", "models", *(["--debug"] if how == "flag" else [])]) == 1
    err = capsys.readouterr().err
    assert "Traceback (most recent call last)" in err and "RuntimeError: widget exploded" in err
    assert "saved to" not in err


def test_interrupt_is_one_line_exit_130(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _break(monkeypatch, KeyboardInterrupt())
    assert main(["list", "models"]) == 130
    assert one_line(capsys) == "fivefold: interrupted"


def test_subprocess_hostile_weights_and_broken_module(
    user_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(user_dir)  # audit finds --model modules in the current folder
    monkeypatch.delenv("FIVEFOLD_DEBUG", raising=False)
    marker = user_dir / "pwned"
    torch.save({"w": Payload(marker)}, user_dir / "hostile.pt")
    for model, weights, message in [
        ("ffb_nets:make_net", "hostile.pt", "is corrupted or not a checkpoint"),
        ("ffb_syntax:broken", "ok.st", "raised SyntaxError"),
    ]:
        proc = run_cli("audit", "--model", model, "--weights", weights, "--data", "digits")
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        assert len(proc.stderr.strip().splitlines()) == 1 and message in proc.stderr
    assert not marker.exists()


def test_non_utf8_time_series_file(tmp_path: Path) -> None:
    from fivefold.data.timeseries import parse_ts
    from fivefold.errors import DataError

    path = tmp_path / "series.ts"
    path.write_bytes(b"@problemName x\n@classLabel true a b\n@data\n1,2:\xe9\n")
    with pytest.raises(DataError, match=r"series.ts:4: not valid UTF-8 \(byte 0xe9 at byte offset"):
        parse_ts(path)


def test_multi_line_user_error_prints_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from fivefold.errors import ConfigError

    _break(monkeypatch, ConfigError("first part\n  second part"))
    assert main(["list", "models"]) == 2
    assert one_line(capsys) == "fivefold: error: first part; second part"


def test_non_utf8_adult_csv(tmp_path: Path) -> None:
    from fivefold.data import DataConfig, load_task
    from fivefold.errors import DataError
    from fivefold.schema import build

    path = tmp_path / "adult.csv"
    path.write_bytes(b"age,workclass\n39,State-gov\n40,caf\xe9\n")
    with pytest.raises(DataError, match=r"adult.csv:3: not valid UTF-8 \(byte 0xe9 at byte offset"):
        load_task(build(DataConfig, {"dataset": "adult", "path": str(path)}, "data"))


def test_parquet_with_bad_utf8_strings(tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from fivefold.data import DataConfig, load_task
    from fivefold.errors import DataError

    words = pa.array([b"ok", b"caf\xe9", b"ok", b"no"] * 5, pa.binary()).view(pa.string())
    path = tmp_path / "bad.parquet"
    pq.write_table(pa.table({"word": words, "label": [0, 1] * 10}), path)
    with pytest.raises(DataError, match=r"bad.parquet: cannot read as parquet \(.*UTF"):
        load_task(DataConfig(dataset="parquet", path=str(path), target="label"))

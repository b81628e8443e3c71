"""Names are names, runs stay in their output folder, clean-up removes only fivefold's folders."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support import tiny_experiment as experiment

from fivefold.cli import main
from fivefold.config import inside, load_experiment, parse_experiment
from fivefold.errors import ConfigError
from fivefold.results.files import Trial
from fivefold.runner.trial import TRIAL_MARKER, run_trial, trial_dir


def files_under(folder: Path) -> list[Path]:
    return sorted(p.relative_to(folder) for p in folder.rglob("*"))


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


def test_dotdot_recipe_never_reaches_a_users_file(tmp_path: Path) -> None:
    # A recipe named ".." used to put its trial in <output>/seed-0 and wipe that folder.
    users = tmp_path / "run" / "seed-0"
    users.mkdir(parents=True)
    (users / "thesis.txt").write_text("mine")
    with pytest.raises(ConfigError, match=r"recipes\.\.\.: use letters"):
        experiment(tmp_path, recipes={"..": []})
    with pytest.raises(ConfigError, match="outside the output folder"):
        run_trial(experiment(tmp_path), Trial("..", 0))
    assert (users / "thesis.txt").read_text() == "mine"
    assert files_under(tmp_path / "run") == [Path("seed-0"), Path("seed-0/thesis.txt")]


def test_name_from_set_is_rejected_before_any_file_is_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "exp.toml").write_text('seeds = [0]\n[model]\nname = "mlp"\n')
    with pytest.raises(ConfigError, match="name: use letters"):
        load_experiment("exp.toml", ["name=../x"])
    for name in ("../x", "..", "../../escape"):
        assert main(["run", "exp.toml", "--set", f"name={name}"]) == 2
        assert "not a path" in one_line_error(capsys)
    assert files_under(tmp_path) == [Path("exp.toml")]
    assert not (tmp_path.parent / "escape").exists()


def test_nul_byte_in_a_name_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "a\\u0000b"\nseeds = [0]\n')
    assert main(["run", str(exp), "--out", str(tmp_path / "out")]) == 2
    assert "'a\\x00b'" in one_line_error(capsys)
    assert not (tmp_path / "out").exists()
    exp.write_text('seeds = [0]\n[recipes]\n"a\\u0000\\nb" = []\n')
    assert main(["run", str(exp), "--out", str(tmp_path / "out")]) == 2
    assert "recipes.a\\x00\\nb: use letters" in one_line_error(capsys)


def test_output_with_a_control_character_is_one_line() -> None:
    with pytest.raises(ConfigError, match="output: expected a folder path without control"):
        parse_experiment({"output": "runs/\x00x"})


def test_out_naming_a_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('seeds = [0]\n[model]\nname = "mlp"\n')
    taken = tmp_path / "notes.txt"
    taken.write_text("keep")
    assert main(["run", str(exp), "--out", str(taken)]) == 2
    assert f"--out: {taken} cannot be an output folder" in one_line_error(capsys)
    assert main(["run", str(exp), "--out", str(taken / "sub")]) == 2
    assert f"because {taken} is a file" in one_line_error(capsys)
    assert taken.read_text() == "keep"


def test_out_in_a_folder_that_is_not_writable_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('seeds = [0]\n[model]\nname = "mlp"\n')
    # root may write anywhere, so stand in for a read-only folder instead of chmod-ing one
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != tmp_path)
    assert main(["run", str(exp), "--out", str(tmp_path / "new" / "run")]) == 2
    assert f"--out: cannot write in {tmp_path} (permission denied)" in one_line_error(capsys)
    assert not (tmp_path / "new").exists()


def test_inside_keeps_paths_in_the_folder(tmp_path: Path) -> None:
    assert inside(tmp_path, "trials", "a", "seed-0") == tmp_path / "trials" / "a" / "seed-0"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "link").symlink_to(outside)
    for parts in [("..", "x"), ("a", "..", "..", "x"), (str(outside),), ("link", "x")]:
        with pytest.raises(ConfigError, match="outside the output folder") as info:
            inside(tmp_path / "run", *parts)
        assert "\n" not in str(info.value)


def test_folder_without_marker_is_left_untouched(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    workdir = trial_dir(exp, Trial("baseline", 0))
    workdir.mkdir(parents=True)
    (workdir / "data.csv").write_text("a,b\n")
    with pytest.raises(ConfigError, match="left untouched") as info:
        run_trial(exp, Trial("baseline", 0))
    assert str(workdir) in str(info.value)
    assert files_under(workdir) == [Path("data.csv")]


def test_symlinked_trial_folder_is_never_followed(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (outside / TRIAL_MARKER).write_text("")
    (outside / "keep.txt").write_text("keep")
    (tmp_path / "run" / "trials").mkdir(parents=True)
    (tmp_path / "run" / "trials" / "baseline").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the output folder"):
        run_trial(exp, Trial("baseline", 0))
    (tmp_path / "run" / "trials" / "baseline").unlink()
    (tmp_path / "run" / "trials" / "baseline").mkdir()
    (tmp_path / "run" / "trials" / "baseline" / "seed-0").symlink_to(outside)
    with pytest.raises(ConfigError, match="outside the output folder"):
        run_trial(exp, Trial("baseline", 0))
    # a link that stays inside trials/ is refused all the same: clean-up never follows one
    (tmp_path / "run" / "trials" / "baseline" / "seed-0").unlink()
    inner = tmp_path / "run" / "trials" / "other"
    inner.mkdir()
    (inner / TRIAL_MARKER).write_text("")
    (tmp_path / "run" / "trials" / "baseline" / "seed-0").symlink_to(inner)
    with pytest.raises(ConfigError, match="a link, or a folder without"):
        run_trial(exp, Trial("baseline", 0))
    assert files_under(outside) == [Path(TRIAL_MARKER), Path("keep.txt")]
    assert files_under(inner) == [Path(TRIAL_MARKER)]


def test_trials_with_marker_rerun_and_empty_folders_are_adopted(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    workdir = trial_dir(exp, Trial("baseline", 0))
    workdir.mkdir(parents=True)  # empty: what an interrupted start leaves behind
    assert run_trial(exp, Trial("baseline", 0))["status"] == "ok"
    assert (workdir / TRIAL_MARKER).is_file()
    (workdir / "stale.txt").write_text("from an older run")
    assert run_trial(exp, Trial("baseline", 0))["status"] == "ok"
    assert not (workdir / "stale.txt").exists()
    assert {TRIAL_MARKER, "result.json", "history.jsonl"} <= {p.name for p in workdir.iterdir()}


def test_trial_folders_of_older_runs_without_marker_are_adopted(tmp_path: Path) -> None:
    exp = experiment(tmp_path)
    workdir = trial_dir(exp, Trial("baseline", 0))
    workdir.mkdir(parents=True)
    for name in ("result.json", "history.jsonl", "model.safetensors"):
        (workdir / name).write_text("{}")  # what a trial wrote before folders were marked
    assert run_trial(exp, Trial("baseline", 0))["status"] == "ok"
    assert (workdir / TRIAL_MARKER).is_file()
    mixed = trial_dir(exp, Trial("baseline", 1))
    mixed.mkdir(parents=True)
    (mixed / "result.json").write_text("{}")
    (mixed / "notes.txt").write_text("the user's own")
    with pytest.raises(ConfigError, match="left untouched"):
        run_trial(exp, Trial("baseline", 1))
    assert files_under(mixed) == [Path("notes.txt"), Path("result.json")]

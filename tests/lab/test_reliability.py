"""Issue 17: one writer per run, no silent restart, extendable schedules, one-line errors for
every bad input, TOML strings that round-trip, divergence in buffers, stale temporary files."""
from __future__ import annotations

import csv
import errno
import os
import pickle
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from scratchgrad.lab import cli, trainer as lab_trainer
from scratchgrad.lab.cli import main
from scratchgrad.lab.config import dump_toml, load_config
from scratchgrad.lab.rundir import RunDir
from scratchgrad.lab.trainer import EXIT_DIVERGED, EXIT_INTERRUPTED
from scratchgrad.serialization import load, save


def metrics(run: Path) -> list[list[str]]:
    """metrics.csv as text, without the seconds column (the one thing a repeat changes)."""
    with open(run / "metrics.csv", newline="") as stream:
        rows = list(csv.reader(stream))
    keep = [i for i, name in enumerate(rows[0]) if name != "seconds"]
    return [[row[i] for i in keep] for row in rows]


def error_line(capsys, command: str = "train") -> str:
    """The one line a CLI error prints, checked to be one line in the boundary's format."""
    err = capsys.readouterr().err
    assert err.startswith(f"scratchgrad {command}: error: ") and err.count("\n") == 1, err
    return err


def cli_process(*args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "scratchgrad.lab.cli", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def wait_until(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


@pytest.fixture
def finished(make_config, tmp_path) -> Path:
    """A finished one-epoch run."""
    run = tmp_path / "finished"
    assert main(["train", str(make_config()), "--out", str(run)]) == 0
    return run


@pytest.fixture
def run_copy(finished, tmp_path) -> Path:
    """A copy of ``finished``, to spoil."""
    shutil.copytree(finished, tmp_path / "run")
    return tmp_path / "run"


# ------------------------------------------------------------------ 1. one writer per run directory
def test_a_second_writer_gets_one_line_naming_the_holders_pid(make_config, run_copy, tmp_path, capsys):
    fresh = tmp_path / "fresh"
    with RunDir(fresh).lock():
        assert main(["train", str(make_config()), "--out", str(fresh)]) == 2
        assert f"{fresh} is in use by another training process (pid {os.getpid()})" in error_line(capsys)
        assert not RunDir(fresh).exists()
    config = (run_copy / "config.toml").read_bytes()
    with RunDir(run_copy).lock():
        assert RunDir(run_copy).holder() == str(os.getpid())
        assert main(["train", "--resume", str(run_copy), "--set", "epochs=2"]) == 2
        assert f"(pid {os.getpid()})" in error_line(capsys)
    assert RunDir(run_copy).holder() is None
    assert (run_copy / "config.toml").read_bytes() == config and len(metrics(run_copy)) == 2


def test_two_trainings_started_together_leave_one_consistent_run(make_config, tmp_path):
    run = tmp_path / "run"
    configs = [make_config(f"seed{seed}", top={"seed": seed}) for seed in (1, 2)]
    processes = [cli_process("train", str(config), "--out", str(run)) for config in configs]
    codes = [process.wait(timeout=300) for process in processes]
    assert sorted(codes) == [0, 2], [process.stderr.read() for process in processes]
    loser = processes[codes.index(2)].stderr.read()
    assert "is in use by another training process (pid" in loser or "already holds a run" in loser
    winner_seed = (1, 2)[codes.index(0)]
    assert tomllib.loads((run / "config.toml").read_text())["seed"] == winner_seed
    state = load(run / "state.safetensors")
    assert [row["epoch"] for row in state["metrics"]] == [1] and len(metrics(run)) == 2


def test_a_sweep_reports_a_locked_run_instead_of_starting_a_twin(make_config, tmp_path, capsys):
    root = tmp_path / "runs"
    with RunDir(root / "tiny").lock():
        assert main(["sweep", str(make_config()), "--root", str(root)]) == 1
    output = capsys.readouterr().out
    assert f"locked: pid {os.getpid()} is training it; not started" in output
    assert not (root / "tiny" / "console.txt").exists() and not RunDir(root / "tiny").exists()


def test_a_killed_sweep_takes_its_child_with_it(make_config, tmp_path):
    config = make_config(top={"epochs": 500})
    run = RunDir(tmp_path / "runs" / "tiny")
    sweep = cli_process("sweep", str(config), "--root", str(tmp_path / "runs"))
    try:
        wait_until(lambda: run.file("state.safetensors").exists(), 120, "the child's first epoch")
        child = run.holder()
        assert child is not None and int(child) != sweep.pid
    finally:
        sweep.kill()  # SIGKILL: the sweep can pass nothing on
        sweep.wait()
    wait_until(lambda: run.holder() is None, 60, f"the orphaned child {child} to stop")
    assert "interrupted at epoch" in run.file("log.txt").read_text()  # stopped as on Ctrl-C: state saved


# ------------------------------------------------------------------ 2. no silent restart
def test_resume_refuses_a_finished_run_without_its_state_and_restart_starts_over(finished, run_copy, capsys):
    before = {name: (run_copy / name).read_bytes() for name in ("metrics.csv", "last.safetensors", "config.toml")}
    (run_copy / "state.safetensors").unlink()
    assert main(["train", "--resume", str(run_copy), "--set", "epochs=2"]) == 2
    err = error_line(capsys)
    assert "1 epoch(s) finished but state.safetensors is missing" in err
    assert f"scratchgrad train --resume {run_copy} --restart" in err
    assert {name: (run_copy / name).read_bytes() for name in before} == before  # nothing lost, config unchanged
    assert main(["train", "--resume", str(run_copy), "--restart"]) == 0
    assert metrics(run_copy) == metrics(finished) and (run_copy / "state.safetensors").exists()
    assert "restarted after epoch 0" in (run_copy / "log.txt").read_text()


def test_a_failed_resume_leaves_config_toml_as_it_was(run_copy, capsys):
    config = (run_copy / "config.toml").read_bytes()
    state = run_copy / "state.safetensors"
    state.write_bytes(state.read_bytes()[:100])
    assert main(["train", "--resume", str(run_copy), "--set", "epochs=3"]) == 2
    assert "state.safetensors" in error_line(capsys)
    assert (run_copy / "config.toml").read_bytes() == config


# ------------------------------------------------------------------ 3. extending a run's schedule
SCHEDULES = {
    "step": {"name": "step", "step_size": 1, "gamma": 0.5},
    "multistep": {"name": "multistep", "milestones": [1], "gamma": 0.3},
    "cosine": {"name": "cosine", "total_epochs": 2},
    "onecycle": {"name": "onecycle", "total_epochs": 2},
}


@pytest.mark.parametrize("name", list(SCHEDULES))
def test_resume_with_more_epochs_continues_the_schedule_exactly(name, make_config, tmp_path):
    config = make_config(schedule=SCHEDULES[name], optim={"name": "sgd", "lr": 0.05})
    extended, whole = tmp_path / "extended", tmp_path / "whole"
    assert main(["train", str(config), "--out", str(extended)]) == 0  # 1 epoch
    assert main(["train", "--resume", str(extended), "--set", "epochs=2"]) == 0
    assert main(["train", str(config), "--set", "epochs=2", "--out", str(whole)]) == 0
    assert metrics(extended) == metrics(whole)
    assert load_config(extended / "config.toml")["epochs"] == 2


@pytest.mark.parametrize("name", ["cosine", "onecycle"])
def test_a_schedule_cannot_be_stretched_past_its_total_epochs(name, make_config, tmp_path, capsys):
    run = tmp_path / "run"
    assert main(["train", str(make_config(schedule={"name": name})), "--out", str(run)]) == 0
    config = (run / "config.toml").read_bytes()
    assert tomllib.loads(config.decode())["schedule"]["total_epochs"] == 1  # sized explicitly
    assert main(["train", "--resume", str(run), "--set", "epochs=4"]) == 2
    err = error_line(capsys)
    assert f"epochs = 4 goes past schedule.total_epochs = 1, where the {name} schedule ends" in err
    assert "start a new run with epochs = 4" in err
    assert (run / "config.toml").read_bytes() == config
    assert main(["train", "--resume", str(run), "--set", "schedule.total_epochs=4"]) == 2
    assert "only epochs may change" in error_line(capsys)


def test_a_run_from_before_total_epochs_keeps_the_span_it_trained_with(run_copy, capsys):
    text = (run_copy / "config.toml").read_text().replace('name = "none"', 'name = "cosine"')
    (run_copy / "config.toml").write_text(text.replace("total_epochs = 1\n", ""))
    assert main(["train", "--resume", str(run_copy), "--set", "epochs=3"]) == 2
    assert "goes past schedule.total_epochs = 1" in error_line(capsys)


# ------------------------------------------------------------------ 4. one error boundary at the CLI
def _resume(run: Path) -> list[str]:
    return ["train", "--resume", str(run)]


BAD_STATES = {  # how to spoil state.safetensors, and what the error says
    "empty": (lambda state, run: state.write_bytes(b""), "fewer than the 8-byte header length"),
    "truncated": (lambda state, run: state.write_bytes(state.read_bytes()[:-7]), "truncated"),
    "a pickle": (lambda state, run: state.write_bytes(pickle.dumps({"model": 1})), "not safetensors"),
    "weights in its place": (lambda state, run: shutil.copy(run / "last.safetensors", state),
                             "not a training state: no model, optimizer, scheduler, rng, progress, metrics"),
    "an entry missing": (lambda state, run: save({"model": {}, "optimizer": {}, "scheduler": None, "progress": {},
                                                  "metrics": []}, state), "not a training state: no rng"),
    "no weights": (lambda state, run: save({"model": {}, "optimizer": {}, "scheduler": None, "rng": {},
                                            "progress": {}, "metrics": []}, state), "do not fit model c5l3"),
    "wrong progress": (lambda state, run: save({**load(state), "progress": {"epoch": 1, "unknown": 3}}, state),
                       "does not hold this run's training state"),
}


@pytest.mark.parametrize("spoil", list(BAD_STATES))
def test_a_bad_state_file_is_one_line_naming_it(run_copy, spoil, capsys):
    spoil_state, message = BAD_STATES[spoil]
    spoil_state(run_copy / "state.safetensors", run_copy)
    assert main(_resume(run_copy)) == 2
    err = error_line(capsys)
    assert str(run_copy / "state.safetensors") in err and message in err


@pytest.mark.parametrize("weights, message", [
    (".", "cannot be read (Is a directory)"),
    ("garbage.safetensors", "not a safetensors file"),
])
def test_bad_weights_are_one_line_naming_the_key(make_config, tmp_path, weights, message, capsys):
    (tmp_path / "garbage.safetensors").write_bytes(b"abc")
    path = tmp_path / weights
    assert main(["train", str(make_config()), "--set", f"weights={str(path)!r}", "--out", str(tmp_path / "r")]) == 2
    err = error_line(capsys)
    assert f"weights = {str(path)!r}" in err and message in err and "expected a safetensors file" in err
    assert not (tmp_path / "r").exists()


def test_a_refused_cifar_pickle_is_one_line(make_config, tmp_path, capsys):
    folder = tmp_path / "cifar"
    folder.mkdir()
    payload = b"\x80\x02cos\nsystem\nX\x04\x00\x00\x00trueR."
    for name in ("test_batch", *(f"data_batch_{i}" for i in range(1, 6))):
        (folder / name).write_bytes(payload)
    config = make_config(data={"dataset": "cifar10", "root": str(folder), "subset": 0, "test_subset": 0})
    assert main(["train", str(config), "--out", str(tmp_path / "r")]) == 2
    assert "refused to load global os.system" in error_line(capsys)


@pytest.mark.parametrize("content, message", [
    (b"\x89PNG\r\n\x1a\n\xff\xfe\x00", "not a text file (not UTF-8)"),
    (None, "is a directory; expected a TOML file"),
])
def test_a_config_that_is_no_text_file_is_one_line(tmp_path, content, message, capsys):
    path = tmp_path / "config.toml"
    path.mkdir() if content is None else path.write_bytes(content)
    assert main(["train", str(path)]) == 2
    assert f"config {path}: {message}" in error_line(capsys)


def test_out_naming_an_existing_file_is_one_line(make_config, tmp_path, capsys):
    (tmp_path / "file").write_text("keep me")
    assert main(["train", str(make_config()), "--out", str(tmp_path / "file")]) == 2
    assert "is a file, not a run directory; choose another --out" in error_line(capsys)
    assert (tmp_path / "file").read_text() == "keep me"


@pytest.mark.parametrize("code, hint", [(errno.ENOSPC, "the disk is full"), (errno.EACCES, "permission denied")])
def test_disk_full_or_no_permission_mid_run_is_one_line_and_loses_nothing(
        code, hint, make_config, tmp_path, monkeypatch, capsys):
    run = tmp_path / "run"
    config = make_config(top={"epochs": 2})
    real_end_epoch = lab_trainer.Trainer._end_epoch

    def failing_fsync(fd: int) -> None:
        raise OSError(code, os.strerror(code))

    def end_epoch_on_a_full_disk(self, row):
        if row["epoch"] == 2:  # epoch 1 is committed; the disk fills up while epoch 2 is saved
            monkeypatch.setattr(os, "fsync", failing_fsync)
        real_end_epoch(self, row)

    monkeypatch.setattr(lab_trainer.Trainer, "_end_epoch", end_epoch_on_a_full_disk)
    assert main(["train", str(config), "--out", str(run)]) == 2
    err = error_line(capsys)
    assert hint in err and os.strerror(code) in err and str(run) in err
    monkeypatch.undo()
    assert not list(run.glob(".*.tmp"))
    assert main(["train", "--resume", str(run)]) == 0
    assert main(["train", str(config), "--out", str(tmp_path / "whole")]) == 0
    assert metrics(run) == metrics(tmp_path / "whole")


def test_report_on_a_malformed_metrics_csv_is_one_line(run_copy, tmp_path, capsys):
    text = (run_copy / "metrics.csv").read_text().splitlines()
    (run_copy / "metrics.csv").write_text("\n".join([text[0], "1,abc," + text[1].split(",", 2)[2]]) + "\n")
    assert main(["report", str(run_copy), "-o", str(tmp_path / "r.md")]) == 2
    err = error_line(capsys, "report")
    assert f"{run_copy / 'metrics.csv'}, line 2: malformed" in err and "--resume" in err
    assert main(_resume(run_copy)) == 0  # the state rewrites metrics.csv
    assert main(["report", str(run_copy), "-o", str(tmp_path / "r.md")]) == 0


@pytest.mark.parametrize("args, command, message", [
    (["--set", "optim.betas=[0.9]"], "train", "optim.betas = [0.9] has 1 items; expected 2"),
    (["--set", "model.width=1000"], "train", "model.width = 1000.0 is out of range; expected a value > 0 and <= 4.0"),
])
def test_config_values_are_bounded_before_anything_is_built(make_config, tmp_path, args, command, message, capsys):
    assert main([command, str(make_config()), *args, "--out", str(tmp_path / "r")]) == 2
    assert message in error_line(capsys, command)
    assert not (tmp_path / "r").exists()


@pytest.mark.parametrize("args, message", [
    (["summary", "c5l3", "--input", "3,100000,100000"], "expected 1 <= C <= 64 and 1 <= H, W <= 512"),
    (["summary", "c5l3", "--input", "0,32,32"], "expected 1 <= C <= 64"),
    (["summary", "c5l3", "--set", "width=1000"], "width = 1000.0 is out of range"),
])
def test_summary_sizes_are_bounded(args, message, capsys):
    assert main(args) == 2
    assert message in error_line(capsys, "summary")


@pytest.mark.parametrize("rtol", ["nan", "inf", "-1"])
def test_compare_rejects_a_tolerance_that_is_not_a_number(make_config, rtol, capsys):
    assert main(["compare", str(make_config()), "--rtol", rtol, "--steps", "1"]) == 2
    assert "--rtol: expected a finite number >= 0" in error_line(capsys, "compare")


def test_a_real_bug_keeps_its_traceback(make_config, tmp_path, monkeypatch):
    def bug(self):
        raise ZeroDivisionError("a bug")

    monkeypatch.setattr(lab_trainer.Trainer, "fit", bug)
    with pytest.raises(ZeroDivisionError):
        main(["train", str(make_config()), "--out", str(tmp_path / "r")])
    assert cli.expected_failure(OSError(errno.EIO, "I/O error")) is None
    assert cli.expected_failure(ValueError("x")) is None


# ------------------------------------------------------------------ 5. strings with control characters
def test_a_name_with_control_characters_trains_resumes_and_reports(make_config, tmp_path):
    name = 'a\u007fb\rc\u0001d "quoted" \\ tab\tnew\nline'
    run = tmp_path / "run"
    assert main(["train", str(make_config()), "--set", f"name={dump_toml({'v': name})[4:].strip()}",
                 "--out", str(run)]) == 0
    assert load_config(run / "config.toml")["name"] == name
    assert main(["train", "--resume", str(run), "--set", "epochs=2"]) == 0
    assert main(["report", str(run), "-o", str(tmp_path / "r.md")]) == 0


def test_a_name_that_is_not_valid_text_is_one_line(make_config, tmp_path, capsys):
    undecodable = b"caf\xe9".decode("utf-8", "surrogateescape")  # Latin-1 bytes in a UTF-8 argv
    assert main(["train", str(make_config()), "--set", f"name={undecodable}", "--out", str(tmp_path / "r")]) == 2
    assert "is not valid text" in error_line(capsys, "train")
    assert not (tmp_path / "r").exists()


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text(alphabet=st.characters(max_codepoint=0x9F)))
def test_every_string_round_trips_through_the_toml_writer(text, controls):
    config = {"name": text, "table": {"key": controls, "list": [text, controls]}}
    assert tomllib.loads(dump_toml(config)) == config


# ------------------------------------------------------------------ 7. divergence in buffers
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_non_finite_running_var_stops_the_run_as_diverged(make_config, tmp_path, monkeypatch, capsys):
    plain_step = lab_trainer.Trainer._train_step

    def step_then_overflow(self, images, labels, epoch, step):
        result = plain_step(self, images, labels, epoch, step)
        if epoch == 2:  # as an overflowing activation leaves BatchNorm's statistics while the loss stays finite
            for name, buffer in self.model.named_buffers():
                if name.endswith("running_var"):
                    buffer.array[...] = np.inf
        return result

    monkeypatch.setattr(lab_trainer.Trainer, "_train_step", step_then_overflow)
    run = tmp_path / "run"
    assert main(["train", str(make_config(top={"epochs": 3})), "--out", str(run)]) == EXIT_DIVERGED
    out = capsys.readouterr().out
    assert "stopped: features.1.running_var (and 4 more) is not finite after epoch 2" in out
    assert "the checkpoint of epoch 1 is kept" in out
    assert len(metrics(run)) == 2
    weights = load(run / "last.safetensors")
    assert all(np.isfinite(value.numpy()).all() for value in weights.values())


# ------------------------------------------------------------------ 8. stale temporary files
def test_stale_temporary_files_are_removed_when_a_run_starts_or_resumes(make_config, run_copy, tmp_path):
    stale = [run_copy / ".state.safetensors.0123abcd.tmp", run_copy / ".metrics.csv.deadbeef.tmp"]
    for path in stale:
        path.write_bytes(b"half a file")
    keep = run_copy / "notes.tmp"  # not one of ours: no leading dot
    keep.write_text("mine")
    assert main(_resume(run_copy)) == 0
    assert not any(path.exists() for path in stale) and keep.exists()
    assert "removed 2 temporary file(s)" in (run_copy / "log.txt").read_text()
    fresh = tmp_path / "fresh"
    fresh.mkdir()
    (fresh / ".config.toml.00000000.tmp").write_text("x")
    assert main(["train", str(make_config()), "--out", str(fresh)]) == 0
    assert not list(fresh.glob(".*.tmp"))


def test_ctrl_c_outside_the_training_loop_is_exit_130_not_an_error(make_config, tmp_path, monkeypatch, capsys):
    def interrupted(self):
        raise KeyboardInterrupt

    monkeypatch.setattr(lab_trainer.Trainer, "fit", interrupted)
    assert main(["train", str(make_config()), "--out", str(tmp_path / "r")]) == EXIT_INTERRUPTED
    assert capsys.readouterr().err == "scratchgrad train: interrupted\n"

"""``sweep`` runs configs one process each; ``report`` turns run directories into a table and a figure."""
from __future__ import annotations

import math
import sys
from pathlib import Path

from scratchgrad.lab.cli import main
from scratchgrad.lab.config import load_config
from scratchgrad.lab.rundir import RunDir, run_info

PNG = b"\x89PNG\r\n\x1a\n"
SMALL = {"model": {"name": "small_cnn", "width": 0.25}, "data": {"subset": 64, "test_subset": 50}}


def table(markdown: str) -> list[list[str]]:
    """The cells of the Markdown table's body rows."""
    rows = [line for line in markdown.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def test_sweep_runs_each_config_once_and_report_renders_table_and_figure(make_config, tmp_path, capsys):
    first = make_config("first", **SMALL)
    second = make_config("second", **SMALL, optim={"name": "sgd", "lr": 0.01})
    root = tmp_path / "runs"
    assert main(["sweep", str(first), str(second), "--root", str(root), "--jobs", "2"]) == 0
    output = capsys.readouterr().out
    assert "starting" in output and "| run | status |" in output
    assert {path.name for path in root.iterdir()} == {"first", "second"}
    for run in ("first", "second"):
        assert len(RunDir(root / run).read_metrics()) == 1 and (root / run / "console.txt").is_file()

    assert main(["sweep", str(first), str(second), "--root", str(root)]) == 0  # again: nothing to do
    assert capsys.readouterr().out.count("already finished") == 2

    report = tmp_path / "out" / "report.md"
    assert main(["report", str(root / "first"), str(root / "second"), "-o", str(report)]) == 0
    text = report.read_text()
    rows = table(text)
    assert [row[0] for row in rows] == ["first", "second"]
    assert rows[0][2] == "small_cnn ×0.25" and rows[0][6] == "adam 0.002" and rows[1][6] == "sgd 0.01, momentum 0.9"
    assert "![curves](report.png)" in text
    assert (tmp_path / "out" / "report.png").read_bytes().startswith(PNG)


def test_sweep_resumes_an_unfinished_run_and_a_failure_loses_nothing_else(make_config, tmp_path, capsys):
    good = make_config("good", **SMALL, top={"epochs": 2})
    bad = make_config("bad", **SMALL, top={"weights": str(tmp_path / "missing.safetensors")})
    root = tmp_path / "runs"
    # a run stopped after its first epoch: the same config with one epoch
    assert main(["train", str(good), "--set", "epochs=1", "--out", str(root / "good")]) == 0
    code = main(["sweep", str(bad), str(good), "--root", str(root)])
    output = capsys.readouterr().out
    assert code == 1 and f"resuming {root / 'good'}" in output
    assert [row["epoch"] for row in RunDir(root / "good").read_metrics()] == [1, 2]
    assert "failed (exit 2" in output and "missing.safetensors" in (root / "bad" / "console.txt").read_text()


def fake_run(folder: Path, seed: int, accuracies: list[float], val: list[float] | None = None,
             **overrides: str) -> Path:
    """A run directory with a config and metrics, as a finished run leaves them (``val``: val accuracies)."""
    config = load_config(None, [f"seed={seed}", "name=setting", "epochs=3", *(f"{k}={v}" for k, v in overrides.items())])
    run = RunDir(folder / f"setting-{seed}-{len(overrides)}")
    run.write_config(config, run_info({}))
    val = val or [math.nan] * len(accuracies)
    run.write_metrics([{"epoch": e + 1, "train_loss": 1.0, "train_acc": 0.5, "val_loss": 1.0, "val_acc": v,
                        "test_loss": 1.0, "test_acc": acc, "lr": 3e-4, "seconds": 60.0}
                       for e, (acc, v) in enumerate(zip(accuracies, val))])
    return run.path


def test_report_gives_mean_and_std_over_seeds(tmp_path):
    runs = [fake_run(tmp_path, 0, [0.80, 0.90, 0.85]), fake_run(tmp_path, 1, [0.70, 0.80, 0.92]),
            fake_run(tmp_path, 0, [0.5, 0.6, 0.7], **{"model.batchnorm": "true"})]
    assert main(["report", *map(str, runs), "-o", str(tmp_path / "r.md")]) == 0
    rows = table((tmp_path / "r.md").read_text())
    assert len(rows) == 2
    setting, dataset, model, bn, conv, fc, optim, augment, engine, epochs, count, honest, val_epoch, best, final, \
        time = rows[0]
    assert (dataset, model, bn, conv, fc, augment, engine, epochs, count) == \
        ("mnist-sample", "c5l3", "no", "–", "–", "none", "scratch", "3", "2")
    assert honest == "no val split" and val_epoch == "–"
    assert best == "91.00 ± 1.41 @ 2 ± 1" and final == "88.50 ± 4.95" and time == "3:00"
    assert rows[1][3] == "yes" and rows[1][10] == "1" and rows[1][13] == "70.00 @ 3"


def test_report_of_nothing_is_an_error(tmp_path, capsys):
    RunDir(tmp_path / "empty").write_config(load_config(None), run_info({}))
    assert main(["report", str(tmp_path / "empty"), str(tmp_path / "absent"), "-o", str(tmp_path / "r.md")]) == 2
    captured = capsys.readouterr()
    assert "skipped" in captured.out and "none of the given runs has a finished epoch" in captured.err


def test_report_without_matplotlib_still_writes_the_table(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)  # import fails as if not installed
    run = fake_run(tmp_path, 0, [0.5, 0.6])
    assert main(["report", str(run), "-o", str(tmp_path / "r.md")]) == 0
    assert "no figure" in capsys.readouterr().out
    assert len(table((tmp_path / "r.md").read_text())) == 1 and not (tmp_path / "r.png").exists()

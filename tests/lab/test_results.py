"""The honest protocol: a validation split chooses the best epoch; report and runs.csv show both protocols."""
from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest

from scratchgrad.data import mnist_sample
from scratchgrad.lab.build import hold_out
from scratchgrad.lab.cli import main
from scratchgrad.lab.config import ConfigError
from scratchgrad.lab.rundir import RunDir

from test_sweep_report import fake_run, table


def test_hold_out_is_fixed_by_the_seed_disjoint_and_complete():
    train = mnist_sample(train=True)
    rest, val = hold_out(train, 100, seed=3)
    again_rest, again_val = hold_out(train, 100, seed=3)
    _, other_val = hold_out(train, 100, seed=4)
    assert len(val) == 100 and len(rest) == len(train) - 100
    assert np.array_equal(val.indices, again_val.indices) and np.array_equal(rest.indices, again_rest.indices)
    assert not np.array_equal(val.indices, other_val.indices)
    assert set(val.indices).isdisjoint(rest.indices)
    assert sorted([*val.indices, *rest.indices]) == list(range(len(train)))
    assert np.array_equal(val.images, train.images[val.indices])


def test_hold_out_of_zero_keeps_the_dataset_and_too_many_is_a_config_error():
    train = mnist_sample(train=True)
    assert hold_out(train, 0, seed=0) == (train, None)
    with pytest.raises(ConfigError, match="data.val_split"):
        hold_out(train, len(train), seed=0)


def test_a_run_with_a_val_split_records_val_columns_and_picks_best_on_val(make_config, tmp_path, capsys):
    config = make_config("honest", top={"epochs": 2}, data={"val_split": 32})
    out = tmp_path / "run"
    assert main(["train", str(config), "--out", str(out)]) == 0
    rows = RunDir(out).read_metrics()
    assert len(rows) == 2 and all(0 <= row["val_acc"] <= 1 and row["val_loss"] > 0 for row in rows)
    assert "val loss" in capsys.readouterr().out
    log = (out / "log.txt").read_text()
    assert "96 train" in log  # 128 - 32 held out
    best = max(rows, key=lambda row: row["val_acc"])["epoch"]
    assert "best val acc" in log and f"at epoch {best}" in log

    assert main(["report", str(out), "-o", str(tmp_path / "r.md"), "--csv", str(tmp_path / "runs.csv")]) == 0
    with open(tmp_path / "runs.csv", newline="") as stream:
        (row,) = list(csv.DictReader(stream))
    assert row["experiment"] == config.as_posix() and row["engine"] == "scratch" and row["seed"] == "0"
    assert row["best_val_epoch"] == str(best) and row["val_split"] == "32"
    assert float(row["test_acc_at_best_val"]) == pytest.approx(100 * rows[best - 1]["test_acc"], abs=0.005)
    assert row["options"] == "batchnorm=True; fc_dropout=0.3; width=0.125"
    assert row["processor"] and row["commit"]


def test_report_reads_the_test_acc_at_the_best_val_epoch_not_the_best_test_acc(tmp_path):
    runs = [fake_run(tmp_path, 0, [0.80, 0.90, 0.85], val=[0.70, 0.75, 0.95]),
            fake_run(tmp_path, 1, [0.82, 0.70, 0.92], val=[0.90, 0.60, 0.80])]
    assert main(["report", *map(str, runs), "-o", str(tmp_path / "r.md"), "--csv", str(tmp_path / "c.csv")]) == 0
    (row,) = table((tmp_path / "r.md").read_text())
    honest, val_epoch, study = row[11], row[12], row[13]
    assert honest == f"83.50 ± {np.std([85, 82], ddof=1):.2f}" and val_epoch == "2 ± 1"  # epochs 3 and 1
    assert study == "91.00 ± 1.41 @ 2 ± 1"
    with open(tmp_path / "c.csv", newline="") as stream:
        csv_rows = list(csv.DictReader(stream))
    assert [r["test_acc_at_best_val"] for r in csv_rows] == ["85.00", "82.00"]
    assert [r["best_test_acc"] for r in csv_rows] == ["90.00", "92.00"]


def test_metrics_written_before_the_val_columns_read_them_as_nan(tmp_path):
    run = RunDir(tmp_path)
    (tmp_path / "metrics.csv").write_text("epoch,train_loss,train_acc,test_loss,test_acc,lr,seconds\n"
                                          "1,0.5,0.8,0.4,0.9,0.001,12.0\n")
    (row,) = run.read_metrics()
    assert row["epoch"] == 1 and row["test_acc"] == 0.9 and math.isnan(row["val_acc"])


def test_report_archive_copies_the_small_files_and_reports_from_the_copies(tmp_path):
    run = fake_run(tmp_path / "runs", 0, [0.8, 0.9], val=[0.7, 0.6])
    (run / "last.safetensors").write_bytes(b"weights are not archived")
    to = tmp_path / "results" / "runs"
    out = tmp_path / "results" / "tables.md"
    assert main(["report", str(run), "--archive", str(to), "-o", str(out), "--csv", str(tmp_path / "r.csv")]) == 0
    copy = to / "scratch" / run.name
    assert sorted(p.name for p in copy.iterdir()) == ["config.toml", "metrics.csv"]
    assert RunDir(copy).read_metrics() == RunDir(run).read_metrics()
    again = tmp_path / "again.md"
    assert main(["report", str(copy), "-o", str(again)]) == 0  # the copies alone regenerate the table
    assert table(again.read_text()) == table(out.read_text())


def test_report_contrasts_pair_the_seeds_both_settings_ran(tmp_path):
    base = [fake_run(tmp_path / "base", seed, [0.80, 0.85], val=[0.70, 0.80], name="base") for seed in (0, 1)]
    new = [fake_run(tmp_path / "new", seed, accuracies, val=val, name="new") for seed, accuracies, val in
           [(0, [0.82, 0.90], [0.75, 0.90]), (1, [0.84, 0.88], [0.78, 0.82]), (2, [0.5, 0.5], [0.5, 0.5])]]
    out = tmp_path / "r.md"
    assert main(["report", *map(str, base + new), "-o", str(out), "--contrast", "the change=new:base"]) == 0
    text = out.read_text()
    (row,) = table(text.split("## Contrasts")[1])
    label, difference, engine, seeds, honest, study, first, last = row
    assert (label, difference, engine, seeds) == ("the change", "new − base", "scratch", "0, 1")  # seed 2: new only
    assert honest == f"4.00 ± {np.std([5, 3], ddof=1):.2f}"  # at the best val epoch: 90 - 85 and 88 - 85
    assert study == f"4.00 ± {np.std([5, 3], ddof=1):.2f}"
    assert first == f"6.50 ± {np.std([5, 8], ddof=1):.2f}" and last == f"6.00 ± {np.std([10, 2], ddof=1):.2f}"


@pytest.mark.parametrize("contrast, message", [
    ("no pair", "expected LABEL=NAME:BASE"),
    ("x=new:", "expected LABEL=NAME:BASE"),
    ("x=new:absent", "no run named 'absent'; the runs are base, new"),
])
def test_report_contrast_errors_name_the_argument(contrast, message, tmp_path, capsys):
    runs = [fake_run(tmp_path / name, 0, [0.8], val=[0.7], name=name) for name in ("base", "new")]
    assert main(["report", *map(str, runs), "-o", str(tmp_path / "r.md"), "--contrast", contrast]) == 2
    assert message in capsys.readouterr().err


def test_report_sets_each_engine_against_scratch_with_the_pooled_seed_spread(tmp_path):
    scratch = [fake_run(tmp_path / "s", seed, [0.80, last], val=[0.70, 0.80]) for seed, last in ((0, 0.85), (1, 0.87))]
    torch = [fake_run(tmp_path / "t", 0, [0.90, 0.86], val=[0.90, 0.70], engine="torch")]
    alone = [fake_run(tmp_path / "a", 0, [0.5], val=[0.5], name="alone", engine="torch")]
    out = tmp_path / "r.md"
    assert main(["report", *map(str, scratch + torch + alone), "-o", str(out)]) == 0
    (row,) = table(out.read_text().split("## Engines")[1])  # "alone" ran on one engine only
    setting, dataset, engine, seeds, value, reference, difference, std, within = row
    assert (setting, engine, seeds, value) == ("setting", "torch", "1", "90.00")  # its best val epoch is the first
    assert reference == f"86.00 ± {np.std([85, 87], ddof=1):.2f} (2 seeds)"
    assert difference == "+4.00" and std == f"{math.sqrt(2):.2f}" and within == "no"  # 4 > 2 * 1.41


def test_report_has_no_engine_table_when_every_config_ran_on_one_engine(tmp_path):
    runs = [fake_run(tmp_path, seed, [0.8], val=[0.7]) for seed in (0, 1)]
    assert main(["report", *map(str, runs), "-o", str(tmp_path / "r.md")]) == 0
    assert "## Engines" not in (tmp_path / "r.md").read_text()


def test_report_figure_of_an_error_of_zero_draws_without_warnings(tmp_path):
    pytest.importorskip("matplotlib")
    runs = [fake_run(tmp_path, 0, [1.0, 1.0], val=[1.0, 1.0])]  # no log axis for a 0 % error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main(["report", *map(str, runs), "-o", str(tmp_path / "r.md")]) == 0
    assert (tmp_path / "r.png").is_file()


def test_report_groups_runs_that_differ_only_in_the_thread_count(tmp_path):
    runs = [fake_run(tmp_path / "a", 0, [0.8], val=[0.7]), fake_run(tmp_path / "b", 1, [0.9], val=[0.7], threads="1")]
    assert main(["report", *map(str, runs), "-o", str(tmp_path / "r.md")]) == 0
    (row,) = table((tmp_path / "r.md").read_text())
    assert row[10] == "2" and row[11] == f"85.00 ± {np.std([80, 90], ddof=1):.2f}"

"""``scratchgrad report``: the study's Table 1 for a set of runs, and one figure of their curves.

Runs whose configs differ only in the seed form one row, with mean ± std over the
seeds. Best test accuracy is picked over epochs on the test set, as the study did
(it had no validation split); the final accuracy is the last epoch's.
"""
from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .config import ConfigError, dump_toml
from .plots import plot_runs
from .rundir import RunDir, write_atomic

HEADER = ["setting", "dataset", "model", "BatchNorm", "conv dropout", "fc dropout", "optimizer", "augment",
          "epochs", "runs", "best test acc (%)", "epoch of best", "final test acc (%)", "wall time"]


@dataclass
class RunResult:
    """What a run directory's config and metrics say."""

    path: Path
    config: dict[str, Any]
    rows: list[dict[str, float]]
    planned: int  # the config's epochs
    epochs: int  # epochs finished
    best_acc: float
    best_epoch: int
    final_acc: float
    seconds: float


def run_result(run: RunDir) -> RunResult | None:
    """The results of ``run``, or None when it has not finished an epoch."""
    rows = run.read_metrics()
    if not rows:
        return None
    config = run.read_config()
    best = max(rows, key=lambda row: row["test_acc"])  # the first of equal maxima, as a strict > keeps it
    return RunResult(run.path, config, rows, config["epochs"], rows[-1]["epoch"], best["test_acc"],
                     best["epoch"], rows[-1]["test_acc"], sum(row["seconds"] for row in rows))


def report(paths: Sequence[str | Path], out: str | Path = "report.md", echo: Any = print) -> Path | None:
    """Write the Markdown table to ``out`` and the figure beside it (same name, ``.png``).

    Returns the figure's path, or None when matplotlib is not installed (the table is written anyway).
    """
    results = []
    for path in paths:
        result = run_result(RunDir(path))
        if result is None:
            echo(f"skipped {path}: no finished epoch")
        else:
            results.append(result)
    if not results:
        raise ConfigError("report: none of the given runs has a finished epoch")
    groups = _group(results)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure: Path | None = out.with_suffix(".png")
    try:
        plot_runs([(_label(result, len(group)), result.rows) for group in groups for result in group], figure,
                  title="test loss and accuracy per epoch")
    except ImportError as error:
        echo(f"no figure: {error} (pip install 'scratchgrad[plot]')")
        figure = None
    lines = ["# Results", "", markdown_table(HEADER, [_row(group) for group in groups]), ""]
    lines += [f"![test curves]({figure.name})", ""] if figure else []
    lines += ["Best test accuracy is picked over epochs on the test set (no validation split), as in the study; "
              "mean ± std where a setting ran with several seeds.", ""]
    write_atomic(out, "\n".join(lines))
    return figure


def _group(results: list[RunResult]) -> list[list[RunResult]]:
    """Runs whose configs are equal except for the seed, in first-seen order."""
    groups: dict[str, list[RunResult]] = {}
    for result in results:
        settings = {key: value for key, value in result.config.items() if key not in ("seed", "run")}
        groups.setdefault(dump_toml(settings), []).append(result)
    return list(groups.values())


def _label(result: RunResult, group_size: int) -> str:
    name = result.config["name"]
    return f"{name} (seed {result.config['seed']})" if group_size > 1 else name


def _row(group: list[RunResult]) -> list[str]:
    config = group[0].config
    model, optim = config["model"], config["optim"]
    width = f" ×{model['width']:g}" if model.get("width", 1) != 1 else ""
    optimizer = f"{optim['name']} {optim['lr']:g}" + (f", momentum {optim['momentum']:g}" if optim["name"] == "sgd" else "")
    epochs = {result.epochs for result in group}
    done = f"{min(epochs)}" if epochs == {config["epochs"]} else f"{min(epochs)}/{config['epochs']}"
    return [
        config["name"], config["data"]["dataset"], model["name"] + width,
        "yes" if model.get("batchnorm", model["name"] != "c5l3") else "no",
        _probability(model.get("conv_dropout", 0)), _probability(model.get("fc_dropout", 0)),
        optimizer, config["augment"]["preset"], done, str(len(group)),
        _spread([100 * result.best_acc for result in group], 2),
        _spread([result.best_epoch for result in group], 0),
        _spread([100 * result.final_acc for result in group], 2),
        duration(statistics.mean(result.seconds for result in group)),
    ]


def _probability(p: float) -> str:
    return f"{p:g}" if p else "–"


def _spread(values: list[float], digits: int) -> str:
    mean = f"{statistics.mean(values):.{digits}f}"
    return mean if len(values) == 1 else f"{mean} ± {statistics.stdev(values):.{digits}f}"


def duration(seconds: float) -> str:
    """``m:ss`` or ``h:mm:ss``."""
    minutes, secs = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(row) + " |" for row in rows])

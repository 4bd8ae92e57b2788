"""``scratchgrad report``: the study's Table 1 for a set of runs, one figure of their curves, and runs.csv.

Runs whose configs differ only in the seed (and the thread count, which is not part of the recipe)
form one row, with mean ± std over the seeds. Two numbers are reported side by side:

- **test acc at best val epoch** (the honest protocol): the epoch is chosen on the
  validation split held out of the training set (``data.val_split``) and the test set is
  only read at that epoch;
- **best test acc over epochs** (the study's protocol, for comparison with its table): the
  epoch is chosen on the test set itself, which overstates what a model would score on
  unseen data.

A run without a validation split has only the second; its honest cell says so.
"""
from __future__ import annotations

import csv
import io
import math
import statistics
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..models import describe, model_options
from .config import ConfigError, dump_toml
from .plots import Setting, plot_groups
from .rundir import CONFIG, LOG, METRICS_FILE, RunDir, write_atomic

OPTION_COLUMNS = ["BatchNorm", "conv dropout", "fc dropout"]  # filled from the models' option specs
HEADER = ["setting", "dataset", "model", *OPTION_COLUMNS, "optimizer", "augment",
          "engine", "epochs", "seeds", "test acc at best val epoch (%)", "best val epoch",
          "best test acc over epochs (%) [study's protocol]", "final test acc (%)", "wall time"]
CSV_COLUMNS = ["experiment", "name", "dataset", "model", "options", "engine", "device", "processor", "epochs",
               "seed", "val_split", "best_val_epoch", "test_acc_at_best_val", "best_test_acc", "best_test_epoch",
               "final_test_acc", "wall_seconds", "commit"]
CONTRAST_HEADER = ["contrast", "difference", "engine", "paired seeds", "Δ test acc at best val epoch (points)",
                   "Δ best test acc over epochs (points) [study's protocol]", "Δ val acc after epoch 1 (points)",
                   "Δ val acc after the last common epoch (points)"]
ENGINE_HEADER = ["setting", "dataset", "engine", "seeds", "test acc at best val epoch (%)", "scratch engine's (%)",
                 "Δ against scratch (points)", "pooled seed std (points)", "within 2 std"]
Contrast = tuple[str, str, str]  # (label, name of the setting, name of the setting it is compared with)


@dataclass
class RunResult:
    """What a run directory's config and metrics say."""

    path: Path
    config: dict[str, Any]
    rows: list[dict[str, float]]
    planned: int  # the config's epochs
    epochs: int  # epochs finished
    best_val_epoch: int | None  # None without a validation split
    test_at_best_val: float  # nan without a validation split
    best_acc: float  # best test accuracy over epochs (the study's protocol)
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
    validated = [row for row in rows if not math.isnan(row["val_acc"])]
    chosen = max(validated, key=lambda row: row["val_acc"]) if validated else None
    return RunResult(run.path, config, rows, config["epochs"], rows[-1]["epoch"],
                     chosen["epoch"] if chosen else None, chosen["test_acc"] if chosen else math.nan,
                     best["test_acc"], best["epoch"], rows[-1]["test_acc"], sum(row["seconds"] for row in rows))


def collect(paths: Sequence[str | Path], echo: Any = print) -> list[RunResult]:
    """The results of every run in ``paths`` that finished an epoch (the others are named and skipped)."""
    results = []
    for path in paths:
        result = run_result(RunDir(path))
        if result is None:
            echo(f"skipped {path}: no finished epoch")
        else:
            results.append(result)
    if not results:
        raise ConfigError("report: none of the given runs has a finished epoch")
    return results


def report(paths: Sequence[str | Path], out: str | Path = "report.md", echo: Any = print,
           csv_out: str | Path | None = None, contrasts: Sequence[Contrast] = ()) -> Path | None:
    """Write the Markdown table to ``out``, the figure beside it (same name, ``.png``), and runs.csv to ``csv_out``;
    with ``contrasts``, also a table of their paired differences (``contrast_rows``).

    Returns the figure's path, or None when matplotlib is not installed (the table is written anyway).
    """
    results = collect(paths, echo)
    groups = _group(results)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    figure: Path | None = out.with_suffix(".png")
    try:
        settings = [Setting(config["data"]["dataset"], _group_label(group), [result.rows for result in group],
                            color_key=config["name"], marked=config["engine"] != "scratch")
                    for group in groups for config in [group[0].config]]
        plot_groups(settings, figure, title="test error per epoch (mean ± std over seeds; other engines marked ×)")
    except ImportError as error:
        echo(f"no figure: {error} (pip install 'scratchgrad[plot]')")
        figure = None
    lines = ["# Results", "", markdown_table(HEADER, [_row(group) for group in groups]), ""]
    lines += [f"![curves]({figure.name})", ""] if figure else []
    if contrasts:
        lines += ["## Contrasts", "", markdown_table(CONTRAST_HEADER, contrast_rows(results, contrasts)), "",
                  "Each difference is the first setting's minus the second's, seed by seed (the same seed draws the "
                  "same validation split and data order), then mean ± std over the seeds both ran.", ""]
    engines = engine_rows(results)
    if engines:
        lines += ["## Engines", "", markdown_table(ENGINE_HEADER, engines), "",
                  "The same config on another engine against the scratch engine: the difference of the means over "
                  "seeds, and the seed std pooled over both engines' runs; *within 2 std* when the difference is "
                  "at most twice that spread (\"–\": too few seeds to have a spread).", ""]
    lines += ["*Test acc at best val epoch*: the epoch with the best accuracy on the validation split held out of "
              "the training set (`data.val_split`), the test set read only there. *Best test acc over epochs*: "
              "the epoch chosen on the test set itself, as the study did; for comparison with its table only. "
              "Mean ± std over seeds where a setting ran with several.", ""]
    write_atomic(out, "\n".join(lines))
    if csv_out is not None:
        write_atomic(csv_out, runs_csv(results))
    return figure


def contrast_rows(results: Sequence[RunResult], contrasts: Sequence[Contrast]) -> list[list[str]]:
    """Per contrast and engine, the paired differences ``name - base`` in accuracy points over the seeds both ran."""
    runs: dict[tuple[str, str], dict[int, RunResult]] = defaultdict(dict)
    for result in results:
        runs[result.config["name"], result.config["engine"]][result.config["seed"]] = result
    names = sorted({name for name, _ in runs})
    rows = []
    for label, name, base in contrasts:
        for setting in (name, base):
            if setting not in names:
                raise ConfigError(f"report --contrast {label}={name}:{base}: no run named {setting!r}; "
                                  f"the runs are {', '.join(names)}")
        for engine in sorted({engine for _, engine in runs}):
            new, old = runs.get((name, engine), {}), runs.get((base, engine), {})
            seeds = sorted(set(new) & set(old))
            if not seeds:
                continue

            def delta(value: Any) -> str:
                differences = [100 * (value(new[seed]) - value(old[seed])) for seed in seeds]
                return "–" if any(math.isnan(d) for d in differences) else _spread(differences, 2)

            def val_after(epoch: Any) -> Any:
                return lambda result: result.rows[epoch(result) - 1]["val_acc"]

            common = {seed: min(new[seed].epochs, old[seed].epochs) for seed in seeds}
            rows.append([label, f"{name} − {base}", engine, ", ".join(map(str, seeds)),
                         delta(lambda result: result.test_at_best_val), delta(lambda result: result.best_acc),
                         delta(val_after(lambda result: 1)),
                         delta(val_after(lambda result: common[result.config["seed"]]))])
    return rows


def engine_rows(results: Sequence[RunResult]) -> list[list[str]]:
    """Each config that ran on the scratch engine and another: the other engine's test acc at the best val epoch
    against scratch's, with the seed std pooled over both (runs without a validation split are left out)."""
    configs: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    first: dict[str, dict[str, Any]] = {}  # a config of each recipe, for its name and dataset
    for result in results:
        if result.best_val_epoch is not None:
            key = _recipe(result.config, "engine")
            configs[key][result.config["engine"]].append(100 * result.test_at_best_val)
            first.setdefault(key, result.config)
    rows = []
    for key, engines in configs.items():
        scratch = engines.pop("scratch", None)
        if scratch is None:
            continue
        for engine, values in engines.items():
            difference = statistics.mean(values) - statistics.mean(scratch)
            std = _pooled_std(values, scratch)
            rows.append([first[key]["name"], first[key]["data"]["dataset"], engine, str(len(values)),
                         _spread(values, 2), f"{_spread(scratch, 2)} ({_seeds(len(scratch))})",
                         f"{difference:+.2f}", "–" if math.isnan(std) else f"{std:.2f}",
                         "–" if math.isnan(std) else ("yes" if abs(difference) <= 2 * std else "no")])
    return rows


def _pooled_std(*groups: list[float]) -> float:
    """The std of values around their own group's mean (nan with no degree of freedom left)."""
    squares = sum((value - mean) ** 2 for group in groups for mean in [statistics.mean(group)] for value in group)
    freedom = sum(len(group) for group in groups) - len(groups)
    return math.sqrt(squares / freedom) if freedom > 0 else math.nan


def archive(paths: Sequence[str | Path], to: str | Path, echo: Any = print) -> list[Path]:
    """Copy the small files of each finished-epoch run (config, metrics, log) to ``to/<engine>/<run>``.

    The copies are run directories that ``report`` reads like the originals, without weights, so
    that a results table can be committed and regenerated on a machine without the runs.
    Returns the copies' paths.
    """
    copies = []
    for result in collect(paths, echo):
        copy = Path(to) / result.config["engine"] / result.path.name
        copy.mkdir(parents=True, exist_ok=True)
        for name in (CONFIG, METRICS_FILE, LOG):
            if (result.path / name).is_file():
                write_atomic(copy / name, (result.path / name).read_bytes())
        copies.append(copy)
    return copies


def runs_csv(results: Sequence[RunResult]) -> str:
    """One CSV row per run (``CSV_COLUMNS``), accuracies in percent."""
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, CSV_COLUMNS, lineterminator="\n")
    writer.writeheader()
    for result in results:
        config, run = result.config, result.config.get("run", {})
        writer.writerow({
            "experiment": run.get("config_file", ""), "name": config["name"], "dataset": config["data"]["dataset"],
            "model": config["model"]["name"], "options": _options(config["model"]), "engine": config["engine"],
            "device": config["device"], "processor": run.get("processor", ""), "epochs": result.epochs,
            "seed": config["seed"], "val_split": config["data"].get("val_split", 0),
            "best_val_epoch": result.best_val_epoch or "", "test_acc_at_best_val": _percent(result.test_at_best_val),
            "best_test_acc": _percent(result.best_acc), "best_test_epoch": result.best_epoch,
            "final_test_acc": _percent(result.final_acc), "wall_seconds": round(result.seconds),
            "commit": run.get("git_commit", ""),
        })
    return buffer.getvalue()


def _options(model: dict[str, Any]) -> str:
    """The model options that differ from the model's defaults, as ``key=value; ...``."""
    defaults = _known(model_options, model["name"], {})
    return "; ".join(f"{key}={value}" for key, value in model.items()
                     if key != "name" and defaults.get(key, object()) != value)


def _percent(accuracy: float) -> str:
    return "" if math.isnan(accuracy) else f"{100 * accuracy:.2f}"


def _group(results: list[RunResult]) -> list[list[RunResult]]:
    """Runs of one recipe (``_recipe``), in first-seen order."""
    groups: dict[str, list[RunResult]] = {}
    for result in results:
        groups.setdefault(_recipe(result.config), []).append(result)
    return list(groups.values())


def _recipe(config: dict[str, Any], *also: str) -> str:
    """The config without the keys that are not part of the recipe: the seed, the run's provenance
    and the thread count (and ``also``), as a comparable string."""
    return dump_toml({key: value for key, value in config.items() if key not in ("seed", "run", "threads", *also)})


def _group_label(group: list[RunResult]) -> str:
    config = group[0].config
    return f"{config['name']} ({config['engine']}, {_seeds(len(group))})"


def _seeds(count: int) -> str:
    return f"{count} seed{'s' if count > 1 else ''}"


def _row(group: list[RunResult]) -> list[str]:
    config = group[0].config
    model, optim = config["model"], config["optim"]
    cells = _known(describe, model, {})
    optimizer = f"{optim['name']} {optim['lr']:g}" + (f", momentum {optim['momentum']:g}" if optim["name"] == "sgd" else "")
    epochs = {result.epochs for result in group}
    done = f"{min(epochs)}" if epochs == {config["epochs"]} else f"{min(epochs)}/{config['epochs']}"
    validated = [result for result in group if result.best_val_epoch is not None]
    return [
        config["name"], config["data"]["dataset"], " ".join(filter(None, [model["name"], cells.get("model")])),
        *[cells.get(column, "–") for column in OPTION_COLUMNS],
        optimizer, config["augment"]["preset"], config["engine"], done, str(len(group)),
        _spread([100 * result.test_at_best_val for result in validated], 2) if validated else "no val split",
        _spread([result.best_val_epoch for result in validated], 0) if validated else "–",
        _spread([100 * result.best_acc for result in group], 2) + f" @ {_spread([r.best_epoch for r in group], 0)}",
        _spread([100 * result.final_acc for result in group], 2),
        duration(statistics.mean(result.seconds for result in group)),
    ]


def _known(read: Any, model: Any, otherwise: Any) -> Any:
    """``read(model)``, or ``otherwise`` for a user's model that cannot be imported here (its runs still report)."""
    try:
        return read(model)
    except ValueError:
        return otherwise


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

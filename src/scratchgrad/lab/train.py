"""Start a run, or resume one from its directory."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import ConfigError, load_config
from .rundir import CONFIG, RunDir, run_info, unique_dir
from .trainer import Trainer

RESUMABLE_KEYS = ("epochs",)  # what --set may change when a run resumes


def train(config: dict[str, Any], out: str | Path | None = None, config_file: str | Path | None = None) -> int:
    """Train ``config`` in a new run directory ``out`` (default ``runs/<name>``, made unique).

    ``config_file``, the file ``config`` was read from, is recorded in config.toml's [run] table.

    Returns the exit status of :meth:`Trainer.fit`.
    """
    run = RunDir(out if out is not None else unique_dir(Path("runs") / config["name"]))
    if run.exists():
        raise ConfigError(f"{run.path} already holds a run; resume it with "
                          f"`scratchgrad train --resume {run.path}` or choose another --out")
    trainer = Trainer(config, run)
    run.write_config(config, run_info(trainer.engine.versions(), config_file))
    run.write_metrics([])
    _log_start(trainer, "started")
    return trainer.fit()


def resume(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> int:
    """Continue the run in ``path`` from its last saved state.

    ``overrides`` may change only ``epochs`` (to train a finished run further).
    """
    run = RunDir(path)
    stored = run.read_config()
    config = load_config(run.file(CONFIG), overrides)
    changed = [key for key in config if config[key] != stored.get(key) and key not in RESUMABLE_KEYS]
    if changed:
        raise ConfigError(f"--resume: only {', '.join(RESUMABLE_KEYS)} may change when a run resumes, "
                          f"not {', '.join(changed)}")
    if config != {key: stored[key] for key in config}:
        run.write_config(config, stored["run"])
    trainer = Trainer(config, run)
    trainer.resume()
    _log_start(trainer, f"resumed after epoch {trainer.progress.epoch}, step {trainer.progress.step}")
    return trainer.fit()


def _log_start(trainer: Trainer, what: str) -> None:
    config, data = trainer.config, trainer.data
    parameters = sum(p.numel() for p in trainer.model.parameters())
    trainer.run.log(
        f"{what}: {trainer.run.path} | {config['model']['name']} ({parameters:,} parameters) on "
        f"{config['data']['dataset']} ({len(data.train.dataset)} train / {len(data.test.dataset)} test images) | "
        f"engine {config['engine']} on {config['device']}, seed {config['seed']}", trainer.echo)

"""Start a run, or resume one from its directory."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .config import ConfigError, load_config
from .distributed import SINGLE, Group
from .rundir import CONFIG, LOCK, RunDir, run_info, unique_dir
from .trainer import Trainer

RESUMABLE_KEYS = ("epochs",)  # what --set may change when a run resumes


def train(config: dict[str, Any], out: str | Path | None = None, config_file: str | Path | None = None,
          group: Group = SINGLE) -> int:
    """Train ``config`` in a new run directory ``out`` (default ``runs/<name>``, made unique).

    ``config_file``, the file ``config`` was read from, is recorded in config.toml's [run] table.
    The run directory is locked while the run trains: a second writer gets a ConfigError.
    In a data-parallel ``group``, rank 0 checks, locks and writes the run directory.

    Returns the exit status of :meth:`Trainer.fit`.
    """
    path = group.from_leader(out if out is not None else unique_dir(Path("runs") / config["name"]))
    if not group.leader:
        return Trainer(config, group.run_dir(path), group=group).fit()
    run = RunDir(path)
    created = not run.path.exists()
    with run.lock():
        if run.exists():
            raise ConfigError(f"{run.path} already holds a run; resume it with "
                              f"`scratchgrad train --resume {run.path}` or choose another --out")
        _remove_stale_temporaries(run)
        try:
            trainer = Trainer(config, run, group=group)
        except BaseException:
            if created:  # nothing was written yet: leave no empty folder behind
                run.file(LOCK).unlink()
                run.path.rmdir()
            raise
        run.write_config(config, run_info(trainer.engine.versions(), config_file))
        run.write_metrics([])
        _log_start(trainer, "started")
        return trainer.fit()


def resume(path: str | Path, overrides: list[str] | tuple[str, ...] = (), restart: bool = False,
           group: Group = SINGLE) -> int:
    """Continue the run in ``path`` from its last saved state, or from epoch 0 with ``restart``.

    ``overrides`` may change only ``epochs`` (to train a finished run further; cosine and
    onecycle schedules up to their ``schedule.total_epochs``). config.toml is rewritten only
    once the state has been loaded.
    """
    run = group.run_dir(path)  # every rank loads the state; only rank 0 locks and writes
    run.read_config()  # a ConfigError when ``path`` holds no run, before the lock creates anything
    with run.lock():
        stored = run.read_config()
        base = load_config(run.file(CONFIG))
        # runs from before schedule.total_epochs spanned their epochs; keep that span when epochs change
        config = load_config(run.file(CONFIG), [f"schedule.total_epochs={base['schedule']['total_epochs']}",
                                                *overrides])
        changed = [key for key in config if config[key] != base[key] and key not in RESUMABLE_KEYS]
        if changed:
            raise ConfigError(f"--resume: only {', '.join(RESUMABLE_KEYS)} may change when a run resumes, "
                              f"not {', '.join(changed)}")
        _remove_stale_temporaries(run)
        trainer = Trainer(config, run, group=group)
        trainer.resume(restart)
        if config != base:
            run.write_config(config, stored.get("run", {}))
        what = "restarted" if restart else "resumed"
        _log_start(trainer, f"{what} after epoch {trainer.progress.epoch}, step {trainer.progress.step}")
        return trainer.fit()


def _remove_stale_temporaries(run: RunDir) -> None:
    stale = run.remove_stale_temporaries()
    if stale:
        run.log(f"removed {len(stale)} temporary file(s) a killed run left: {', '.join(p.name for p in stale)}",
                echo=None)


def _log_start(trainer: Trainer, what: str) -> None:
    config, data = trainer.config, trainer.data
    parameters = sum(p.numel() for p in trainer.model.parameters())
    trainer.run.log(
        f"{what}: {trainer.run.path} | {config['model']['name']} ({parameters:,} parameters) on "
        f"{config['data']['dataset']} ({len(data.train.dataset)} train / {len(data.test.dataset)} test images) | "
        f"engine {config['engine']} on {config['device']}, seed {config['seed']}", trainer.echo)

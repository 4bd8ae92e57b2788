"""The experiment lab: configs, engines, training loop, run directories, reports, CLI."""

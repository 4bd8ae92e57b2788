"""The committed results regenerate: results/make_tables.sh, run on the committed run files,
writes exactly the committed tables.md and runs.csv (no number in them is typed by hand)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "results"


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_make_tables_regenerates_the_committed_tables(tmp_path):
    pytest.importorskip("matplotlib")  # the committed tables.md links its figure
    env = {**os.environ, "SCRATCHGRAD": f"{sys.executable} -m scratchgrad.lab.cli"}
    subprocess.run(["bash", str(RESULTS / "make_tables.sh"), str(tmp_path)], check=True, env=env, cwd=ROOT,
                   capture_output=True)
    assert (tmp_path / "tables.md").read_text() == (RESULTS / "tables.md").read_text()
    assert (tmp_path / "runs.csv").read_text() == (RESULTS / "runs.csv").read_text()

"""The data package needs NumPy alone."""
from __future__ import annotations

import subprocess
import sys


def test_data_imports_without_torch_matplotlib_or_tqdm():
    code = (
        "import sys\n"
        "for name in ('torch', 'torchvision', 'matplotlib', 'tqdm', 'PIL'):\n"
        "    sys.modules[name] = None  # any import of them now fails\n"
        "import scratchgrad.data as data\n"
        "batch = data.mnist_sample(train=False).images[:8]\n"
        "preset = data.transforms.study_preset('mnist', jitter=True)\n"
        "images, labels = next(iter(data.DataLoader(data.mnist_sample(False), 8, transform=preset)))\n"
        "assert images.dtype.name == 'float32' and labels.dtype.name == 'int64'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr

"""The device and backend names PyTorch scripts probe on their first lines (issue 18):
torch.backends.cudnn, torch.accelerator, torch.cuda's seeding, torch.multiprocessing."""
import sys

import numpy as np
import pytest

import scratchgrad as sg

torch = pytest.importorskip("torch")


def test_cudnn_flags_are_settings_that_read_back_and_restore():
    cudnn = sg.backends.cudnn
    before = (cudnn.enabled, cudnn.benchmark, cudnn.deterministic)
    assert before == (torch.backends.cudnn.enabled, False, False)
    try:
        cudnn.benchmark, cudnn.deterministic = True, True
        assert (sg.backends.cudnn.benchmark, sg.backends.cudnn.deterministic) == (True, True)
        with cudnn.flags(enabled=False, benchmark=False, deterministic=True):
            assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == (False, False, True)
        assert (cudnn.enabled, cudnn.benchmark, cudnn.deterministic) == (True, True, True)
    finally:
        cudnn.enabled, cudnn.benchmark, cudnn.deterministic = before
    assert cudnn.is_available() is False and cudnn.version() is None


def test_flags_change_no_result():
    x, w = sg.randn(2, 3, 6, 6), sg.randn(4, 3, 3, 3)
    plain = sg.nn.functional.conv2d(x, w).numpy()
    with sg.backends.cudnn.flags(enabled=True, benchmark=True, deterministic=True):
        np.testing.assert_array_equal(sg.nn.functional.conv2d(x, w).numpy(), plain)


def test_mps_is_never_available_as_on_this_machine():
    assert sg.backends.mps.is_available() is False and sg.backends.mps.is_built() is False
    if sys.platform != "darwin":
        assert torch.backends.mps.is_available() is False  # off a Mac torch answers the same


def test_accelerator_queries_agree_with_the_cuda_ones():
    available = sg.cuda.is_available()
    assert sg.accelerator.is_available() == available
    assert sg.accelerator.device_count() == sg.cuda.device_count()
    if available:
        assert sg.accelerator.current_accelerator().type == "cuda"
        assert sg.accelerator.current_device_index() == 0
    else:
        assert sg.accelerator.current_accelerator() is None
        assert sg.accelerator.current_device_index() == -1
        assert torch.accelerator.is_available() == sg.accelerator.is_available()  # both CPU-only here
    sg.accelerator.synchronize()


def test_the_device_line_of_public_scripts_runs():
    # use_accel = torch.accelerator.is_available(); device = torch.accelerator.current_accelerator() if use_accel else "cpu"
    device = sg.accelerator.current_accelerator() if sg.accelerator.is_available() else sg.device("cpu")
    assert sg.ones(2).to(device).device.type == device.type


def test_cuda_manual_seed_leaves_the_default_generator_alone_as_torch_does():
    for lib in (sg, torch):
        lib.manual_seed(5)
        first = lib.rand(3).numpy()
        lib.manual_seed(5)
        lib.cuda.manual_seed(123)
        lib.cuda.manual_seed_all(123)
        np.testing.assert_array_equal(lib.rand(3).numpy(), first)


def _child(rank, queue):
    queue.put((rank, sg.ones(2) * rank))


def test_multiprocessing_has_torchs_names_and_spawns():
    for name in sg.multiprocessing.__all__:
        assert hasattr(torch.multiprocessing, name), name
    assert sg.multiprocessing.get_sharing_strategy() in sg.multiprocessing.get_all_sharing_strategies()
    context = sg.multiprocessing.get_context("fork")
    queue = context.SimpleQueue()
    sg.multiprocessing.spawn(_child, (queue,), nprocs=2, start_method="fork")
    results = dict(queue.get() for _ in range(2))
    assert sorted(results) == [0, 1] and results[1].tolist() == [1.0, 1.0]

"""The workspace's recycled arrays: memory comes back only when nothing can read it any more."""
import threading

import numpy as np
import pytest

from scratchgrad.runtime import workspace

LARGE = (512, 1024)  # 2 MB of float32: above workspace.MIN_BYTES


@pytest.fixture(autouse=True)
def empty_pool():
    workspace.release()
    yield
    workspace.release()


def test_memory_is_reused_only_after_every_view_is_gone():
    a = workspace.empty(np, LARGE, np.float32)
    address, view = a.ctypes.data, a.T[3:]
    del a
    b = workspace.empty(np, LARGE, np.float32)
    assert not np.shares_memory(b, view)  # the view still holds the first array's memory
    del view
    c = workspace.empty(np, LARGE, np.float32)
    assert c.ctypes.data == address and not np.shares_memory(b, c)


def test_a_freed_block_serves_a_smaller_request_but_not_one_under_half_its_size():
    address = workspace.empty(np, LARGE, np.float32).ctypes.data
    assert workspace.empty(np, (300, 1024), np.float32).ctypes.data == address
    assert workspace.empty(np, (128, 1024), np.float64).ctypes.data != address  # 1 MB: the block is twice as large
    assert workspace.empty(np, (600, 1024), np.float32).ctypes.data != address


def test_like_gives_the_same_order_of_axes_in_memory():
    like = np.empty((28, 28, 64, 32), np.float32).transpose(2, 3, 0, 1)  # (N, C, H, W) view of (H, W, N, C)
    out = workspace.empty(np, (64, 32, 14, 14), np.float64, like=like)
    assert out.shape == (64, 32, 14, 14) and out.dtype == np.float64
    assert np.argsort(out.strides).tolist() == np.argsort(like.strides).tolist()
    assert out.transpose(2, 3, 0, 1).flags.c_contiguous


def test_small_arrays_come_from_numpy_and_zeros_are_zero():
    small = workspace.empty(np, (10, 10), np.float32)
    assert small.flags.owndata
    workspace.empty(np, LARGE, np.float32).fill(7)  # leaves a dirty block behind
    assert not workspace.zeros(np, LARGE, np.float32).any()


def test_free_blocks_held_are_capped(monkeypatch):
    monkeypatch.setattr(workspace, "KEEP_BYTES", 5 << 20)
    arrays = [workspace.empty(np, LARGE, np.float32) for _ in range(4)]  # 8 MB
    del arrays
    workspace.empty(np, (1024, 1024), np.float32)  # 4 MB: fits no 2 MB block, but folds the returned ones in
    assert sum(b.nbytes for b in workspace._free) == 4 << 20  # two of the four: a third would exceed the cap


def test_arrays_made_and_dropped_on_many_threads_never_share_memory():
    errors = []

    def work(value: int) -> None:
        for _ in range(50):
            a = workspace.empty(np, LARGE, np.float32)
            a.fill(value)
            b = workspace.empty(np, LARGE, np.float32)
            b.fill(-value)
            if not ((a == value).all() and (b == -value).all()):
                errors.append(value)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(1, 5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors

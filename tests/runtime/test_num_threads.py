"""scratchgrad.set_num_threads / get_num_threads: the count is respected by every kernel and the
optimizer's updates (and by BLAS outside them), and results are bit for bit the same for 1, 2, 3."""
from __future__ import annotations

import threading

import numpy as np
import pytest

import scratchgrad
import scratchgrad.nn.functional as SF
from scratchgrad.kernels import batchnorm
from scratchgrad.optim import optimizer
from scratchgrad.runtime import threads


@pytest.fixture(autouse=True)
def restore_thread_counts(monkeypatch):
    """Each test may set the count: afterwards, back to the default and to BLAS's own counts."""
    from threadpoolctl import threadpool_limits

    monkeypatch.setattr(threads, "MIN_PARALLEL_BYTES", 0)  # small test arrays still go to the pool

    monkeypatch.setattr(threads, "AUTOTUNE", False)  # every call on the pool, none timed
    with threadpool_limits(None):  # restores every library's count when it closes
        yield
        monkeypatch.setattr(threads, "_requested", None)


def blas_threads() -> list[int]:
    from threadpoolctl import threadpool_info

    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


def test_get_num_threads_gives_the_count_set_and_the_cores_by_default():
    assert scratchgrad.get_num_threads() == threads.num_threads() >= 1
    for count in (1, 3, 2):
        scratchgrad.set_num_threads(count)
        assert scratchgrad.get_num_threads() == count


@pytest.mark.parametrize("count", [0, -1, 2.0, "2", True, None])
def test_set_num_threads_refuses_what_is_not_a_positive_int(count):
    with pytest.raises(ValueError, match=r"set_num_threads: expected an int >= 1, got"):
        scratchgrad.set_num_threads(count)


@pytest.mark.parametrize("count", [1, 2, 3])
def test_the_kernels_run_on_exactly_that_many_threads(count):
    """Each task waits (up to 10 s) until ``count`` threads have joined: with fewer workers the
    wait times out, with more the set grows past ``count``."""
    scratchgrad.set_num_threads(count)
    seen, lock, everyone = set(), threading.Lock(), threading.Event()

    def task(block: slice) -> None:
        with lock:
            seen.add(threading.get_ident())
            if len(seen) >= count:
                everyone.set()
        everyone.wait(timeout=10)

    threads.for_blocks(np, 4 * count, task, pieces=4 * count)
    assert len(seen) == count


@pytest.mark.parametrize("count", [1, 2, 3])
def test_blas_outside_the_kernels_gets_the_count_and_one_thread_inside(count):
    if not blas_threads():
        pytest.skip("threadpoolctl finds no BLAS library")
    scratchgrad.set_num_threads(count)
    assert set(blas_threads()) == {count}
    inside = threads.run_chunks(np, range(4), lambda k: blas_threads(), lambda a, b: a + b)
    assert set(inside) == {1} and set(blas_threads()) == {count}


def training_step(values: list[np.ndarray]) -> list[np.ndarray]:
    """conv -> batch norm -> max-pool -> conv -> linear, backward and two Adam steps."""
    x, w1, w2, w3 = (scratchgrad.tensor(v, requires_grad=i > 0) for i, v in enumerate(values))
    opt = scratchgrad.optim.Adam([w1, w2, w3], lr=1e-2)
    for _ in range(2):
        opt.zero_grad()
        h = SF.batch_norm(SF.conv2d(x, w1, padding=1), None, None, training=True)
        h = SF.conv2d(SF.max_pool2d(h, 2), w2, stride=2, padding=1).reshape(x.shape[0], -1)
        loss = ((h @ w3) ** 2).mean()
        loss.backward()
        opt.step()
    return [loss.detach().numpy(), *(p.detach().numpy().copy() for p in (w1, w2, w3))]


def test_a_training_step_is_bit_for_bit_the_same_for_1_2_and_3_threads(monkeypatch):
    monkeypatch.setattr(batchnorm, "BLOCK_POSITIONS", (16, 16))  # several blocks of positions
    monkeypatch.setattr(optimizer, "BLOCK_ELEMENTS", 64)  # several blocks of every update
    rng = np.random.default_rng(2)
    shapes = ((6, 16, 8, 8), (16, 16, 3, 3), (8, 16, 3, 3), (8 * 2 * 2, 5))
    values = [rng.standard_normal(s).astype(np.float32) for s in shapes]
    share, used = threads._share, {}

    def recording_share(tasks):  # the threads the pool's tasks ran on, per count
        def run(task):
            used.setdefault(scratchgrad.get_num_threads(), set()).add(threading.get_ident())
            return task()

        return share([lambda task=task: run(task) for task in tasks])

    monkeypatch.setattr(threads, "_share", recording_share)
    results = {}
    for count in (1, 2, 3):
        scratchgrad.set_num_threads(count)
        results[count] = training_step(values)
    for count in (2, 3):
        for one, several in zip(results[1], results[count]):
            np.testing.assert_array_equal(one, several)
    assert all(len(used[count]) <= count for count in used) and len(used.get(3, ())) > 1

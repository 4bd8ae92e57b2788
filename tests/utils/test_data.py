"""scratchgrad.utils.data against torch.utils.data: the same datasets, samplers and loaders give
the same batches (deterministic orders exactly; random ones as permutations, seeded)."""
from collections import namedtuple

import numpy as np
import pytest

import scratchgrad as sg
from scratchgrad.utils import data

torch = pytest.importorskip("torch")
tdata = torch.utils.data

Point = namedtuple("Point", "x y")


def as_plain(batch):
    """A batch of either library as nested lists/dicts of (dtype name, values), to compare."""
    if isinstance(batch, (sg.Tensor, torch.Tensor)):
        array = np.asarray(batch.detach().cpu().numpy() if isinstance(batch, torch.Tensor) else batch)
        return (array.dtype.name, array.tolist())
    if isinstance(batch, dict):
        return {k: as_plain(v) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):
        return (type(batch).__name__, [as_plain(v) for v in batch])
    if isinstance(batch, (list, tuple)):
        return [as_plain(v) for v in batch]
    return batch


def both(make):
    """``make(lib_data, lib)`` built with torch and with scratchgrad."""
    return make(data, sg), make(tdata, torch)


class Squares:
    """A plain map-style dataset (no base class), as many scripts write one."""

    def __init__(self, n, lib):
        self.n, self.lib = n, lib

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        return {"x": self.lib.tensor([float(i), float(i * i)]), "label": i % 3, "name": f"s{i}", "w": i / 2}


SAMPLES = [
    lambda lib: [lib.tensor([1.0, 2.0]), lib.tensor([3.0, 4.0])],
    lambda lib: [np.arange(3, dtype=np.float32), np.ones(3, dtype=np.float32)],
    lambda lib: [1, 2, 3],
    lambda lib: [0.5, 1.5],
    lambda lib: [np.int32(4), np.int32(5)],
    lambda lib: [True, False],
    lambda lib: ["a", "b"],
    lambda lib: [(lib.tensor([1.0]), 0), (lib.tensor([2.0]), 1)],
    lambda lib: [[1, 2.0], [3, 4.0]],
    lambda lib: [{"a": 1, "b": lib.tensor([0.0])}, {"a": 2, "b": lib.tensor([1.0])}],
    lambda lib: [Point(1, 2.0), Point(3, 4.0)],
]


@pytest.mark.parametrize("index", range(len(SAMPLES)))
def test_default_collate_matches_torch(index):
    ours = data.default_collate(SAMPLES[index](sg))
    theirs = tdata.default_collate(SAMPLES[index](torch))
    assert as_plain(ours) == as_plain(theirs)


def test_default_collate_refuses_ragged_sequences():
    with pytest.raises(RuntimeError, match="equal size"):
        data.default_collate([[1, 2], [3]])


LOADERS = {
    "batch-2": dict(batch_size=2),
    "batch-4-drop-last": dict(batch_size=4, drop_last=True),
    "batch-none": dict(batch_size=None),
    "sampler": "sampler",
    "batch-sampler": "batch_sampler",
    "collate-fn": dict(batch_size=3, collate_fn=lambda samples: [s["label"] for s in samples]),
    "workers-accepted": dict(batch_size=3, num_workers=2, persistent_workers=True),
}


def loader_kwargs(case, lib_data):
    spec = LOADERS[case]
    if spec == "sampler":
        return dict(batch_size=2, sampler=[9, 1, 4, 4, 0])
    if spec == "batch_sampler":
        return dict(batch_sampler=lib_data.BatchSampler(lib_data.SequentialSampler(range(10)), 3, drop_last=False))
    return spec


@pytest.mark.parametrize("case", LOADERS)
def test_dataloader_batches_match_torch(case):
    ours, theirs = both(lambda d, lib: d.DataLoader(Squares(10, lib), **loader_kwargs(case, d)))
    assert len(ours) == len(theirs)
    assert [as_plain(b) for b in ours] == [as_plain(b) for b in theirs]


def test_tensor_dataset_subset_concat_match_torch():
    x, y = np.arange(12.0).reshape(6, 2), np.arange(6)

    def make(d, lib):
        base = d.TensorDataset(lib.tensor(x), lib.tensor(y))
        joined = d.ConcatDataset([d.Subset(base, [5, 0, 3]), base]) + d.Subset(base, [1])
        return [joined[i] for i in range(len(joined))] + [joined[-1], joined[-10]]

    ours, theirs = both(make)
    assert as_plain(ours) == as_plain(theirs)


def test_iterable_dataset_is_batched_in_order():
    class Stream(data.IterableDataset):
        def __iter__(self):
            return iter(range(7))

    batches = [b.tolist() for b in data.DataLoader(Stream(), batch_size=3)]
    assert batches == [[0, 1, 2], [3, 4, 5], [6]]
    assert [b.tolist() for b in data.DataLoader(Stream(), batch_size=3, drop_last=True)] == [[0, 1, 2], [3, 4, 5]]
    with pytest.raises(ValueError, match="IterableDataset"):
        data.DataLoader(Stream(), shuffle=True)


def test_shuffle_is_a_new_permutation_each_epoch_and_seeded():
    loader = data.DataLoader(data.TensorDataset(sg.arange(20)), batch_size=5, shuffle=True)
    sg.manual_seed(0)
    first = [np.concatenate([b[0].numpy() for b in loader]) for _ in range(2)]
    sg.manual_seed(0)
    again = [np.concatenate([b[0].numpy() for b in loader]) for _ in range(2)]
    for order in first:
        assert sorted(order.tolist()) == list(range(20))
    assert first[0].tolist() != first[1].tolist()
    assert [o.tolist() for o in first] == [o.tolist() for o in again]
    generated = [list(data.DataLoader(range(20), batch_size=20, shuffle=True, generator=sg.Generator(7)))[0].tolist()
                 for _ in range(2)]
    assert generated[0] == generated[1]


def test_random_samplers():
    source = range(10)
    assert sorted(data.SubsetRandomSampler([3, 5, 7])) == [3, 5, 7]
    drawn = list(data.RandomSampler(source, replacement=True, num_samples=50, generator=sg.Generator(1)))
    assert len(drawn) == 50 and set(drawn) <= set(source)
    longer = list(data.RandomSampler(source, num_samples=25, generator=sg.Generator(1)))
    assert len(longer) == 25 and sorted(longer[:10]) == list(source) and sorted(longer[10:20]) == list(source)
    weighted = list(data.WeightedRandomSampler([0.0, 1.0, 3.0], 4000, generator=sg.Generator(2)))
    counts = np.bincount(weighted, minlength=3)
    assert counts[0] == 0 and abs(counts[2] / counts[1] - 3) < 0.3
    without = list(data.WeightedRandomSampler([1.0, 1.0, 0.0, 2.0], 3, replacement=False, generator=sg.Generator(2)))
    assert sorted(without) == [0, 1, 3]


@pytest.mark.parametrize("lengths", [[3, 7], [0.3, 0.7], [0.5, 0.25, 0.25], [0.34, 0.33, 0.33]])
def test_random_split_sizes_match_torch_and_partition(lengths):
    ours = data.random_split(range(10), lengths, generator=sg.Generator(0))
    theirs = tdata.random_split(range(10), lengths, generator=torch.Generator().manual_seed(0))
    assert [len(s) for s in ours] == [len(s) for s in theirs]
    assert sorted(i for s in ours for i in s) == list(range(10))


@pytest.mark.parametrize("make, error, message", [
    (lambda d: d.DataLoader(range(4), sampler=[0, 1], shuffle=True), ValueError, "mutually exclusive with shuffle"),
    (lambda d: d.DataLoader(range(4), batch_size=2, batch_sampler=[[0, 1]]), ValueError, "mutually exclusive"),
    (lambda d: d.DataLoader(range(4), batch_size=None, drop_last=True), ValueError, "mutually exclusive"),
    (lambda d: d.DataLoader(range(4), num_workers=-1), ValueError, "num_workers"),
    (lambda d: d.BatchSampler(range(4), 0, False), ValueError, "batch_size"),
    (lambda d: d.RandomSampler(range(4), num_samples=0), ValueError, "num_samples"),
    (lambda d: d.random_split(range(4), [1, 2]), ValueError, "(?i)sum of input lengths"),
])
def test_errors_match_torch(make, error, message):
    for lib_data in (data, tdata):
        with pytest.raises(error, match=message):
            make(lib_data)


def test_reachable_as_torch_utils_data():
    assert sg.utils.data.DataLoader is data.DataLoader
    import scratchgrad.utils.data as imported  # the import line PyTorch scripts use, with the name switched

    assert imported.TensorDataset is data.TensorDataset

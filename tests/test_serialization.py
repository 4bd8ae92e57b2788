"""save/load in the safetensors format: round trips, nested objects, interop, corrupt files."""
from __future__ import annotations

import io
import json
import math
import os
import re
import tracemalloc

import numpy as np
import pytest

import scratchgrad as sg
from scratchgrad.serialization import STRUCTURE_KEY, SafetensorsError, load, read_metadata, save

ALL_DTYPES = ["float16", "float32", "float64", "int8", "uint8", "int16", "int32", "int64", "bool"]


def _arrays(rng: np.random.Generator) -> dict[str, np.ndarray]:
    arrays = {f"t_{name}": (rng.standard_normal((2, 3)) * 50).astype(name) for name in ALL_DTYPES}
    arrays["scalar"] = np.array(3.5, dtype=np.float32)
    arrays["empty"] = np.zeros((0, 4), dtype=np.float32)
    arrays["strided"] = np.arange(12, dtype=np.float64).reshape(3, 4).T  # not C-contiguous
    return arrays


def test_flat_round_trip_keeps_values_dtypes_and_shapes(tmp_path):
    arrays = _arrays(np.random.default_rng(0))
    path = tmp_path / "weights.safetensors"
    save({k: sg.tensor(v) for k, v in arrays.items()}, path)
    loaded = load(path)
    assert list(loaded) == sorted(arrays)
    for key, array in arrays.items():
        assert isinstance(loaded[key], sg.Tensor)
        assert loaded[key].dtype == array.dtype and loaded[key].shape == array.shape
        np.testing.assert_array_equal(loaded[key].numpy(), array)
        assert not loaded[key].requires_grad
        loaded[key].array[...] = 0  # writable, owned memory


def test_header_layout_padding_and_order():
    buffer = io.BytesIO()
    save({"b": np.zeros(3, np.float32), "a": np.zeros(1, np.int8), "c": np.zeros(2, np.float64)}, buffer)
    raw = buffer.getvalue()
    length = int.from_bytes(raw[:8], "little")
    assert length % 8 == 0
    header = json.loads(raw[8 : 8 + length])
    assert list(header) == ["c", "b", "a"]  # widest dtype first, then by name
    assert header["c"] == {"dtype": "F64", "shape": [2], "data_offsets": [0, 16]}
    assert header["b"]["data_offsets"] == [16, 28] and header["a"]["data_offsets"] == [28, 29]
    assert len(raw) == 8 + length + 29


def test_big_endian_input_is_written_little_endian():
    buffer = io.BytesIO()
    save({"x": np.arange(3, dtype=">i4")}, buffer)
    assert buffer.getvalue()[-12:] == np.arange(3, dtype="<i4").tobytes()
    buffer.seek(0)
    np.testing.assert_array_equal(load(buffer)["x"].numpy(), [0, 1, 2])


def test_nested_training_state_round_trips_with_int_keys(tmp_path):
    state = {
        "model": {"conv1.weight": sg.randn(2, 3), "bn.num_batches_tracked": sg.tensor(7)},
        "optimizer": {
            "state": {0: {"step": 3, "exp_avg": sg.randn(2, 3)}, 1: {"step": 3, "exp_avg": sg.zeros(2)}},
            "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0, 1], "nesterov": False, "foo": None}],
        },
        "epoch": 4,
        "rng": {"numpy": np.arange(5, dtype=np.uint32), "seed": 2**40, "name": "café"},
        "history": [1.5, float("inf"), [2, "x"]],
        "np_scalar": np.float64(0.25),
    }
    path = tmp_path / "state.safetensors"
    save(state, path)
    loaded = load(path)
    assert list(loaded["optimizer"]["state"]) == [0, 1]  # ints, not "0"
    assert loaded["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.999)
    assert loaded["optimizer"]["param_groups"][0]["foo"] is None
    assert loaded["epoch"] == 4 and loaded["rng"]["seed"] == 2**40 and loaded["rng"]["name"] == "café"
    assert loaded["history"][0] == 1.5 and math.isinf(loaded["history"][1]) and loaded["history"][2] == [2, "x"]
    assert loaded["np_scalar"] == 0.25 and type(loaded["np_scalar"]) is float
    np.testing.assert_array_equal(loaded["model"]["conv1.weight"].numpy(), state["model"]["conv1.weight"].numpy())
    assert loaded["model"]["bn.num_batches_tracked"].dtype == np.int64
    assert loaded["rng"]["numpy"].dtype == np.uint32
    # the tensors carry their paths as names, so the file reads as plain safetensors too
    plain = _read_plain(path)
    assert "model.conv1.weight" in plain and "optimizer.state.0.exp_avg" in plain
    assert STRUCTURE_KEY in read_metadata(path)


def _read_plain(path) -> dict:
    raw = path.read_bytes()
    length = int.from_bytes(raw[:8], "little")
    return json.loads(raw[8 : 8 + length])


def test_user_metadata_is_kept(tmp_path):
    path = tmp_path / "m.safetensors"
    save({"w": sg.ones(2)}, path, metadata={"format": "pt", "config": "c5l3"})
    assert read_metadata(path) == {"format": "pt", "config": "c5l3"}
    assert list(load(path)) == ["w"]


@pytest.mark.parametrize(
    "obj, error, match",
    [
        ([sg.ones(1)], TypeError, "expected a dict"),
        ({"a": object()}, TypeError, "cannot store a object at 'a'"),
        ({(1, 2): sg.ones(1)}, TypeError, "dict keys must be str or int"),
        ({"a.b": sg.ones(1), "a": {"b": sg.ones(1)}}, ValueError, "'a.b'"),
        ({"__metadata__": sg.ones(1)}, ValueError, "reserved"),
        ({"c": np.zeros(2, np.complex64)}, TypeError, "tensor 'c' has dtype complex64"),
    ],
)
def test_save_rejects_what_it_cannot_store(obj, error, match):
    with pytest.raises(error, match=match):
        save(obj, io.BytesIO())


def test_atomic_write_replaces_and_leaves_no_temporary(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    save({"w": sg.zeros(3)}, str(path))
    save({"w": sg.ones(3)}, path)
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    np.testing.assert_array_equal(load(path)["w"].numpy(), np.ones(3, np.float32))
    with pytest.raises(TypeError):
        save({"w": object(), "x": {}}, path)  # a failed save leaves the old file intact
    assert os.listdir(tmp_path) == ["ckpt.safetensors"]
    np.testing.assert_array_equal(load(path)["w"].numpy(), np.ones(3, np.float32))


def _file_bytes() -> bytes:
    buffer = io.BytesIO()
    save({"a": np.arange(4, dtype=np.float32), "b": np.arange(3, dtype=np.int64)}, buffer)
    return buffer.getvalue()


def _with_header(header: dict, data: bytes = b"") -> bytes:
    text = json.dumps(header).encode()
    return len(text).to_bytes(8, "little") + text + data


@pytest.mark.parametrize(
    "content, match",
    [
        (b"", "fewer than the 8-byte header length"),
        (b"\x05\x00\x00", "fewer than the 8-byte header length"),
        (_file_bytes()[:20], "header length .* exceeds the file"),
        (_file_bytes()[:-1], "truncated: the header describes 40 bytes of tensor data, the file holds 39"),
        (_file_bytes() + b"x", "corrupt: the header describes 40 bytes"),
        ((4).to_bytes(8, "little") + b"{{{{", "not valid UTF-8 JSON"),
        (_with_header([1]), "expected a JSON object"),  # type: ignore[arg-type]
        (_with_header({"a": {"dtype": "BF16", "shape": [1], "data_offsets": [0, 2]}}, b"00"), "dtype 'BF16'"),
        (_with_header({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 4]}}, b"0000"), "needs 8 bytes"),
        (_with_header({"a": {"dtype": "F32", "shape": [1], "data_offsets": [4, 8]}}, b"0" * 8), "starts at byte 4"),
        (_with_header({"a": {"dtype": "F32", "shape": [1]}}), "needs dtype, shape and data_offsets"),
        (_with_header({"a": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}), "expected a list of sizes"),
        (_with_header({"__metadata__": {"k": 1}}), "'__metadata__' must map str to str"),
        (_with_header({"__metadata__": {STRUCTURE_KEY: "{\"bad\": 1}"}}), "corrupt 'scratchgrad.structure'"),
    ],
)
def test_corrupt_files_give_errors_naming_file_and_problem(tmp_path, content, match):
    path = tmp_path / "bad.safetensors"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=match) as info:
        load(path)
    assert str(path) in str(info.value)


class _Unseekable(io.RawIOBase):
    """A pipe-like stream: no size is known, so truncation shows up while reading."""

    def __init__(self, data: bytes):
        self._inner = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        return self._inner.readinto(buffer)


def test_truncated_stream_names_the_tensor():
    with pytest.raises(ValueError, match="truncated in tensor 'a': expected 16 bytes, the file ends after 12"):
        load(_Unseekable(_file_bytes()[:-4]))
    loaded = load(_Unseekable(_file_bytes()))
    np.testing.assert_array_equal(loaded["b"].numpy(), [0, 1, 2])


def test_map_location():
    buffer = io.BytesIO(_file_bytes())
    assert load(buffer, map_location="cpu")["a"].device == "cpu"
    with pytest.raises(TypeError, match="map_location"):
        load(io.BytesIO(_file_bytes()), map_location={"cuda:0": "cpu"})



# ----------------------------------------------------------------- bounded by the input (issue 17)
def _padded_header(text: bytes) -> bytes:
    return len(text).to_bytes(8, "little") + text


@pytest.mark.parametrize("content, match", [
    (_padded_header(b"[" * 200_000 + b"]" * 200_000), "nested too deeply"),
    (_padded_header(b'{"a": {"dtype": "U8", "shape": [' + b"9" * 5000 + b'], "data_offsets": [0, 1]}}'), "digits"),
    (_with_header({"a": {"dtype": "U8", "shape": [True], "data_offsets": [0, 1]}}, b"x"), "expected a list of sizes"),
    (_with_header({"a": {"dtype": "U8", "shape": [1], "data_offsets": [False, True]}}, b"x"), "expected [begin, end]"),
    (_with_header({"a": {"dtype": ["F32"], "shape": [1], "data_offsets": [0, 4]}}, b"xxxx"), "cannot read"),
    (_with_header({"__metadata__": {STRUCTURE_KEY: '{"list": ' * 100_000 + "1" + "}" * 100_000}}),
     "nested too deeply"),
    (_with_header({"__metadata__": {STRUCTURE_KEY: '{"list": [' * 150 + "1" + "]}" * 150}}), "nested deeper than"),
])
def test_hostile_headers_are_refused_with_a_safetensors_error(tmp_path, content, match):
    path = tmp_path / "hostile.safetensors"
    path.write_bytes(content)
    with pytest.raises(SafetensorsError, match=re.escape(match)) as info:
        load(path)
    assert str(path) in str(info.value)


def test_a_stream_claiming_more_than_it_holds_allocates_only_what_arrives():
    claim = 1 << 40  # a terabyte, from a stream of a few hundred bytes
    content = _with_header({"a": {"dtype": "U8", "shape": [claim], "data_offsets": [0, claim]}}, b"x" * 100)
    tracemalloc.start()
    try:
        with pytest.raises(SafetensorsError, match="truncated in tensor 'a': expected 1099511627776 bytes"):
            load(_Unseekable(content))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20
    huge_header = (1 << 26).to_bytes(8, "little") + b"{}"  # claims a 64 MiB header
    tracemalloc.start()
    try:
        with pytest.raises(SafetensorsError, match="truncated: the header should have"):
            load(_Unseekable(huge_header))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20


# ----------------------------------------------------------------- interop with the safetensors package
def test_bytes_equal_the_reference_implementation():
    st_numpy = pytest.importorskip("safetensors.numpy")
    arrays = _arrays(np.random.default_rng(1))
    for metadata in (None, {"format": "pt"}):  # one key: the reference orders several by hash
        buffer = io.BytesIO()
        save(arrays, buffer, metadata=metadata)
        reference = st_numpy.save({k: v.copy(order="C") for k, v in arrays.items()}, metadata=metadata)
        assert buffer.getvalue() == reference


def test_reads_reference_files_and_reference_reads_ours(tmp_path):
    st_numpy = pytest.importorskip("safetensors.numpy")
    arrays = _arrays(np.random.default_rng(2))
    theirs = tmp_path / "theirs.safetensors"
    st_numpy.save_file({k: v.copy(order="C") for k, v in arrays.items()}, str(theirs))
    ours = tmp_path / "ours.safetensors"
    save(arrays, ours)
    for key, value in load(theirs).items():
        np.testing.assert_array_equal(value.numpy(), arrays[key])
        assert value.dtype == arrays[key].dtype
    for key, value in st_numpy.load_file(str(ours)).items():
        np.testing.assert_array_equal(value, arrays[key])
        assert value.dtype == arrays[key].dtype


# ----------------------------------------------------------------- interop with torch state dicts
def _torch_model(torch):
    return torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(4 * 5 * 5, 3),
    )


def test_torch_state_dict_round_trips_into_torch(tmp_path):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    source = _torch_model(torch)
    source.train()(torch.randn(2, 3, 5, 5))  # move the BN running stats and num_batches_tracked
    path = tmp_path / "torch.safetensors"
    save({k: v.numpy() for k, v in source.state_dict().items()}, path)
    loaded = load(path)
    target = _torch_model(torch)
    target.load_state_dict({k: torch.from_numpy(v.numpy()) for k, v in loaded.items()})  # strict: no renaming
    for (key, a), b in zip(source.state_dict().items(), target.state_dict().values()):
        assert a.dtype == b.dtype and torch.equal(a, b), key


def test_safetensors_torch_reads_ours_and_we_read_theirs(tmp_path):
    torch = pytest.importorskip("torch")
    st_torch = pytest.importorskip("safetensors.torch")
    torch.manual_seed(1)
    source = _torch_model(torch)
    ours = tmp_path / "ours.safetensors"
    save({k: v.numpy() for k, v in source.state_dict().items()}, ours)
    target = _torch_model(torch)
    target.load_state_dict(st_torch.load_file(str(ours)))
    assert all(torch.equal(a, b) for a, b in zip(source.state_dict().values(), target.state_dict().values()))
    theirs = tmp_path / "theirs.safetensors"
    st_torch.save_file(source.state_dict(), str(theirs))
    loaded = load(theirs)
    assert sorted(loaded) == sorted(source.state_dict())
    for key, value in source.state_dict().items():
        np.testing.assert_array_equal(loaded[key].numpy(), value.numpy())


# ----------------------------------------------------------------- a training checkpoint, end to end
def test_checkpoint_of_model_optimizer_and_scheduler_resumes_exactly(tmp_path):
    nn, optim = pytest.importorskip("scratchgrad.nn"), pytest.importorskip("scratchgrad.optim")

    def make():
        sg.manual_seed(0)
        model = nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))
        optimizer = optim.Adam(model.parameters(), lr=0.01, weight_decay=1e-3)
        return model, optimizer, optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)

    def train_step(model, optimizer, scheduler, x):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()
        scheduler.step()

    batches = [sg.randn(5, 3) for _ in range(4)]
    model, optimizer, scheduler = make()
    for x in batches[:2]:
        train_step(model, optimizer, scheduler, x)
    path = tmp_path / "state.safetensors"
    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict()}
    save({**state, "epoch": 2}, path)
    checkpoint = load(path)
    resumed, resumed_optimizer, resumed_scheduler = make()
    resumed.load_state_dict(checkpoint["model"])
    resumed_optimizer.load_state_dict(checkpoint["optimizer"])
    resumed_scheduler.load_state_dict(checkpoint["scheduler"])
    assert checkpoint["epoch"] == 2 and list(checkpoint["optimizer"]["state"]) == [0, 1, 2, 3, 4, 5]
    for x in batches[2:]:
        train_step(model, optimizer, scheduler, x)
        train_step(resumed, resumed_optimizer, resumed_scheduler, x)
    for (key, a), b in zip(model.state_dict().items(), resumed.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=key)
        assert a.dtype == b.dtype

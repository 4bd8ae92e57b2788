"""dtypes: PyTorch's type promotion (``dtypes.result_dtype`` against ``torch.result_type``) and
the default dtypes of ``tensor()`` and the factories."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pytest

torch = pytest.importorskip("torch")
from parity import torch_dtype  # noqa: E402

import scratchgrad  # noqa: E402
from scratchgrad import dtypes  # noqa: E402

DTYPES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]


def _operands() -> dict[str, tuple[Any, Any]]:
    """name -> (torch operand, scratchgrad operand): dimensioned and 0-d tensors, Python and NumPy scalars."""
    operands = {}
    for name in DTYPES:
        for label, shape in ((f"tensor_{name}", (2,)), (f"0d_{name}", ())):
            ones = np.ones(shape, dtype=name)
            operands[label] = (torch.from_numpy(ones), scratchgrad.tensor(ones))
    for name, scalar in {
        "bool": True, "int": 2, "float": 2.5, "np_float64": np.float64(2.5), "np_float32": np.float32(2.5),
        "np_int64": np.int64(2), "np_int32": np.int32(2),  # (torch takes a NumPy bool for a float: not copied)
    }.items():
        operands[f"scalar_{name}"] = (scalar, scalar)
    return operands


OPERANDS = _operands()
TENSORS = [name for name in OPERANDS if not name.startswith("scalar_")]


def _mismatches(check: Callable[[Any, Any, Any, Any], tuple[Any, Any] | None], left: str) -> list[str]:
    problems = []
    for right in OPERANDS:
        for a, b in ((left, right), (right, left)):
            found = check(*OPERANDS[a], *OPERANDS[b])
            if found is not None:
                problems.append(f"{a} with {b}: scratchgrad {found[0]}, torch {found[1]}")
    return problems


@pytest.mark.parametrize("left", TENSORS)
def test_result_dtype_matches_torch_result_type(left: str) -> None:
    def check(ta: Any, sa: Any, tb: Any, sb: Any) -> tuple[Any, Any] | None:
        expected = torch_dtype(torch.result_type(ta, tb))
        actual = dtypes.result_dtype(sa, sb)
        return None if actual == expected else (actual, expected)

    assert not _mismatches(check, left)


BINARY_OPS: dict[str, Callable[[Any, Any], Any]] = {
    "add": lambda a, b: a + b, "mul": lambda a, b: a * b, "div": lambda a, b: a / b, "lt": lambda a, b: a < b,
    "eq": lambda a, b: a == b,
}


@pytest.mark.parametrize("op", BINARY_OPS)
@pytest.mark.parametrize("left", TENSORS)
def test_binary_op_result_dtype_matches_torch(op: str, left: str) -> None:
    """The ops apply the rule too (true division of integers gives the default float dtype)."""
    fn = BINARY_OPS[op]

    def check(ta: Any, sa: Any, tb: Any, sb: Any) -> tuple[Any, Any] | None:
        expected = torch_dtype(fn(ta, tb).dtype)
        actual = fn(sa, sb).dtype
        return None if actual == expected else (actual, expected)

    assert not _mismatches(check, left)


@pytest.mark.parametrize("left", [name for name in TENSORS if name.startswith("tensor_")])
def test_cat_and_stack_promote_like_torch(left: str) -> None:
    def check(ta: Any, sa: Any, tb: Any, sb: Any) -> tuple[Any, Any] | None:
        if not all(isinstance(t, torch.Tensor) and t.ndim == 1 for t in (ta, tb)):
            return None
        expected = (torch_dtype(torch.cat([ta, tb]).dtype), torch_dtype(torch.stack([ta, tb]).dtype))
        actual = (scratchgrad.cat([sa, sb]).dtype, scratchgrad.stack([sa, sb]).dtype)
        return None if actual == expected else (actual, expected)

    assert not _mismatches(check, left)


TENSOR_DATA = {
    "float": 1.5, "int": 3, "bool": True, "float_list": [1.0, 2.0], "mixed_list": [1, 2.5], "int_list": [[1, 2], [3, 4]],
    "bool_list": [True, False], "empty_list": [], "numpy_float64": np.array([1.0, 2.0]), "numpy_float32": np.ones(2, np.float32),
    "numpy_int32": np.arange(3, dtype=np.int32), "numpy_uint8": np.arange(3, dtype=np.uint8), "numpy_bool": np.ones(2, bool),
    "numpy_0d_float64": np.array(1.5), "numpy_scalar_float64": np.float64(1.5), "numpy_scalar_int32": np.int32(4),
    # NumPy scalars inside lists keep their dtype, promoted with the other elements'
    "list_numpy_float64": [np.float64(1.0), 2.0], "list_numpy_int32": [np.int32(1)], "list_numpy_int32_int": [np.int32(1), 2],
    "list_numpy_int32_float": [np.int32(1), 2.5], "list_numpy_float16_float": [np.float16(1), 2.0],
    "list_numpy_float16_int": [np.float16(1), 2], "list_numpy_int8_uint8": [np.int8(1), np.uint8(2)],
    "list_bool_numpy_int8": [True, np.int8(1)], "nested_numpy_float64": [[np.float64(1.0)], [1.0]],
    "list_numpy_bool": [np.bool_(True)], "list_of_arrays": [np.array([1.0]), np.array([2.0])],
}


@pytest.mark.filterwarnings("ignore:Creating a tensor from a list of numpy.ndarrays")  # torch's, for list_of_arrays
@pytest.mark.parametrize("name", TENSOR_DATA)
def test_tensor_default_dtype_matches_torch(name: str) -> None:
    data = TENSOR_DATA[name]
    assert scratchgrad.tensor(data).dtype == torch_dtype(torch.tensor(data).dtype)


def test_tensor_defaults_as_documented() -> None:
    assert scratchgrad.tensor([0.5]).dtype == scratchgrad.float32
    assert scratchgrad.tensor([1]).dtype == scratchgrad.int64
    assert scratchgrad.tensor(np.zeros(2)).dtype == scratchgrad.float64
    assert scratchgrad.tensor([1, 2], dtype=scratchgrad.float64).dtype == scratchgrad.float64
    assert scratchgrad.tensor(np.zeros(2), dtype=float).dtype == scratchgrad.float32  # Python float means float32


def test_tensor_copies_its_data() -> None:
    array = np.zeros(3, np.float32)
    source = scratchgrad.tensor(array)
    copy = scratchgrad.tensor(source)
    array[0] = 1
    source.array[1] = 1
    assert copy.dtype == np.float32 and copy.tolist() == [0.0, 0.0, 0.0] and source.tolist() == [0.0, 1.0, 0.0]


FACTORIES: dict[str, Callable[[Any], Any]] = {
    "zeros": lambda lib: lib.zeros(2, 3), "ones": lambda lib: lib.ones((2,)), "empty": lambda lib: lib.empty(2),
    "rand": lambda lib: lib.rand(2), "randn": lambda lib: lib.randn(2, 2), "full_float": lambda lib: lib.full((2,), 1.5),
    "full_int": lambda lib: lib.full((2,), 2), "full_bool": lambda lib: lib.full((2,), True),
    "arange_int": lambda lib: lib.arange(3), "arange_float": lambda lib: lib.arange(0, 1, 0.25),
    "arange_float_end": lambda lib: lib.arange(3.0), "linspace": lambda lib: lib.linspace(0, 1, 5), "eye": lambda lib: lib.eye(3),
    "randint": lambda lib: lib.randint(0, 5, (3,)), "randperm": lambda lib: lib.randperm(4),
    "zeros_like_int": lambda lib: lib.zeros_like(lib.arange(3)), "ones_like_double": lambda lib: lib.ones_like(lib.zeros(2, dtype=lib.float64)),
    "full_like": lambda lib: lib.full_like(lib.arange(3), 7), "rand_like": lambda lib: lib.rand_like(lib.zeros(2, dtype=lib.float64)),
    "zeros_dtype": lambda lib: lib.zeros(2, dtype=lib.int32), "randn_dtype": lambda lib: lib.randn(2, dtype=lib.float64),
}


@pytest.mark.parametrize("name", FACTORIES)
def test_factory_default_dtype_and_shape_match_torch(name: str) -> None:
    expected = FACTORIES[name](torch)
    actual = FACTORIES[name](scratchgrad)
    assert actual.dtype == torch_dtype(expected.dtype)
    assert actual.shape == tuple(expected.shape)


@pytest.mark.parametrize(
    "name, expected", [("float", np.float32), ("double", np.float64), ("half", np.float16), ("long", np.int64), ("int", np.int32), ("bool", np.bool_)]
)
def test_conversion_methods(name: str, expected: Any) -> None:
    x = scratchgrad.tensor([1.5, 0.0])
    assert getattr(x, name)().dtype == expected
    assert x.to(expected).dtype == expected
    assert dtypes.as_dtype(getattr(scratchgrad, name)) == expected


def test_as_dtype_rejects_nonsense() -> None:
    with pytest.raises(TypeError, match="dtype"):
        dtypes.as_dtype(object())


def test_tensor_of_a_list_of_tensors_promotes_their_dtypes_like_torch() -> None:
    data = {"torch": [torch.tensor(1.0, dtype=torch.float64), 2.0], "scratchgrad": [scratchgrad.tensor(1.0, dtype=scratchgrad.float64), 2.0]}
    assert scratchgrad.tensor(data["scratchgrad"]).dtype == torch_dtype(torch.tensor(data["torch"]).dtype) == np.float64

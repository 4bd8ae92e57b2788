"""``summary``: a per-layer table of output shapes, parameters, FLOPs and activation memory.

Like ``torchinfo.summary``, it runs one dry forward pass on an input of the given shape
(batch included) with a forward hook on every module; lazy layers are materialized by
that pass, and parameters are counted after it.

FLOPs count a multiply-add as two operations: a convolution costs
``2 * (C_in / groups) * kh * kw`` per output element (plus one for the bias), a linear
layer ``2 * in_features`` per output element (plus one), BatchNorm two per element
(scale and shift), an activation one per element, max/average pooling ``kh * kw`` per
output element, adaptive average pooling one per input element. Layers without a formula
(and containers, whose children are counted) show ``--`` and add nothing to the total.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import dtypes
from ..grad_mode import no_grad
from ..backend import array_module_for
from ..tensor import Tensor

Shape = tuple[int, ...]
MAX_INPUT_ELEMENTS = 1 << 24  # per input, batch included: a dry run on more allocates GiBs in every layer


@dataclass
class LayerSummary:
    """One module of the model: ``name`` is its dotted name (``""`` for the model itself)."""

    name: str
    type: str
    depth: int
    output_shape: Shape | list[Shape] | None = None  # None: the module never ran
    params: int = 0  # parameters the module owns directly (not its children's)
    flops: int | None = None  # None: no formula for this layer, or a container
    activation_bytes: int = 0
    is_leaf: bool = True


@dataclass
class ModelSummary:
    """What :func:`summary` measured; ``str()`` gives the table."""

    model_name: str
    input_shapes: list[Shape]
    dtype: np.dtype
    rows: list[LayerSummary] = field(default_factory=list)
    total_params: int = 0
    trainable_params: int = 0
    total_flops: int = 0
    input_bytes: int = 0
    activation_bytes: int = 0  # outputs of leaf layers (containers would count them twice)
    param_bytes: int = 0

    def __str__(self) -> str:
        return _format(self)


def summary(model: Any, input_shape: Shape | list[Shape], dtype: Any = dtypes.float32, device: Any = None) -> ModelSummary:
    """Run ``model`` once on zeros of ``input_shape`` and describe every layer.

    The forward pass runs under ``no_grad`` in eval mode (so BatchNorm's running
    statistics and the random generator are untouched), every module's train/eval mode is
    restored afterwards, and every hook is removed.

    Args:
        model: a ``scratchgrad.nn.Module``.
        input_shape: the input's full shape including the batch, e.g. ``(1, 3, 32, 32)``,
            or a list of shapes for a model with several inputs; each of at most
            ``MAX_INPUT_ELEMENTS`` elements (checked before anything is allocated).
        dtype: the input dtype.
        device: where the input lives; default: where the model's first parameter is.
    """
    shapes = [tuple(input_shape)] if all(isinstance(n, int) for n in input_shape) else [tuple(s) for s in input_shape]
    for shape in shapes:
        if math.prod(shape) > MAX_INPUT_ELEMENTS or min(shape, default=1) < 1:
            raise ValueError(f"summary: input_shape {shape} has {math.prod(shape):,} elements; expected sizes "
                             f">= 1 and at most {MAX_INPUT_ELEMENTS:,} elements in all")
    if device is None:
        first = next(iter(model.parameters()), None)
        device = first.device if first is not None else "cpu"
    xp = array_module_for(device)
    inputs = [Tensor(xp.zeros(shape, dtype=dtypes.as_dtype(dtype))) for shape in shapes]
    modules = list(model.named_modules())
    rows = {id(module): _new_row(name, module) for name, module in modules}
    _dry_run(model, inputs, [(module, rows[id(module)]) for _, module in modules])
    for _, module in modules:  # after the dry run: lazy layers now have their parameters and final class
        row = rows[id(module)]
        row.type = type(module).__name__
        row.params = sum(p.numel() for p in module.parameters(recurse=False))
    result = ModelSummary(type(model).__name__, shapes, dtypes.as_dtype(dtype), [rows[id(m)] for _, m in modules])
    _totals(result, model, inputs)
    return result


def _dry_run(model: Any, inputs: list[Tensor], recorded: list[tuple[Any, LayerSummary]]) -> None:
    """One forward in eval mode without grad, hooks recording into the rows; modes restored, hooks removed."""
    modes = [(module, module.training) for module, _ in recorded]
    handles = [module.register_forward_hook(_recorder(row)) for module, row in recorded]
    try:
        model.eval()
        with no_grad():
            model(*inputs)
    finally:
        for handle in handles:
            handle.remove()
        for module, training in modes:
            module.training = training


def _new_row(name: str, module: Any) -> LayerSummary:
    depth = 0 if name == "" else name.count(".") + 1
    return LayerSummary(name, type(module).__name__, depth, is_leaf=next(iter(module.children()), None) is None)


def _recorder(row: LayerSummary) -> Callable[..., None]:
    def hook(module: Any, args: tuple[Any, ...], output: Any) -> None:
        outputs = _tensors(output)
        row.output_shape = outputs[0].shape if len(outputs) == 1 else [t.shape for t in outputs]
        row.activation_bytes += sum(t.numel() * t.element_size() for t in outputs)
        if row.is_leaf:
            flops = _layer_flops(module, args, outputs)
            row.flops = None if flops is None else (row.flops or 0) + flops

    return hook


def _tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def _totals(result: ModelSummary, model: Any, inputs: list[Tensor]) -> None:
    params = list(model.parameters())
    result.total_params = sum(p.numel() for p in params)
    result.trainable_params = sum(p.numel() for p in params if p.requires_grad)
    result.param_bytes = sum(p.numel() * p.element_size() for p in params)
    result.input_bytes = sum(t.numel() * t.element_size() for t in inputs)
    leaves = [row for row in result.rows if row.is_leaf]
    result.total_flops = sum(row.flops or 0 for row in leaves)
    result.activation_bytes = sum(row.activation_bytes for row in leaves)


# ----------------------------------------------------------------------------- FLOPs
def _conv_flops(module: Any, args: tuple[Any, ...], out: Tensor) -> int:
    weight = module.weight
    per_output = 2 * weight.numel() // weight.shape[0] + (module.bias is not None)
    return out.numel() * per_output


def _linear_flops(module: Any, args: tuple[Any, ...], out: Tensor) -> int:
    return out.numel() * (2 * module.weight.shape[1] + (module.bias is not None))


def _pool_flops(module: Any, args: tuple[Any, ...], out: Tensor) -> int:
    size = module.kernel_size
    return out.numel() * (math.prod(size) if isinstance(size, (tuple, list)) else size * size)


def _elementwise(flops_per_element: int) -> Callable[[Any, tuple[Any, ...], Tensor], int]:
    return lambda module, args, out: flops_per_element * out.numel()


_FORMULAS: dict[str, Callable[[Any, tuple[Any, ...], Tensor], int]] = {
    "Conv1d": _conv_flops, "Conv2d": _conv_flops, "Linear": _linear_flops,
    "MaxPool2d": _pool_flops, "AvgPool2d": _pool_flops,
    "AdaptiveAvgPool2d": lambda module, args, out: args[0].numel(),
    "BatchNorm1d": _elementwise(2), "BatchNorm2d": _elementwise(2),
    **{name: _elementwise(1) for name in (
        "ReLU", "ReLU6", "LeakyReLU", "ELU", "SELU", "GELU", "SiLU", "Sigmoid", "Tanh", "Hardtanh",
        "Softmax", "LogSoftmax",
    )},
    **{name: _elementwise(0) for name in ("Dropout", "Flatten", "Unflatten", "Identity")},
}


def _layer_flops(module: Any, args: tuple[Any, ...], outputs: list[Tensor]) -> int | None:
    """The layer's FLOPs by the first class in its MRO that has a formula (subclasses inherit it)."""
    formula = next((_FORMULAS[c.__name__] for c in type(module).__mro__ if c.__name__ in _FORMULAS), None)
    if formula is None or len(outputs) != 1:
        return None
    return formula(module, args, outputs[0])


# ----------------------------------------------------------------------------- table
def _format(result: ModelSummary) -> str:
    header = ("Layer (type)", "Output shape", "Params", "FLOPs", "Activation")
    body = [
        (
            "  " * row.depth + (f"{row.name.rsplit('.', 1)[-1]} ({row.type})" if row.name else row.type),
            _shape_text(row.output_shape),
            f"{row.params:,}" if row.params or row.is_leaf else "--",
            "--" if row.flops is None else f"{row.flops:,}",
            _bytes(row.activation_bytes) if row.output_shape is not None else "--",
        )
        for row in result.rows
    ]
    widths = [max(len(line[i]) for line in [header, *body]) for i in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cells, widths)))

    rule = "-" * len(line(header))
    inputs = ", ".join(_shape_text(s) for s in result.input_shapes)
    lines = [
        f"{result.model_name} summary: input {inputs} {result.dtype}; FLOPs count a multiply-add as 2",
        rule, line(header), rule, *(line(cells) for cells in body), rule,
        f"Total params:          {result.total_params:,}",
        f"Trainable params:      {result.trainable_params:,}",
        f"Non-trainable params:  {result.total_params - result.trainable_params:,}",
        f"Total FLOPs:           {result.total_flops:,} ({_scaled(result.total_flops)}FLOPs)",
        f"Input memory:          {_bytes(result.input_bytes)}",
        f"Activation memory:     {_bytes(result.activation_bytes)} (outputs of leaf layers)",
        f"Parameter memory:      {_bytes(result.param_bytes)}",
        rule,
    ]
    return "\n".join(lines)


def _shape_text(shape: Any) -> str:
    if shape is None:
        return "--"
    if shape and not isinstance(shape[0], int):
        return ", ".join(_shape_text(s) for s in shape)
    return "[" + ", ".join(str(n) for n in shape) + "]"


def _bytes(count: int) -> str:
    if count < 1024:
        return f"{count} B"
    exponent = min(int(math.log(count, 1024)), 3)
    return f"{count / 1024**exponent:.2f} {('KiB', 'MiB', 'GiB')[exponent - 1]}"


def _scaled(count: int) -> str:
    for unit, size in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if count >= size:
            return f"{count / size:.2f} {unit}"
    return f"{count} "

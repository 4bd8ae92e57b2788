"""``Function`` and its context: one node of the graph that ``backward`` walks.

A primitive computes its output in ``forward`` (on arrays, grad mode off) and its
gradient in ``backward`` right beside it, written with Tensor ops so that the gradient is
itself differentiable when ``create_graph=True``. Unbroadcasting and dtype casting of the
returned gradients happen once, in the engine, not in each op.
"""
from __future__ import annotations

from typing import Any

from ..backend import get_array_module
from ..grad_mode import _set_enabled, is_grad_enabled
from ..tensor import Tensor

_FREED = "Trying to backward through the graph a second time (or to use saved tensors after they were freed). Pass retain_graph=True to the first backward() if you need to backward twice."


class Context:
    """What ``forward`` leaves for ``backward``; also the graph node that outputs point to.

    Attributes used by the engine: ``function`` (the Function class), ``next_edges`` (per
    forward argument: ``None``, a leaf Tensor, or ``(context, output index)``), and
    ``input_meta`` (per argument: ``(shape, dtype)`` of tensor arguments).
    """

    def __init__(self, function: type):
        self.function = function
        self.needs_input_grad: tuple[bool, ...] = ()
        self.next_edges: list[Any] = []
        self.input_meta: list[Any] = []
        self.num_outputs = 1
        self.output_meta: list[Any] = []
        self.retained: list[tuple[int, Any]] = []  # (output index, weakref) from Tensor.retain_grad
        self._saved: list[tuple[Any, Any]] | None = []
        self._keep_output = False
        self._output: tuple[Any, Any, int] | None = None
        self._non_differentiable: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        return f"{self.function.__name__}Backward"

    def save_for_backward(self, *tensors: Any) -> None:
        """Keep tensors (or ``None``) for backward; modifying them in place afterwards is an error."""
        self._saved = [(t, None if t is None else t._version[0]) for t in tensors]

    def save_output(self) -> None:
        """Ask for the (single) output in backward as ``ctx.output``."""
        self._keep_output = True

    def mark_non_differentiable(self, *outputs: Any) -> None:
        self._non_differentiable = outputs

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        if self._saved is None:
            raise RuntimeError(_FREED)
        for position, (tensor, version) in enumerate(self._saved):
            if tensor is not None and tensor._version[0] != version:
                raise _modified_error(self.name, position, tensor._version[0], version)
        return tuple(tensor for tensor, _ in self._saved)

    @property
    def output(self) -> Any:
        """The forward's output as a tensor of this graph (so double backward sees it)."""
        if self._output is None:
            raise RuntimeError(_FREED if self._saved is None else f"{self.name}: forward did not call ctx.save_output()")
        data, version_cell, version = self._output
        if version_cell[0] != version:
            raise _modified_error(self.name, "output", version_cell[0], version)
        out = Tensor(data, requires_grad=True, _version=version_cell)
        out.grad_fn = self
        return out

    def free(self) -> None:
        self._saved = None
        self._output = None


def _modified_error(name: str, which: Any, now: int, then: int) -> RuntimeError:
    return RuntimeError(
        f"one of the variables needed for gradient computation has been modified by an inplace "
        f"operation: saved tensor {which} of {name} is at version {now}; expected version {then}"
    )


class Function:
    """Base class of differentiable operations, used as in PyTorch::

        class Exp(Function):
            @staticmethod
            def forward(ctx, x):          # arguments as given to apply; returns arrays or Tensors
                ctx.save_output()
                return np.exp(x.array)

            @staticmethod
            def backward(ctx, grad):      # one gradient Tensor per output
                return grad * ctx.output  # one gradient (or None) per forward argument

    ``view = True`` on a subclass marks outputs that alias their first input's memory:
    they share its version counter, and in-place changes to them reach the input's graph
    through ``write_back``.
    """

    view = False

    @staticmethod
    def write_back(base: Any, value: Any, *args: Any) -> Any:
        """For a view: ``base``'s new value, from differentiable ops, once the view holds ``value``;
        ``args`` are the forward's arguments after the first."""
        raise RuntimeError("in-place changes to the output of this view are not supported")

    @staticmethod
    def forward(ctx: Context, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError

    @staticmethod
    def backward(ctx: Context, *grad_outputs: Any) -> Any:
        raise NotImplementedError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        ctx = Context(cls)
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        # Grad mode off around forward, set directly rather than through a no_grad object:
        # this runs for every op, and small ops cost little more than their bookkeeping.
        grad_enabled = is_grad_enabled()
        _set_enabled(False)
        try:
            raw = cls.forward(ctx, *args, **kwargs)
        except ValueError as error:  # NumPy's shape errors, named after the op that met them
            raise RuntimeError(f"{cls.__name__}: {error}") from error
        except TypeError as error:  # CuPy refuses NumPy operands (and the reverse): say which devices met
            _check_same_device(cls.__name__, args, error)
            raise
        finally:
            _set_enabled(grad_enabled)
        is_tuple = isinstance(raw, tuple)
        outputs = tuple(_as_output_tensor(r) for r in (raw if is_tuple else (raw,)))
        if cls.view and isinstance(args[0], Tensor):
            for out in outputs:
                out._version = args[0]._version
                out._view_of = (args[0], cls.write_back, args[1:])
        if grad_enabled and any(ctx.needs_input_grad):
            _connect(ctx, args, outputs)
        else:
            ctx.free()
        return outputs if is_tuple else outputs[0]


def _check_same_device(op: str, args: tuple[Any, ...], error: Exception) -> None:
    devices = sorted({str(a.device) for a in args if isinstance(a, Tensor)})
    if len(devices) > 1:
        raise RuntimeError(f"{op}: expected all tensors to be on the same device, but found {' and '.join(devices)}") from error


def _as_output_tensor(value: Any) -> Any:
    return value if isinstance(value, Tensor) or value is None else Tensor(value)


def _connect(ctx: Context, args: tuple[Any, ...], outputs: tuple[Any, ...]) -> None:
    """Record the edges to the inputs and make ``ctx`` the outputs' ``grad_fn``."""
    for arg, needs in zip(args, ctx.needs_input_grad):
        if not needs:
            ctx.next_edges.append(None)
            ctx.input_meta.append(None)
            continue
        ctx.next_edges.append(arg if arg.grad_fn is None else (arg.grad_fn, arg._output_nr))
        ctx.input_meta.append((arg.shape, arg.dtype))
    ctx.num_outputs = len(outputs)
    ctx.output_meta = [(o.shape, o.dtype, get_array_module(o.array)) for o in outputs]
    skip = {id(t) for t in ctx._non_differentiable}
    for index, out in enumerate(outputs):
        if isinstance(out, Tensor) and id(out) not in skip and out.dtype.kind in "fc":
            out.requires_grad = True
            out.grad_fn = ctx
            out._output_nr = index
    if ctx._keep_output:
        ctx._output = (outputs[0].array, outputs[0]._version, outputs[0]._version[0])


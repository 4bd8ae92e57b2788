"""The optimizer base class: parameter groups, per-parameter state and state dicts.

Subclasses implement :meth:`Optimizer.step`; everything else (grouping, zeroing
gradients, saving and restoring state) lives here, with PyTorch's semantics.

State is kept as backend arrays (NumPy, or CuPy on a GPU) and updated in place, so
an optimizer step never builds an autograd graph. :meth:`Optimizer.state_dict`
returns PyTorch's layout::

    {"state": {0: {"momentum_buffer": Tensor, ...}, ...},
     "param_groups": [{"lr": 0.1, ..., "params": [0, 1]}, ...]}

Where scratchgrad differs from PyTorch: ``state[i]["step"]`` is a plain Python
``int`` (PyTorch stores a scalar tensor), so a checkpoint can put every Tensor in a
safetensors file and everything else (numbers, ``param_groups``) in its JSON
metadata. :meth:`Optimizer.load_state_dict` also accepts the state keys as strings
(``"0"``), which is what a JSON round trip makes of them, and a ``step`` given as a
tensor.
"""
from __future__ import annotations

import copy
import functools
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

from ..autograd import enable_grad
from ..backend import device_of, get_array_module, to_device
from ..runtime import threads
from ..tensor import Tensor

ParamsT = Iterable[Tensor] | Iterable[dict[str, Any]]
StateDict = dict[str, Any]


def _marks_step_called(step: Callable) -> Callable:
    """Wrap a subclass's ``step`` so schedulers can warn when they run before it."""

    @functools.wraps(step)
    def wrapper(self: Optimizer, *args: Any, **kwargs: Any) -> Any:
        self._opt_called = True
        return step(self, *args, **kwargs)

    return wrapper


def decayed_gradient(data: Any, grad: Any, weight_decay: float, maximize: bool, decoupled_lr: float | None = None) -> Any:
    """The gradient an update rule follows, as torch's optimizers form it: negated to maximize, plus
    ``weight_decay * data`` (L2); with ``decoupled_lr`` (AdamW-style decay) the weights are shrunk in
    place by ``1 - decoupled_lr * weight_decay`` instead and the gradient is left as it is."""
    if maximize:
        grad = -grad
    if weight_decay != 0:
        if decoupled_lr is not None:
            data *= 1 - decoupled_lr * weight_decay
        else:
            grad = grad + weight_decay * data
    return grad


class Optimizer:
    """Base class of all optimizers.

    Args:
        params: an iterable of Tensors, or of dicts (parameter groups) each with a
            ``"params"`` entry and optional per-group hyperparameters. Unlike
            PyTorch, a set is refused here too, not only inside a group: its order
            changes between runs, and state dicts refer to parameters by position.
        defaults: the hyperparameters used by groups that do not set their own.
    """

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "step" in cls.__dict__:
            cls.step = _marks_step_called(cls.__dict__["step"])

    def __init__(self, params: ParamsT, defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor):
            raise TypeError(
                "params: expected an iterable of Tensors or dicts, got a single Tensor; "
                "wrap it in a list"
            )
        self._check_hyperparameters(defaults)
        self.defaults = defaults
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        groups = _ordered(params)
        if not groups:
            raise ValueError("params: optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def _check_hyperparameters(self, group: dict[str, Any]) -> None:
        """Raise ValueError for an invalid hyperparameter; subclasses override."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters, with optional hyperparameters of its own.

        Missing hyperparameters are taken from the optimizer's ``defaults``.
        """
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group: expected a dict, got {type(param_group).__name__}")
        if "params" not in param_group:
            raise ValueError("param_group: expected a 'params' entry, got none")
        params = param_group["params"]
        group = {**param_group, "params": [params] if isinstance(params, Tensor) else _ordered(params)}
        for p in group["params"]:
            if not isinstance(p, Tensor):
                raise TypeError(f"params: optimizer can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("params: can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            group.setdefault(name, default)
        self._check_hyperparameters(group)

        ids = [id(p) for p in group["params"]]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters", stacklevel=3)
        taken = {id(p) for g in self.param_groups for p in g["params"]}
        if taken.intersection(ids):
            raise ValueError("params: some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all optimized parameters.

        Args:
            set_to_none: set ``.grad`` to None (the default, which also makes
                :meth:`step` skip parameters that get no new gradient) instead of
                filling it with zeros.
        """
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                else:
                    if p.grad.requires_grad:  # a grad built with create_graph=True
                        p.grad = p.grad.detach()
                    p.grad.array.fill(0)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient once; returns ``closure()`` (run with grad
        enabled, before the update) if given. A subclass writes its rule in ``_prepare``."""
        self._opt_called = True  # (a subclass's own step is wrapped to do this: __init_subclass__)
        loss = self._evaluate(closure)
        self._update_parameters(self._prepare)
        return loss

    def _prepare(self, p: Tensor, group: dict[str, Any]) -> Update:
        """Advance ``p``'s state to this step; returns the elementwise update and the arrays it takes."""
        raise NotImplementedError

    def _update_parameters(self, prepare: Callable[[Tensor, dict[str, Any]], Update]) -> None:
        """``prepare(p, group)`` (state bookkeeping, in order) for every parameter with a
        gradient, then all their elementwise updates at once on all cores (``run_updates``)."""
        updates: list[Update] = []
        seen: set[int] = set()
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if id(p) in seen:  # listed twice (add_param_group warns): its first update lands first
                    run_updates(updates)
                    updates, seen = [], set()
                seen.add(id(p))
                updates.append(prepare(p, group))
                mark_updated(p)
        run_updates(updates)

    @staticmethod
    def _evaluate(closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    def state_dict(self) -> StateDict:
        """The optimizer's state in PyTorch's layout (see the module docstring).

        The result is a deep copy: changing it does not change the optimizer.
        """
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.deepcopy(v) for k, v in group.items() if k != "params"}
            for p in group["params"]:
                index.setdefault(id(p), len(index))
            packed["params"] = [index[id(p)] for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {key: _export(value) for key, value in s.items()}
            for p, s in self.state.items()
            if s
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: StateDict) -> None:
        """Restore the state saved by :meth:`state_dict` (copied, never shared).

        The groups must match this optimizer's: same number of groups and of
        parameters in each, and state arrays of each parameter's shape. Floating
        state is cast to the parameter's dtype and moved to its device. Nothing
        changes if any check fails.
        """
        self._check_layout(state_dict)
        saved_groups = state_dict["param_groups"]
        params_by_index = dict(
            zip(
                chain.from_iterable(g["params"] for g in saved_groups),
                chain.from_iterable(g["params"] for g in self.param_groups),
            )
        )
        state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        for key, saved_state in state_dict["state"].items():
            index = int(key)
            if index not in params_by_index:
                raise ValueError(
                    f"state_dict: state refers to parameter {key!r}, which no parameter group lists"
                )
            p = params_by_index[index]
            state[p] = {name: _import(value, p, index, name) for name, value in saved_state.items()}
        self.param_groups = [
            {**copy.deepcopy({k: v for k, v in saved.items() if k != "params"}), "params": group["params"]}
            for saved, group in zip(saved_groups, self.param_groups)
        ]
        self.state = state

    def _check_layout(self, state_dict: StateDict) -> None:
        for key in ("state", "param_groups"):
            if key not in state_dict:
                raise ValueError(f"state_dict: expected a {key!r} entry, got keys {sorted(state_dict)}")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"state_dict: has {len(saved_groups)} parameter groups, "
                f"the optimizer has {len(self.param_groups)}"
            )
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"state_dict: parameter group {i} has {len(saved['params'])} parameters, "
                    f"the optimizer's group {i} has {len(group['params'])}"
                )

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            lines.append(f"Parameter Group {i}")
            lines += [f"    {k}: {group[k]}" for k in sorted(group) if k != "params"]
        return "\n".join(lines + [")"])


BLOCK_ELEMENTS = 1 << 18  # a block of an update, with its temporaries, stays in a core's cache
Update = tuple[Callable[..., None], tuple[Any, ...]]


def run_updates(updates: list[Update]) -> None:
    """Run every ``kernel(*arrays)`` of ``updates`` (elementwise, in place, on arrays of one
    shape) on blocks of the arrays' first axis, all blocks of all parameters on all cores.

    An element goes through the same operations whatever the blocks, so results equal one
    call on the whole arrays.
    """
    if not updates:
        return
    blocks = []
    for kernel, arrays in updates:
        first = arrays[0]
        if first.ndim == 0:
            blocks.append((kernel, arrays, Ellipsis))
            continue
        rows = max(1, BLOCK_ELEMENTS // max(first.size // max(first.shape[0], 1), 1))
        blocks += [(kernel, arrays, block) for block in threads.chunks(first.shape[0], rows)]
    xp = get_array_module(updates[0][1][0])
    sizes = sum(arrays[0].size for _, arrays in updates)
    threads.run_chunks(xp, blocks, lambda block: block[0](*(a[block[2]] for a in block[1])), work=(len(updates), sizes))


def mark_updated(param: Tensor) -> None:
    """Count an in-place update of ``param.array`` in its version counter.

    Optimizers write ``param.array`` directly (fast, no graph), which autograd cannot
    see; bumping the counter makes a backward through a graph that saved the old
    value raise, as PyTorch's does, instead of giving silently wrong gradients.
    """
    param._version[0] += 1


def _ordered(params: Iterable[Any]) -> list[Any]:
    if isinstance(params, (set, frozenset)):
        raise TypeError(
            "params: expected an ordered collection of Tensors, got a set, whose order "
            "changes between runs; use a list"
        )
    return list(params)


def _is_array(value: Any) -> bool:
    return isinstance(value, get_array_module(value).ndarray)


def _export(value: Any) -> Any:
    """A state value as it appears in a state dict: arrays become Tensor copies."""
    if _is_array(value):
        return Tensor(value.copy())
    return copy.deepcopy(value)


def _import(value: Any, param: Tensor, index: int, name: str) -> Any:
    """A state-dict value as the optimizer keeps it, checked against its parameter."""
    if name == "step":  # a counter, never cast to the parameter's dtype
        return int(value.item() if hasattr(value, "item") else value)
    array = value.array if isinstance(value, Tensor) else value
    if not _is_array(array):
        return copy.deepcopy(value)
    if array.ndim == 0 and param.ndim != 0:  # a scalar (NAdam's mu_product, ASGD's eta), saved by PyTorch as a tensor
        return float(array)
    if tuple(array.shape) != tuple(param.shape):
        raise ValueError(
            f"state_dict: state[{index}][{name!r}] has shape {tuple(array.shape)}, "
            f"expected the parameter's shape {tuple(param.shape)}"
        )
    array = to_device(array, device_of(param.array))
    if array.dtype.kind == "f":
        return array.astype(param.array.dtype, copy=True)
    return array.copy()

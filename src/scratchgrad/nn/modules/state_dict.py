"""State dicts: ``state_dict`` and ``load_state_dict`` with PyTorch's keys, order and errors.

``Module`` inherits these methods; they are kept here so that module.py stays about the
module tree itself. Values loaded may be scratchgrad Tensors, NumPy arrays or torch tensors
(read through ``.detach().cpu().numpy()``, without importing torch).
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple
from typing import Any, Mapping

from ...grad_mode import no_grad
from ...backend import to_device
from ...tensor import Tensor
from ..parameter import is_lazy


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: ``(missing_keys, unexpected_keys)``."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _array_from(value: Any) -> Any:
    """The array behind a scratchgrad Tensor, a NumPy/CuPy array or a torch tensor (duck-typed)."""
    if isinstance(value, Tensor):
        return value.array
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        return value.detach().cpu().numpy()
    if hasattr(value, "shape") and hasattr(value, "dtype"):
        return value
    return None


class StateDictMixin:
    """``state_dict``/``load_state_dict`` for ``Module`` (which provides ``_parameters``,
    ``_buffers``, ``_modules`` and ``named_modules``)."""

    def _local_state(self) -> dict[str, Tensor]:
        """This module's own parameters and persistent buffers (not None), in registration order."""
        persistent = [(k, v) for k, v in self._buffers.items() if k not in self._non_persistent_buffers_set]
        return {k: v for k, v in [*self._parameters.items(), *persistent] if v is not None}

    def _save_to_state_dict(self, destination: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        for name, value in self._local_state().items():
            destination[prefix + name] = value if keep_vars or is_lazy(value) else value.detach()

    def state_dict(self, destination: Any = None, prefix: str = "", keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name (PyTorch's keys), detached unless
        ``keep_vars``; the tensors share memory with the module."""
        destination = OrderedDict() if destination is None else destination
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, module in self._modules.items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars)
        return destination

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str]) -> None:
        """Copy this module's own entries (keys starting with ``prefix``) from ``state_dict``."""
        local_state = self._local_state()
        for name, target in local_state.items():
            key = prefix + name
            if key not in state_dict:
                missing_keys.append(key)
                continue
            error = _copy_into(target, state_dict[key], key)
            if error:
                error_msgs.append(error)
        for key in state_dict:
            if key.startswith(prefix):
                first, *rest = key[len(prefix):].split(".", 1)
                if (rest and first not in self._modules) or (not rest and first not in local_state):
                    unexpected_keys.append(key)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> _IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` into this module, in place.

        Values may be scratchgrad Tensors, NumPy arrays or torch tensors; they are cast to
        each parameter's dtype and copied into its memory. A shape mismatch always raises;
        with ``strict`` missing or unexpected keys raise too.

        Returns:
            ``(missing_keys, unexpected_keys)`` as a named tuple.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        state_dict = OrderedDict(state_dict)
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        for prefix, module in self.named_modules(remove_duplicate=False):
            prefix = prefix + "." if prefix else ""
            local = OrderedDict((k, v) for k, v in state_dict.items() if k.startswith(prefix))
            module._load_from_state_dict(local, prefix, missing, unexpected, errors)
        if strict and unexpected:
            errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in unexpected)))
        if strict and missing:
            errors.insert(0, "Missing key(s) in state_dict: {}. ".format(", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(type(self).__name__, "\n\t".join(errors)))
        return _IncompatibleKeys(missing, unexpected)


def _copy_into(target: Tensor, value: Any, key: str) -> str | None:
    """Copy ``value`` into ``target``'s memory (cast to its dtype); an error message on failure."""
    array = _array_from(value)
    if array is None:
        return f'While copying the parameter named "{key}", expected a Tensor, a NumPy array or a torch tensor from checkpoint but received {type(value)}'
    if tuple(array.shape) != tuple(target.shape):
        return (f"size mismatch for {key}: copying a param with shape {tuple(array.shape)} from checkpoint, "
                f"the shape in current model is {tuple(target.shape)}.")
    with no_grad():
        target.copy_(Tensor(to_device(array, target.device)))
    return None

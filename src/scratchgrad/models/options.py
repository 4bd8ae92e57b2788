"""What a model's options mean: one spec per option, beside its default in the builder's signature.

A builder's options are its keyword-only arguments with defaults, less the dataset-given
ones (``in_channels``, ``num_classes``, ``input_size``). The signature owns the default; the
``@options`` decorator adds what the lab needs to know about each option, so that no lab
module knows a model's option names:

    @options({"BatchNorm": "yes"}, width=WIDTH)
    def resnet18(nn, *, in_channels=3, num_classes=10, input_size=32, width=1.0): ...

- ``help``: the line ``scratchgrad config show`` prints;
- ``kind``: ``"dropout"`` (a probability that ``scratchgrad compare`` sets to 0), ``"flag"``,
  ``"multiplier"`` or ``"value"``;
- ``column``: the report column that shows the option (``"model"`` appends it to the model's
  name); the decorator's positional table gives the columns a model fixes (ResNet always
  has BatchNorm);
- bounds (``minimum``, ``positive``, ``below``, ``maximum``): checked by the config before the
  model is built.

A builder without the decorator (a user's) has plain options: no help, kind ``"value"``.
"""
from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DATA_OPTIONS = ("in_channels", "num_classes", "input_size")  # given by the dataset, not by a config
KINDS = ("value", "flag", "dropout", "multiplier")
OPTION_TYPES = (bool, int, float, str)


@dataclass(frozen=True)
class Option:
    """One model option: its meaning, and (once read from the builder's signature) its default.

    Args:
        help: one line for users.
        kind: one of ``KINDS``.
        column: the report column that shows it; None: not shown.
        minimum, positive, below, maximum: bounds of a number (inclusive, > 0, exclusive, inclusive).
        default: filled in from the builder's signature by :func:`option_specs`.
    """

    help: str = ""
    kind: str = "value"
    column: str | None = None
    minimum: float | None = None
    positive: bool = False
    below: float | None = None
    maximum: float | None = None
    default: Any = None

    def bounds(self) -> dict[str, Any]:
        """The bounds as keyword arguments of the config's ``Key``."""
        return {"minimum": self.minimum, "positive": self.positive, "below": self.below, "maximum": self.maximum}

    def show(self, value: Any) -> str:
        """``value`` as a report cell: yes/no for a flag, – for no dropout, ×w for a multiplier other than 1."""
        if self.kind == "flag":
            return "yes" if value else "no"
        if self.kind == "dropout":
            return f"{value:g}" if value else "–"
        if self.kind == "multiplier":
            return f"×{value:g}" if value != 1 else ""
        return str(value)


WIDTH = Option("multiplier of the channels (e.g. 0.25 for CPU-sized runs)", kind="multiplier", column="model",
               positive=True, maximum=4.0)  # a width of 1000 would allocate tens of GiB


def dropout_option(where: str, column: str) -> Option:
    return Option(f"p of a Dropout {where} (0: none)", kind="dropout", column=column, minimum=0.0, below=1.0)


def options(fixed_columns: dict[str, str] | None = None, /, **specs: Option) -> Callable[[Any], Any]:
    """Decorate a builder with the specs of its options and the report columns it fixes.

    Raises:
        TypeError: a spec names no keyword-only argument of the builder, or has an unknown kind.
    """

    def decorate(builder: Any) -> Any:
        defaults = _keyword_defaults(builder)
        for name, spec in specs.items():
            if name not in defaults:
                raise TypeError(f"options: {builder.__name__} has no keyword-only option {name!r}")
            if spec.kind not in KINDS:
                raise TypeError(f"options: {name}.kind must be one of {KINDS}, got {spec.kind!r}")
        builder.option_specs, builder.fixed_columns = dict(specs), dict(fixed_columns or {})
        return builder

    return decorate


def option_specs(builder: Any) -> dict[str, Option]:
    """Every option of ``builder`` (signature order) with its default, from its specs where it has them.

    Raises:
        ValueError: a default whose type a config cannot hold (the config takes its type from it).
    """
    specs = getattr(builder, "option_specs", {})
    result = {}
    for name, default in _keyword_defaults(builder).items():
        if name in DATA_OPTIONS:
            continue
        if not isinstance(default, OPTION_TYPES):
            raise ValueError(f"option {name} of {getattr(builder, '__name__', builder)!r}: its default {default!r} "
                             f"gives a config no type; expected a bool, int, float or str default")
        result[name] = dataclasses.replace(specs.get(name, Option()), default=default)
    return result


def report_columns(builder: Any, values: dict[str, Any]) -> dict[str, str]:
    """The report cells ``values`` (a model table) fill: {column: text}, the builder's fixed ones first."""
    cells = dict(getattr(builder, "fixed_columns", {}))
    for name, spec in option_specs(builder).items():
        if spec.column is not None:
            cells[spec.column] = spec.show(values.get(name, spec.default))
    return cells


def _keyword_defaults(builder: Any) -> dict[str, Any]:
    """{name: default} of the keyword-only arguments that have a default."""
    parameters = inspect.signature(builder).parameters.values()
    return {p.name: p.default for p in parameters if p.kind is p.KEYWORD_ONLY and p.default is not p.empty}

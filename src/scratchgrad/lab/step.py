"""One training step, the same for the trainer, ``scratchgrad compare`` and the benchmarks.

It works on either engine's objects (a torch or a scratchgrad model, optimizer and
tensors): it only calls them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any


def train_step(model: Any, optimizer: Any, criterion: Callable[[Any, Any], Any], inputs: Any, targets: Any,
               before_backward: Callable[[Any], None] | None = None,
               before_update: Callable[[], None] | None = None) -> tuple[Any, Any]:
    """Forward, loss, zero_grad, backward, optimizer step; returns (loss, logits), both still tensors.

    Args:
        model, optimizer: of the same engine.
        criterion: ``criterion(logits, targets)`` gives the loss (e.g. cross-entropy).
        inputs, targets: tensors on the model's device.
        before_backward: called with the loss before anything changes: it may raise to skip
            the update (the trainer stops on a non-finite loss with its weights intact).
        before_update: called between the backward and the update, when the gradients are
            there (``compare`` reads them).

    Shape:
        inputs (N, ...), targets as ``criterion`` takes them; logits (N, classes).
    """
    logits = model(inputs)
    loss = criterion(logits, targets)
    if before_backward is not None:
        before_backward(loss)
    optimizer.zero_grad()
    loss.backward()
    if before_update is not None:
        before_update()
    optimizer.step()
    return loss, logits

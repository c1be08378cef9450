"""Peak activation memory from tensor lifetimes: what a forward pass holds at its worst.

Pure Python. A forward pass runs its layers in order (the *schedule*); each
step makes one tensor from tensors made before. A tensor is live from the
step that makes it until the last step that reads it (a network output until
the end); the peak is the largest sum of live tensors over the schedule. The
input is a tensor made at step 0. Every output is counted as a new tensor
(an in-place ReLU is not folded into its input), and a layer's workspace
(im2col buffers, saved indices) is not counted: this is the memory of the
activations themselves, not an allocator's.

:func:`peak_live` takes the steps of any graph (ONNX reads its own);
:func:`row_steps` makes them from a network summary's rows, whose indices
say where a residual block's branches start and join.

Examples
--------
>>> steps = [Step("x", 10, ()), Step("a", 20, ("x",)), Step("b", 5, ("a",))]
>>> peak_live(steps)
30
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["Step", "peak_live", "row_steps"]


@dataclass(frozen=True)
class Step:
    """One step of a schedule: the tensor it makes, its size in values, the tensors it reads."""

    name: str
    size: int
    inputs: tuple[str, ...]


def peak_live(steps: Sequence[Step], outputs: Iterable[str] | None = None) -> int:
    """Return the largest sum of live tensors over the schedule.

    Parameters
    ----------
    steps : sequence of Step
        In the order they run; a name read before it is made (a weight, a
        constant) is not an activation and is ignored.
    outputs : iterable of str, optional
        The network's outputs, live until the end; the last step's tensor
        when not given.

    Examples
    --------
    A residual block: the block's input ``x`` stays live while the body runs.

    >>> peak_live([Step("x", 4, ()), Step("b1", 4, ("x",)), Step("b2", 4, ("b1",)),
    ...            Step("y", 4, ("b2", "x"))])
    12
    """
    if not steps:
        return 0
    made = {step.name: t for t, step in enumerate(steps)}
    last = dict(made)  # a tensor nothing reads lives at its own step only
    for t, step in enumerate(steps):
        for name in step.inputs:
            if name in made:
                last[name] = max(last[name], t)
    end = len(steps) - 1
    for name in [steps[-1].name] if outputs is None else outputs:
        if name in made:
            last[name] = end
    change = [0] * (len(steps) + 1)  # + at the step a tensor is made, − after its last read
    for step in steps:
        change[made[step.name]] += step.size
        change[last[step.name] + 1] -= step.size
    peak = live = 0
    for delta in change[:-1]:
        live += delta
        peak = max(peak, live)
    return peak


def row_steps(rows: Sequence[Any], input_size: int) -> list[Step]:
    """Return the schedule of a summary's leaf rows, branches joined where they add.

    Rows are :class:`~convcli.arithmetic.summary.LayerRow` values in the
    order :func:`~convcli.arithmetic.network.analyze_network` writes them: a
    block row is followed by its body (``5.1``...), its shortcut (``5.s1``...),
    its join (``5.+``) and the layers after it (``5.p1``...); a group's
    layers follow the group's row.
    """
    children: dict[str, list[Any]] = {}
    open_rows: list[Any] = []
    for row in rows:
        while open_rows and open_rows[-1].depth >= row.depth:
            open_rows.pop()
        children.setdefault(open_rows[-1].index if open_rows else "", []).append(row)
        if not row.leaf:
            open_rows.append(row)
    steps = [Step("input", input_size, ())]
    _run(children, children.get("", []), "input", steps)
    return steps


def _run(children: dict[str, list[Any]], rows: Sequence[Any], src: str, steps: list[Step]) -> str:
    """Add ``rows``' steps, run in order from tensor ``src``; the name of the last tensor made."""
    for row in rows:
        if row.leaf:
            steps.append(Step(row.index, row.output_size, (src,)))
            src = row.index
            continue
        kids = children.get(row.index, [])
        if row.kind == "seq":
            src = _run(children, kids, src, steps)
            continue
        part = {kid.index: kid.index[len(row.index) + 1 :][:1] for kid in kids}
        body = _run(children, [k for k in kids if part[k.index].isdigit()], src, steps)
        side = _run(children, [k for k in kids if part[k.index] == "s"], src, steps)
        join = [k for k in kids if part[k.index] == "+"]
        if join:
            steps.append(Step(join[0].index, join[0].output_size, (body, side)))
            src = join[0].index
        src = _run(children, [k for k in kids if part[k.index] == "p"], src, steps)
    return src

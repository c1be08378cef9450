"""``convcli learn``: recover a kernel from an input and its filtered output."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from ..output import is_terminal
from ..suffixes import PIXEL_SUFFIXES
from .options import lasting_output, pad_mode_option
from .params import INT_PAIR, PADDING, FiniteFloat

if TYPE_CHECKING:
    import numpy as np
    from rich.progress import Progress

    from ..teaching.learn import LearnResult

#: ``callback(step, loss, weights)`` after each gradient step.
StepCallback = Callable[[int, float, "np.ndarray"], None]


def load_operand(spec: str, hint: str) -> np.ndarray:
    """Read an image or a matrix as a (C, H, W) float64 array; usage error (exit 2) if unreadable.

    Image files are read as images, channels moved first; .npy arrays are
    tensors as every command writes them, (H, W) or (C, H, W); inline
    matrices and text/JSON files as in `convcli conv`.
    """
    import numpy as np

    from ..errors import KernelError, ShapeError
    from ..images.io import read_image
    from ..teaching.matrices import parse_matrix
    from .options import is_missing

    text = spec.strip()
    try:
        if text.lower().endswith(PIXEL_SUFFIXES):
            if is_missing(text):  # a bad argument (exit 2), as for every command's input
                raise click.BadParameter(f"{text}: no such file", param_hint=hint)
            image = read_image(text)
            arr = image.pixels.astype(np.float64)
            arr = arr[None] if arr.ndim == 2 else np.moveaxis(arr, -1, 0)
        else:
            arr = parse_matrix(text, hint)
    except (ShapeError, KernelError) as exc:  # a bad value; unreadable files fail with exit 1
        raise click.BadParameter(str(exc), param_hint=hint) from None
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise click.BadParameter(
            f"expected a matrix (H, W), an image or a (C, H, W) tensor, got shape {arr.shape}",
            param_hint=hint,
        )
    return arr


def _log_line(step: int, steps: int, loss: float) -> str:
    """One progress report: ``step  K: loss L``, the step right-aligned to the width of ``steps``."""
    return f"step {step:>{len(str(steps))}}: loss {loss:.6g}"


def _progress(
    steps: int, every: int | None, terminal: bool
) -> tuple[Progress | None, StepCallback | None]:
    """Make the gd progress on stderr: ``(display, callback)``, either of them None.

    On a terminal, a rich bar of the loss, with a line every ``every`` steps
    (every tenth of the run when not given). Elsewhere (a pipe, a file, a
    log) a plain line every ``every`` steps when asked, nothing otherwise.
    """
    if not terminal:
        if every is None:
            return None, None
        k = every

        def log(step: int, loss: float, weights: np.ndarray) -> None:
            if step % k == 0 or step == steps:
                click.echo(_log_line(step, steps, loss), err=True)

        return None, log

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    from ..output import stderr_console

    every = every or max(1, steps // 10)
    console = stderr_console()
    progress = Progress(
        TextColumn("gradient descent"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("loss {task.fields[loss]}"),
        console=console,
        transient=True,
    )

    def callback(step: int, loss: float, weights: np.ndarray) -> None:
        progress.update(task, completed=step, loss=f"{loss:.6g}")
        if step % every == 0 or step == steps:
            progress.console.print(_log_line(step, steps, loss), highlight=False)

    task = progress.add_task("gd", total=steps, loss="…")
    return progress, callback


@click.command("learn")
@click.argument("input_", metavar="INPUT")
@click.argument("target", metavar="TARGET")
@click.option("--size", type=INT_PAIR, required=True, help="Kernel size to learn: N or HxW.")
@click.option(
    "--method",
    "-m",
    type=click.Choice(("lstsq", "gd"), case_sensitive=False),
    default="lstsq",
    show_default=True,
    help="lstsq: exact least squares over the im2col patch matrix; gd: gradient descent.",
)
@click.option(
    "--steps",
    "-n",
    type=click.IntRange(min=1),
    default=10,
    show_default=True,
    help="gd: number of gradient steps.",
)
@click.option(
    "--lr",
    type=FiniteFloat(min=0, min_open=True),
    default=None,
    help="gd: learning rate, on the loss Σ(ŷ − y)² (the textbook's); it must be below "
    "2/λmax of the loss's Hessian 2·AᵀA (A the patch matrix), checked before the first "
    "step [default: 2/(λmin + λmax), the fastest fixed rate].",
)
@click.option(
    "--seed", type=int, default=0, show_default=True, help="gd: seed of the random start."
)
@click.option(
    "--every",
    type=click.IntRange(min=1),
    default=None,
    help="gd: print the loss every K steps on stderr, a terminal or not [default: every "
    "steps/10 on a terminal, none elsewhere].",
)
@click.option("--bias", is_flag=True, help="Learn a constant added to the output, too.")
@click.option(
    "--convolve", is_flag=True, help="Print the kernel in convolution form (for --convolve)."
)
@click.option(
    "--stride",
    "-s",
    type=INT_PAIR,
    default="1",
    show_default=True,
    help="Stride the target was made with.",
)
@click.option(
    "--padding",
    "-p",
    type=PADDING,
    default=None,
    help="Padding the target was made with [default: same when the target has the "
    "input's size, else valid].",
)
@click.option(
    "--dilation",
    "-d",
    type=INT_PAIR,
    default="1",
    show_default=True,
    help="Dilation the target was made with.",
)
@pad_mode_option(help="How that padding was filled (filter's default: reflect).")
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(("text", "json"), case_sensitive=False),
    default="text",
    show_default=True,
    help="Print the result as text or JSON (kernel, bias, loss, history).",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False),
    callback=lasting_output,
    help="Write the kernel to this file, in the text format `convcli filter -k FILE` reads.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
@click.option(
    "--quiet",
    "-q",
    is_flag=True,
    help="No progress display or notes on stderr (wins over --every).",
)
def learn_cmd(
    input_: str,
    target: str,
    size: tuple[int, int],
    method: str,
    steps: int,
    lr: float | None,
    seed: int,
    every: int | None,
    bias: bool,
    convolve: bool,
    stride: tuple[int, int],
    padding: Any,
    dilation: tuple[int, int],
    pad_mode: str,
    fmt: str,
    output: str | None,
    overwrite: bool,
    quiet: bool,
) -> None:
    """Recover the kernel that turns INPUT into TARGET.

    INPUT and TARGET are images (TARGET typically a raw .npy from
    `convcli filter ... -o out.npy`) or numeric matrices as in `convcli conv`.
    A smaller TARGET means valid correlation; one of the input's size means
    'same' padding, filled as --pad-mode says (reflect, like `filter`).
    Every target cell is one equation in the kernel's weights; lstsq solves
    them exactly, gd takes plain gradient steps on the sum of squared errors
    (its progress on stderr: a bar on a terminal, a line every --every steps
    anywhere). A --lr at or above the stable bound 2/λmax (λmax the largest
    eigenvalue of the loss's Hessian 2·AᵀA, A the im2col patch matrix) is
    refused before the first step. Prints the kernel (and bias) and the
    final loss.

    \N{BACKSPACE}
    Example:
      convcli learn "1 1 0 0 1 1; 1 1 0 0 1 1" "0 1 0 -1 0; 0 1 0 -1 0" --size 1x2
      convcli filter sample_images/camera.png -k sobel-x -o gx.npy
      convcli learn sample_images/camera.png gx.npy --size 3 -o sobel.txt
      convcli learn x.txt y.txt --size 1x2 --method gd --lr 0.03 --steps 10
    """
    from ..teaching.learn import UnstableLearningRate, learn_kernel

    if output is not None and os.path.lexists(output) and not overwrite:
        raise click.ClickException(f"{output} exists; pass --overwrite to replace it")
    if input_.strip() == "-" and target.strip() == "-":
        raise click.UsageError("only one of INPUT and TARGET can be '-' (standard input)")
    method = method.lower()
    x = load_operand(input_, "INPUT")
    y = load_operand(target, "TARGET")
    if not quiet and target.strip().lower().endswith(PIXEL_SUFFIXES):
        click.echo(
            f"note: {target} holds pixels, whose values were clipped or folded into 0..255 when "
            "it was written; for an exact kernel give the raw filter output "
            "(convcli filter ... -o target.npy)",
            err=True,
        )

    progress, callback = None, None
    if method == "gd" and not quiet:
        progress, callback = _progress(steps, every, is_terminal(sys.stderr))
    if progress is not None:
        progress.start()
    try:
        result = learn_kernel(
            x,
            y,
            size,
            method=method,
            bias=bias,
            convolve=convolve,
            stride=stride,
            padding=padding,
            dilation=dilation,
            pad_mode=pad_mode.lower(),
            steps=steps,
            lr=lr,
            seed=seed,
            callback=callback,
        )
    except UnstableLearningRate as exc:
        raise click.BadParameter(str(exc), param_hint="--lr") from None
    finally:
        if progress is not None:
            progress.stop()

    form = "convolution" if convolve else "correlation"
    _print_result(result, form, fmt.lower() == "json")
    if output is not None:
        _write_kernel(result, form, input_, target, output, overwrite)
        if not quiet:
            click.echo(f"kernel written to {output}", err=True)


def _print_result(result: LearnResult, form: str, as_json: bool) -> None:
    """Print the learned kernel, bias and loss, as text or JSON, on standard output."""
    import numpy as np

    from ..output import to_json
    from ..teaching.matrices import format_matrix

    if as_json:
        click.echo(
            to_json(
                {
                    "kernel": result.kernel.tolist(),
                    "bias": result.bias,
                    "form": form,
                    "method": result.method,
                    "loss": result.loss,
                    "mse": result.mse,
                    "equations": result.equations,
                    "padding": [list(p) for p in result.padding],
                    "history": result.history,
                    "lr": result.lr,
                    "max_lr": result.max_lr,
                }
            )
        )
        return
    kh, kw = result.kernel.shape
    click.echo(f"kernel {kh}×{kw} ({form} form, {result.method}):")
    shown = result.kernel.copy()
    # rounding noise (1e-16 next to weights of 1) is shown as the 0 it is
    shown[np.abs(shown) <= 1e-9 * np.abs(shown).max()] = 0.0
    click.echo(format_matrix(shown, precision=6))
    if result.bias is not None:
        click.echo(f"bias: {result.bias:.6g}")
    if result.method == "gd":
        click.echo(f"learning rate: {result.lr:.6g} (stable below {result.max_lr:.6g})")
        click.echo(f"loss at the start: {result.history[0]:.6g}")
    click.echo(
        f"loss: {result.loss:.6g} (sum of squared errors over {result.equations} cells; "
        f"mean {result.mse:.3g})"
    )


def _write_kernel(
    result: LearnResult, form: str, input_: str, target: str, output: str, overwrite: bool
) -> None:
    """Write the learned kernel as a text file ``convcli filter -k FILE`` reads."""
    import numpy as np

    from ..kernels.files import format_kernel_text
    from ..kernels.kernel import Kernel
    from ..teaching.matrices import write_output

    name = os.path.splitext(os.path.basename(output))[0] or "learned"
    # written as shown: rounding noise below 1e-10 is dropped
    weights = np.round(result.kernel, 10) + 0.0
    kernel = Kernel(
        name,
        weights,
        f"learned by convcli learn ({result.method}, {form} form) from {input_} and "
        f"{target}; loss {result.loss:.6g}",
        offset=result.bias or 0.0,
    )
    write_output(output, format_kernel_text(kernel).encode("utf-8"), overwrite=overwrite)

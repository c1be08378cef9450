"""User kernels: inline matrices and kernel files in, kernel text files out.

Four ways to get a :class:`~convcli.kernels.kernel.Kernel` from what a
person types:

* :func:`parse_kernel` reads an inline matrix (``"1,0,-1;2,0,-2;1,0,-1"``,
  ``"[[1,-1]]"`` or ImageMagick's ``"3x3: ..."``);
* :func:`load_kernel` reads a file (text/CSV, ``.npy``, ``.json``, libvips ``.mat``);
* :func:`resolve_kernel` picks a file, an inline matrix or a built-in name
  (:func:`convcli.kernels.catalogue.get_kernel`), as ``--kernel`` does;
* :func:`format_kernel_text` writes a kernel back as text that
  :func:`load_kernel` reads exactly.

:func:`parse_number_rows` and :func:`looks_like_matrix` are the row parser
and the "is this a matrix?" test, shared with the matrix reader of
``convcli conv`` (:mod:`convcli.teaching.matrices`).

The readers live in :mod:`.inline` (matrices typed inline) and
:mod:`.loading` (kernel files); this module chooses among them and the
built-ins, writes kernels back, and keeps every name importable from here.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from ..errors import KernelError
from ..suffixes import KERNEL_SUFFIXES
from .catalogue import get_kernel
from .inline import looks_like_matrix, parse_kernel, parse_number_rows
from .kernel import Kernel

if TYPE_CHECKING:
    from .loading import load_kernel
    from .npy import load_npy_bytes

__all__ = [
    "format_kernel_text",
    "load_kernel",
    "load_npy_bytes",
    "looks_like_matrix",
    "parse_kernel",
    "parse_number_rows",
    "resolve_kernel",
]


def resolve_kernel(spec: str) -> Kernel:
    """Turn a ``--kernel`` value into a :class:`Kernel`: file, matrix or name.

    In order: an existing file is loaded with :func:`load_kernel`; so is a
    value with a path separator or a kernel-file extension
    (:data:`convcli.suffixes.KERNEL_SUFFIXES`: ``.txt``, ``.csv``, ``.json``,
    ``.npy``, ``.tsv``, ``.dat``, ``.mat``, ``.kernel``), so that a missing
    file says "cannot read"; a value that starts like a number or ``[``
    (``"1,0,-1;..."``, ``"[[1,-1]]"``, ``"3x3: ..."``) is parsed with
    :func:`parse_kernel`; anything else is a built-in name for
    :func:`get_kernel`.

    Examples
    --------
    >>> resolve_kernel("laplacian").weights[1].tolist()
    [1.0, -4.0, 1.0]
    >>> resolve_kernel("[[1,-1]]").shape
    (1, 2)
    """
    text = spec.strip()
    if not text:
        raise KernelError("empty kernel: give a name, a matrix or a file")
    if (
        os.path.isfile(text)
        or "/" in text
        or os.sep in text
        or text.lower().endswith(KERNEL_SUFFIXES)
    ):
        from .loading import load_kernel  # files only: a name costs no file readers

        return load_kernel(text)
    if looks_like_matrix(text):
        return parse_kernel(text)
    return get_kernel(text)


def _format_number(value: float) -> str:
    if value.is_integer() and abs(value) < 2**53:
        return str(int(value))
    return repr(float(value))


def format_kernel_text(kernel: Kernel) -> str:
    """Write ``kernel`` as text that :func:`load_kernel` reads back exactly.

    A ``# name: description`` header (and ``# source:`` when known), an
    ``offset=`` line when the offset is not 0, then one line per row with
    values separated by ``", "`` at full (repr) precision.

    Raises
    ------
    KernelError
        For a gradient magnitude, which is two kernels, not one matrix.

    Examples
    --------
    >>> print(format_kernel_text(get_kernel("edge-x")), end="")
    # edge-x: horizontal difference [[1, −1]]: positive at a bright→dark step left to right
    # source: the textbook's finite difference (= diff:1,x); even width, anchored on the left tap
    1, -1
    """
    if kernel.is_magnitude:
        raise KernelError(
            f"kernel {kernel.name!r} is the magnitude of two kernels and has no single "
            "matrix; write its parts (e.g. sobel-x and sobel-y) instead"
        )
    lines = [f"# {kernel.name}: {kernel.description}".rstrip()]
    if kernel.source:
        lines.append(f"# source: {kernel.source}")
    if kernel.offset:
        lines.append(f"offset={kernel.offset!r}")
    for row in kernel.weights:
        lines.append(", ".join(_format_number(float(v)) for v in row))
    return "\n".join(line.replace("\n", " ") for line in lines) + "\n"


def __getattr__(name: str) -> Any:
    # the file readers, kept importable from here, load on first use (issue 22)
    if name == "load_kernel":
        from .loading import load_kernel

        return load_kernel
    if name == "load_npy_bytes":
        from .npy import load_npy_bytes

        return load_npy_bytes
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

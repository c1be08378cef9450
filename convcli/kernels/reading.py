"""Reading a file whole, bounded by the resource policy (the file side of :mod:`.limits`).

:mod:`convcli.arithmetic.limits` holds the numbers and reads no file; the
kernel files, matrices and specs read whole come through here.

Examples
--------
>>> import os, pathlib, tempfile
>>> path = os.path.join(tempfile.mkdtemp(), "k.txt")
>>> _ = pathlib.Path(path).write_text("1 2")
>>> read_bounded(path, "kernel file")
b'1 2'
"""

from __future__ import annotations

import os

from ..arithmetic.limits import MAX_READ_BYTES, bytes_text
from ..errors import LimitError

__all__ = ["read_bounded"]


def read_bounded(path: str | os.PathLike, what: str, limit: int = MAX_READ_BYTES) -> bytes:
    """All of a file's bytes, refusing one over ``limit`` bytes before reading it all.

    Works for files whose size ``stat`` does not know (``/dev/zero``, a FIFO):
    at most ``limit + 1`` bytes are ever read. OSError propagates.
    """
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise LimitError(
            f"{what}: more than {limit} bytes ({bytes_text(limit)}); the limit for a file "
            "convcli reads whole is 256 MiB"
        )
    return data

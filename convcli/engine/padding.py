"""Pad modes: their names, their index maps, and padding an array.

The engine never builds a padded image in full. An *index map* sends every
position of a padded axis to the input index it copies (``-1`` for the
constant of ``zeros`` mode); :func:`gather` then reads any block of the
padded input through two maps, copying the interior with one slice and
only the border cells through the maps. :func:`pad` is the same on the
whole array.

Pad modes
---------
One vocabulary, translated explicitly (on ``a b c d`` padded by 3):

=============  ===========================  ==========  =============  ==============  ===========
convcli        pattern                      numpy.pad   scipy.ndimage  OpenCV          PyTorch
=============  ===========================  ==========  =============  ==============  ===========
``zeros``      ``0 0 0 | a b c d | 0 0 0``  constant    constant       CONSTANT        zeros
``reflect``    ``d c b | a b c d | c b a``  reflect     mirror         REFLECT_101     reflect
``symmetric``  ``c b a | a b c d | d c b``  symmetric   reflect        REFLECT         --
``replicate``  ``a a a | a b c d | d d d``  edge        nearest        REPLICATE       replicate
``circular``   ``b c d | a b c d | a b c``  wrap        wrap           WRAP            circular
=============  ===========================  ==========  =============  ==============  ===========

Reflection keeps going when the padding is wider than the input, as
numpy's does (PyTorch refuses). ``zeros`` pads with ``pad_value``
(default 0).
"""

from __future__ import annotations

import numpy as np

from ..arithmetic.limits import check_padded_axis
from ..arithmetic.sizes import PaddingSpec, resolve_padding
from ..errors import ShapeError
from .arrays import as_numeric

__all__ = [
    "PAD_MODES",
    "PAD_MODE_ALIASES",
    "gather",
    "index_map",
    "longest_run",
    "normalize_pad_mode",
    "pad",
]

#: convcli pad mode -> (numpy.pad mode, scipy.ndimage mode)
PAD_MODES: dict[str, tuple[str, str]] = {
    "zeros": ("constant", "constant"),
    "reflect": ("reflect", "mirror"),
    "symmetric": ("symmetric", "reflect"),
    "replicate": ("edge", "nearest"),
    "circular": ("wrap", "wrap"),
}

#: Accepted alternative names. ``mirror`` is deliberately absent: it means
#: ``reflect`` in scipy but ``symmetric`` in ImageMagick and libvips.
PAD_MODE_ALIASES: dict[str, str] = {
    "zero": "zeros",
    "constant": "zeros",
    "edge": "replicate",
    "wrap": "circular",
}


def normalize_pad_mode(pad_mode: str) -> str:
    """Return the canonical name of ``pad_mode``, or raise a ValueError listing them.

    Examples
    --------
    >>> normalize_pad_mode("edge")
    'replicate'
    """
    if not isinstance(pad_mode, str):
        raise ShapeError(f"`pad_mode` must be a string, got {pad_mode!r}")
    mode = pad_mode.lower()
    mode = PAD_MODE_ALIASES.get(mode, mode)
    if mode not in PAD_MODES:
        known = ", ".join(PAD_MODES)
        hint = " (ambiguous between peers: use reflect or symmetric)" if mode == "mirror" else ""
        raise ShapeError(f"unknown `pad_mode` {pad_mode!r}{hint}; known modes: {known}")
    return mode


def index_map(n: int, before: int, after: int, mode: str) -> np.ndarray:
    """Map each padded position of an axis of length ``n`` to a source index.

    Positions that take the constant value (``zeros`` mode) map to -1.
    The padded length is checked first (:func:`check_padded_axis`).
    """
    check_padded_axis(n, before, after, "padding (--padding, or 'same' for the dilated kernel)")
    i = np.arange(-before, n + after)
    if mode == "zeros":
        return np.where((i >= 0) & (i < n), i, -1)
    if mode == "replicate":
        return np.clip(i, 0, n - 1)
    if mode == "circular":
        return np.mod(i, n)
    if mode == "symmetric":
        j = np.mod(i, 2 * n)
        return np.where(j < n, j, 2 * n - 1 - j)
    # reflect: the edge cell is not repeated; period 2(n - 1)
    if n == 1:
        return np.zeros_like(i)
    j = np.mod(i, 2 * n - 2)
    return np.where(j < n, j, 2 * n - 2 - j)


def longest_run(index: np.ndarray) -> tuple[int, int]:
    """Positions ``[start, stop)`` of the longest stretch of consecutive valid indices.

    Along a padded axis that is the interior, which is copied with one slice;
    only the positions outside it (the border) need gathering.

    Examples
    --------
    >>> longest_run(np.array([1, 0, 1, 2, 3, 2]))
    (1, 5)
    """
    if index.size == 0:
        return (0, 0)
    valid = index >= 0
    follows = np.zeros(index.size, dtype=bool)  # continues the previous position's run
    follows[1:] = valid[1:] & valid[:-1] & (np.diff(index) == 1)
    starts = np.flatnonzero(valid & ~follows)
    if starts.size == 0:
        return (0, 0)
    ends = np.flatnonzero(valid & ~np.append(follows[1:], False)) + 1
    best = int(np.argmax(ends - starts))
    return (int(starts[best]), int(ends[best]))


def gather(
    x: np.ndarray,
    rows: np.ndarray,
    cols: np.ndarray,
    dtype: np.dtype,
    pad_value: float,
    runs: tuple[tuple[int, int], tuple[int, int]] | None = None,
) -> np.ndarray:
    """Return ``x[..., rows, cols]`` in ``dtype``, with -1 indices set to ``pad_value``.

    The interior is copied with one slice (or returned as a view of ``x``
    when nothing needs padding or converting); only the border cells are
    gathered through the index maps. ``runs`` gives the interior stretch
    of each axis when the caller knows it (else the longest one is found).
    """
    (r0, r1), (c0, c1) = runs if runs is not None else (longest_run(rows), longest_run(cols))
    inner = x[..., rows[r0] : rows[r1 - 1] + 1, cols[c0] : cols[c1 - 1] + 1] if r1 and c1 else None
    if inner is not None and r1 - r0 == rows.size and c1 - c0 == cols.size:
        return inner.astype(dtype, copy=False)
    block = np.empty((*x.shape[:-2], rows.size, cols.size), dtype=dtype)
    if inner is not None:
        block[..., r0:r1, c0:c1] = inner
    if r1 - r0 < rows.size:
        edge_r = np.concatenate((np.arange(r0), np.arange(r1, rows.size)))
        block[..., edge_r, :] = x[..., np.maximum(rows[edge_r], 0)[:, None], np.maximum(cols, 0)]
    if c1 - c0 < cols.size and r1 > r0:
        edge_c = np.concatenate((np.arange(c0), np.arange(c1, cols.size)))
        block[..., r0:r1, edge_c] = x[..., rows[r0] : rows[r1 - 1] + 1, np.maximum(cols[edge_c], 0)]
    if (rows < 0).any():
        block[..., rows < 0, :] = pad_value
    if (cols < 0).any():
        block[..., :, cols < 0] = pad_value
    return block


def pad(
    x: np.ndarray,
    padding: PaddingSpec,
    pad_mode: str = "zeros",
    pad_value: float = 0.0,
) -> np.ndarray:
    """Pad the last two axes of ``x``.

    Parameters
    ----------
    x : ndarray
        An array with at least two dimensions; the last two are padded.
    padding : int, pair, 4-tuple or ((top, bottom), (left, right))
        Cells to add; see :func:`convcli.resolve_padding` (words need a
        kernel and are not accepted here).
    pad_mode : str, optional
        ``zeros``, ``reflect``, ``symmetric``, ``replicate`` or ``circular``
        (see the module docstring for the translation to other libraries).
    pad_value : float, optional
        The constant of ``zeros`` mode.

    Returns
    -------
    ndarray
        The padded array, same dtype as ``x``.

    Examples
    --------
    >>> pad(np.array([[1, 2, 3]]), ((0, 0), (2, 2)), "reflect")
    array([[3, 2, 1, 2, 3, 2, 1]])
    >>> pad(np.array([[1, 2, 3]]), ((0, 0), (2, 2)), "symmetric")
    array([[2, 1, 1, 2, 3, 3, 2]])
    """
    x = as_numeric(x, "x")
    if x.ndim < 2:
        raise ShapeError(f"`x` must have at least 2 dimensions, got shape {x.shape}")
    if isinstance(padding, str):
        raise ShapeError("`pad` needs explicit padding, not a word such as 'same'")
    (t, b), (left, r) = resolve_padding(padding, x.shape[-2:], (1, 1))
    mode = normalize_pad_mode(pad_mode)
    if x.shape[-2] == 0 or x.shape[-1] == 0:
        raise ShapeError(f"cannot pad an empty array of shape {x.shape}")
    rows = index_map(x.shape[-2], t, b, mode)
    cols = index_map(x.shape[-1], left, r, mode)
    return gather(x, rows, cols, x.dtype, pad_value)

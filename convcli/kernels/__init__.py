"""Kernels: the :class:`Kernel` value, the built-in catalogue and the file parsers.

- :mod:`convcli.kernels.kernel`: the :class:`~convcli.kernels.kernel.Kernel` value
  (weights in correlation form, provenance, zero-sum and rank-1 tests);
- :mod:`convcli.kernels.catalogue`: the built-in kernels with their provenance,
  :func:`~convcli.kernels.catalogue.get_kernel` and ``KERNELS``;
- :mod:`convcli.kernels.builders`: the named parts and builders of their values;
- :mod:`convcli.kernels.factory`: what a catalogue entry is
  (:class:`~convcli.kernels.factory.KernelFactory`) and how a spec's
  parameters (``size=7,sigma=1.5``) are read;
- :mod:`convcli.kernels.files`: :func:`~convcli.kernels.files.resolve_kernel`
  picks a file, a matrix or a name, as ``--kernel`` does; kernel text files out;
- :mod:`convcli.kernels.inline`: inline matrices (rows, JSON, ImageMagick);
- :mod:`convcli.kernels.loading`: kernel files (text, ``.npy``, ``.json``, libvips);
- :mod:`convcli.kernels.npy`: the one ``.npy`` reader every command uses
  (header checked before the data is allocated, never unpickled);
- :mod:`convcli.kernels.reading`: a file read whole, bounded by the resource
  policy (:func:`~convcli.kernels.reading.read_bounded`).

``convcli.get_kernel("gaussian:sigma=2")``, ``convcli.resolve_kernel(text)``
and ``convcli.KERNELS`` are the public entry points, re-exported from
:mod:`convcli`.
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """Convcli 0.1's ``convcli.kernels.<name>`` (this was one module), with a DeprecationWarning."""
    from ..compat import moved_name

    return moved_name(__name__, name)

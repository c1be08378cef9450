"""The convolution chapter made runnable: steps, learning a kernel, galleries.

- :mod:`.matrices`: small matrices and tensors typed on the command line or
  read from text, JSON and ``.npy`` files, and printed back.
- :mod:`.steps`: every multiply-add of a convolution or pooling, shown;
  :mod:`.transposed` writes a transposed convolution as a correlation.
- :mod:`.learn`: recovering a kernel from an input and its output; :mod:`.learn_system`
  folds its least-squares system band by band.
- :mod:`.gallery`: one contact sheet of an image under many kernels.
- :mod:`.frames`: the frames of a convolution animation, as plain data.
- :mod:`.animate`: conv_arithmetic-style animations of a convolution, written as GIF,
  PNG, WebP or a contact sheet; :mod:`.painter` draws their frames with Pillow;
  :mod:`.svg` draws them as vector SVG.
- :mod:`.explorer`: the same convolution (channels and groups too) as one
  interactive, offline HTML page; :mod:`.explorer_code` writes its code panel,
  :mod:`.explorer_render` its pictures (GIF frames, sheets, notebook PNGs).
"""

from typing import Any


def __getattr__(name: str) -> Any:
    """Convcli 0.1's ``convcli.teaching.<name>`` (this was one module), with a DeprecationWarning."""
    from ..compat import moved_name

    return moved_name(__name__, name)

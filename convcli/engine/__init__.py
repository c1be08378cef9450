"""The engine: arrays in, arrays out (numpy, scipy's FFT and BLAS).

One module per job, from the API down:

- :mod:`.convolution`: ``conv2d``, ``filter2d``, ``im2col``: the API.
- :mod:`.fused`: ``filter2d_pixels``, uint8 pixels filtered into uint8 pixels
  (range clip or abs) in one pass of the native core.
- :mod:`.passes`: ``filter2d_separable``, a separable kernel by its two 1-D
  factors as whole-image passes (a box of any length is a running sum).
- :mod:`.pooling`: ``pool2d``, max/avg/min pooling as PyTorch defines it.
- :mod:`.costs`: the cost model ``strategy="auto"`` picks by, and its constants.
- :mod:`.tilerun`: how a call runs: the strategy chosen, its tiles planned
  and run on threads, BLAS's threads held.
- :mod:`.strategies`: the per-tile strategies by name, ``STRATEGIES``; each
  in its own module: :mod:`.direct`, :mod:`.separable`, :mod:`.transforms`
  (FFT and im2col), sharing :mod:`.tilekit`.
- :mod:`.factors`: rank-1 factors of kernels (``rank_one_factors``) and
  which run as running sums.
- :mod:`.native`: the optional C core (``src/native``) as the ``native``
  strategy, and which variant of it runs (``CONVCLI_ENGINE``, ``CONVCLI_NATIVE_ISA``).
- :mod:`.sparse`: tap by tap, for a dilated span too big for any tile's block.
- :mod:`.fftblocks`: FFT over kernel blocks, for large kernels.
- :mod:`.tiling`: the call's problem, index maps, tiles and tile sizes
  under the memory budget.
- :mod:`.padding`: the pad modes, their index maps, ``pad``.
- :mod:`.threads`: thread counts (``CONVCLI_THREADS`` is read there only),
  the thread pool for tiles and bands, the shared BLAS limit.
- :mod:`.blasinfo`: which BLAS kernel runs, and a note when
  ``OPENBLAS_CORETYPE`` forces a slow one (for diagnostics and benchmarks).
- :mod:`.arrays`: input checks and the compute dtype.

Nothing here reads or writes files; :mod:`convcli.images` does.
"""


def __getattr__(name: str) -> object:
    """Convcli 0.1's ``convcli.engine.<name>`` (this was one module), with a DeprecationWarning."""
    from ..compat import moved_name

    return moved_name(__name__, name)

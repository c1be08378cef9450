"""The engine: arrays in, arrays out (numpy, scipy's FFT and BLAS).

- :mod:`.convolution`: ``conv2d``, ``filter2d``, ``im2col``, ``pad``: pad
  modes and their index maps, tiling under the memory budget, tile threads.
- :mod:`.strategies`: the per-tile strategies (direct, separable, FFT,
  im2col), their cost model for ``strategy="auto"``, and thread counts.
- :mod:`.pooling`: ``pool2d``, max/avg/min pooling as PyTorch defines it.

Nothing here reads or writes files; :mod:`convcli.images` does.
"""

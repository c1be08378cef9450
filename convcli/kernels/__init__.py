"""Kernels: the :class:`Kernel` value, the built-in catalogue and the file parsers.

``convcli.get_kernel("gaussian:sigma=2")``, ``convcli.resolve_kernel(text)``
(a name, an inline matrix or a file) and ``convcli.KERNELS`` are the public
entry points, re-exported from :mod:`convcli`.
"""

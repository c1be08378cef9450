"""``convcli shape``: convolution arithmetic for one layer and whole networks.

- :mod:`.command`: the command and its options;
- :mod:`.checks`: the options checked against each other;
- :mod:`.layer`: one layer (``--in --k``);
- :mod:`.solve`: solving backwards (``--out``);
- :mod:`.network`: networks from ``--arch``, ``--layers`` and ``--spec``;
- :mod:`.model`: a summary rendered (table, JSON, CSV), and model files;
- :mod:`.common`: the width, messages and small texts they share.
"""

from __future__ import annotations

from .command import shape_cmd

__all__ = ["shape_cmd"]

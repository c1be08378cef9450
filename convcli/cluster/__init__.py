"""Running convcli's work on a Dask cluster (the ``cluster`` extra).

Nothing outside the command line imports this package, and the command line
imports it only when ``--scheduler``, ``--scheduler-file`` or
``CONVCLI_SCHEDULER`` asks for a cluster (``DASK_SCHEDULER_ADDRESS`` is read
only for ``--scheduler dask``), so a plain ``convcli filter`` never loads dask.

- :mod:`.connect`: what ``--scheduler`` and ``--scheduler-file`` name
  (``local[:N]``, ``tcp://HOST:PORT``, a scheduler file) and a client for it:
  a ``LocalCluster`` started for the run, or a running cluster.
- :mod:`.batch`: files in groups on the workers (:func:`.batch.run_group`
  runs there), gathered as they complete, with a check that the workers see
  the inputs and each output's SHA-256 for the manifest.
- :mod:`.tiled`: one huge image across the cluster (``map_overlap`` over
  blocks each worker reads by path), written to zarr in parallel, and
  renamed into place only once every block is on disk.
"""

from ..errors import install_hint

#: What a person without the extra is told to run.
INSTALL_HINT = install_hint("cluster")

"""Models read without running them: ``convcli shape model.pt2|.keras|.h5|.py``.

Each reader turns a model into the spec language's layers and hands them to
:func:`convcli.arithmetic.network.analyze_network`; no framework is imported
and the user's code never runs.

Modules: ``.common`` (located layers, the input shape, residual joins, the
checks), ``.pt2`` (``torch.export`` archives), ``.keras`` (``.keras`` zips
and ``.h5`` files' ``model_config``), ``.pysource`` (PyTorch, Keras and Flax
source read with :mod:`ast`: the evaluator of expressions), ``.pystatements``
(its statements), ``.pyvalues`` (the values it works with), ``.pycalls`` (what a call
builds or does to the tensor), ``.pylayers`` (the frameworks' layers and
their documented defaults) and ``.read`` (the dispatch on the file's
suffix, and source from a file or ``--code``).
"""

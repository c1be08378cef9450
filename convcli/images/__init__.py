"""Whole images: the Pillow boundary, files written safely, filtering and pooling.

- :mod:`.io`: ``read_image``/``write_image``: formats, modes, bit depths,
  alpha, EXIF orientation, decompression-bomb limits, ``-`` for stdin/stdout;
  the one import path of :mod:`.reading` (with :mod:`.pillowread` and
  :mod:`.npyread`), :mod:`.writing` and :mod:`.image` (the ``Image`` record
  and the checks every reader makes).
- :mod:`.png`: convcli's own threaded PNG writer.
- :mod:`.jpegstrips`: a large JPEG encoded in strips on several threads,
  joined by restart markers (the pixels of one encode).
- :mod:`.overlap`: a large JPEG decoded on a thread, filtered in bands as
  its rows come, and encoded in strips meanwhile (``filter``'s fast path).
- :mod:`.decoders`: a PNG opened with Pillow's PNG plugin alone (fast start).
- :mod:`.atomic`: every output goes through a temporary file and a rename.
- :mod:`.pixels`: ``to_pixels``, the one conversion of values on a 0..max
  scale to uint8/uint16 pixels (rounded, clipped).
- :mod:`.filtering`: what ``convcli filter`` does to an image, from
  :mod:`.chain` (settings, kernel chains, gradient magnitudes, alpha),
  :mod:`.ranges` (value ranges back to pixels) and :mod:`.bands` (a whole
  image in bands of rows).
- :mod:`.native_pixels`: its shortcut for one kernel on 8-bit pixels with
  range clip or abs, uint8 to uint8 in one native pass.
- :mod:`.npystream`: a filter result written to ``.npy`` strip by strip,
  never whole in floating point.
- :mod:`.pooling`: what ``convcli pool`` does to an image or a tensor.
- :mod:`.tiled`: images larger than memory (tiled TIFF, zarr) filtered block
  by block with the kernel's halo, written to a tiled BigTIFF or a zarr:
  :mod:`.tiledsource` opens the input, :mod:`.blockplan` plans one kernel's
  blocks, :mod:`.streamplan` a chain's stages, :mod:`.tiledwrite` writes.
- :mod:`.omezarr`: a filter result and its pyramid as an OME-Zarr (NGFF
  0.5) multiscale image.
- :mod:`.urls`: inputs and outputs named by fsspec URLs (``s3://``,
  ``http://``, ``memory://``), written to a temporary key and moved.
- :mod:`.resume`: ``--skip-existing``: is an output complete; the manifest
  of a batch, appended as files finish.
- :mod:`.route`: which way ``convcli filter`` takes an input (whole or in
  tiles) and the peak memory ``--plan`` expects of it.
"""

"""The file suffixes convcli reads and writes, each set defined once.

Pure Python with no imports, so the command line can decide what a value
names (an image, a matrix file, a kernel file or an inline value) without
loading numpy or Pillow. Every suffix is lower case with its dot; compare
with ``name.lower().endswith(SUFFIXES)`` or ``Path(name).suffix.lower() in``.

Images
    :data:`IMAGE_WRITE_SUFFIXES` maps each suffix convcli writes to the
    format it selects (:func:`convcli.images.io.output_format`);
    :data:`IMAGE_FORMATS` names the same formats for ``--format``.
    :data:`IMAGE_SUFFIXES` are the suffixes read as images (what a directory
    input is scanned for): the written ones plus ``.pbm``, which Pillow
    decodes but which convcli never writes (Pillow would store gray pixels
    as a PGM under that name). :data:`PIXEL_SUFFIXES` leave out ``.npy``,
    which is a tensor as well as an image.
    :data:`TIFF_SUFFIXES` name the TIFF files (BigTIFF's ``.btf``, ``.tf8``
    too) that may be read in tiles or strips.
Matrices
    :data:`MATRIX_WRITE_SUFFIXES` maps the suffixes ``convcli conv -o``
    understands to a matrix format; :data:`MATRIX_SUFFIXES` adds the other
    text files the matrix reader accepts (``.tsv``, ``.dat``).
Kernels
    :data:`KERNEL_SUFFIXES` are the matrix files plus libvips ``.mat`` and
    ``.kernel`` text files: a ``--kernel`` value ending in one of them is a
    file (so that a missing one says "cannot read").

Examples
--------
>>> ".pbm" in IMAGE_SUFFIXES, ".pbm" in IMAGE_WRITE_SUFFIXES
(True, False)
>>> "notes.tsv".endswith(KERNEL_SUFFIXES)
True
>>> IMAGE_FORMATS["jpg"], IMAGE_WRITE_SUFFIXES[".jpe"]
('JPEG', 'JPEG')
"""

from __future__ import annotations

__all__ = [
    "IMAGE_FORMATS",
    "IMAGE_SUFFIXES",
    "IMAGE_WRITE_SUFFIXES",
    "KERNEL_SUFFIXES",
    "MATRIX_SUFFIXES",
    "MATRIX_WRITE_SUFFIXES",
    "PIXEL_SUFFIXES",
    "TIFF_SUFFIXES",
]

#: Image suffixes convcli writes, and the format (Pillow's name, or NPY) each selects.
IMAGE_WRITE_SUFFIXES: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".jpe": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".gif": "GIF",
    ".ppm": "PPM",
    ".pgm": "PPM",
    ".pnm": "PPM",
    ".npy": "NPY",
}

#: Output formats by the name ``format=`` / ``--format`` accepts (lower case):
#: the written suffixes without their dot, except the rare ``jpe`` spelling.
IMAGE_FORMATS: dict[str, str] = {
    suffix[1:]: fmt for suffix, fmt in IMAGE_WRITE_SUFFIXES.items() if suffix != ".jpe"
}

#: Suffixes read as images (a directory input is scanned for these).
IMAGE_SUFFIXES: tuple[str, ...] = (*IMAGE_WRITE_SUFFIXES, ".pbm")

#: Image suffixes that hold pixels (all but ``.npy``, which may be any tensor).
PIXEL_SUFFIXES: tuple[str, ...] = tuple(
    s for s in IMAGE_SUFFIXES if IMAGE_WRITE_SUFFIXES.get(s) != "NPY"
)

#: TIFF names, BigTIFF's included: the files that may be read in tiles or strips.
TIFF_SUFFIXES: tuple[str, ...] = (".tif", ".tiff", ".btf", ".tf8")

#: Matrix suffixes ``convcli conv -o`` writes, and the format each selects.
MATRIX_WRITE_SUFFIXES: dict[str, str] = {
    ".txt": "text",
    ".csv": "csv",
    ".json": "json",
    ".npy": "npy",
}

#: Suffixes read as matrix files (tab-separated and ``.dat`` text too).
MATRIX_SUFFIXES: tuple[str, ...] = (*MATRIX_WRITE_SUFFIXES, ".tsv", ".dat")

#: Suffixes read as kernel files: the matrix files, libvips ``.mat`` and ``.kernel``.
KERNEL_SUFFIXES: tuple[str, ...] = (*MATRIX_SUFFIXES, ".mat", ".kernel")

"""Resumable batches: is an existing output complete, and the manifest that says what was written.

``--skip-existing`` asks, for each output that exists, whether it is
complete (:func:`output_problem`): its SHA-256 matches the manifest's when
the manifest has a line for it, else it decodes in full (a ``.zarr`` has
every chunk its shape needs; a TIFF has every tile or strip within the
file). A complete output is skipped; an incomplete one is removed and
written again. The check runs where the file would be written (a ``--jobs``
process, a cluster worker), through :func:`resumable`.

The manifest (:class:`Manifest`) is JSON lines, one per file, appended as
each file finishes: a run killed at any point leaves every line before the
last complete, and a torn last line is ignored when the manifest is read
back. Reading it keeps one SHA-256 per output (about 100 bytes a file).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
import time
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

from ..errors import ConvcliError, ImageError
from ..suffixes import TIFF_SUFFIXES
from .urls import is_url, output_exists

__all__ = [
    "Manifest",
    "TaskNotes",
    "output_exists",
    "output_problem",
    "read_manifest",
    "remove_output",
    "resumable",
    "sha256_output",
    "zarr_problem",
]


class TaskNotes(list):
    """The notes a task returns, with what the batch runner and the manifest need to know.

    A list, so a runner that only prints notes takes it as it is.

    Attributes
    ----------
    skipped : bool
        The output existed and was complete; nothing was written.
    sha256 : str or None
        Hex SHA-256 of the output's bytes (a file's; None for a folder or
        standard output, or when no manifest asked for it).
    """

    def __init__(self, notes: Any = (), *, skipped: bool = False, sha256: str | None = None):
        super().__init__(notes)
        self.skipped = skipped
        self.sha256 = sha256


def _chunks(stream: BinaryIO, block: int = 1 << 20) -> Iterator[bytes]:
    while chunk := stream.read(block):
        yield chunk


def sha256_output(target: str) -> str | None:
    """Return the SHA-256 of the file (or URL object) ``target``, or None for a folder.

    Examples
    --------
    >>> import tempfile, os
    >>> with tempfile.NamedTemporaryFile(delete=False) as fh:
    ...     _ = fh.write(b"abc")
    >>> sha256_output(fh.name)[:16]
    'ba7816bf8f01cfea'
    >>> os.unlink(fh.name)
    """
    digest = hashlib.sha256()
    if is_url(target):
        from .urls import url_read_bytes

        if target.rstrip("/").lower().endswith(".zarr"):
            return None
        digest.update(url_read_bytes(target))
        return digest.hexdigest()
    if os.path.isdir(target):
        return None
    with open(target, "rb") as fh:
        for chunk in _chunks(fh):
            digest.update(chunk)
    return digest.hexdigest()


def zarr_problem(path: str) -> str | None:
    """Why the zarr array or OME-Zarr image at ``path`` is incomplete, or None if it is complete.

    Complete means: it opens, and every array in it (each level of an
    OME-Zarr multiscale image) has all the chunks its shape needs.

    Notes
    -----
    zarr 3 leaves out chunks that hold only the fill value unless
    ``write_empty_chunks`` is set (convcli's pyramid writer sets it); an
    array written without it counts as incomplete and is written again.
    """
    try:
        import zarr
    except ImportError:
        return "zarr is not installed, so it cannot be checked"
    try:
        node = zarr.open(path, mode="r")
    except Exception as exc:
        return f"not a readable zarr ({str(exc).splitlines()[0] if str(exc) else exc!r})"
    arrays: list[tuple[str, Any]] = []
    if hasattr(node, "shape"):
        arrays.append(("", node))
    else:
        attrs = dict(node.attrs)
        ome = attrs.get("ome", attrs)
        multiscales = ome.get("multiscales") if isinstance(ome, dict) else None
        if not multiscales:
            return "a zarr group without OME-Zarr multiscales metadata"
        for dataset in multiscales[0].get("datasets", []):
            try:
                arrays.append((dataset["path"], node[dataset["path"]]))
            except Exception:
                return f"level {dataset.get('path')!r} is missing"
        if not arrays:
            return "an OME-Zarr image without levels"
    for name, arr in arrays:
        need = math.prod(math.ceil(s / c) for s, c in zip(arr.shape, arr.chunks, strict=True))
        have = int(arr.nchunks_initialized)
        if have < need:
            where = f"level {name}: " if name else ""
            return f"{where}{have} of {need} chunks written"
    return None


def _tiff_problem(path: str) -> str | None:
    """Say why a TIFF is incomplete, or return None.

    Every tile or strip of every page must lie inside the file and decode
    (one at a time, so a BigTIFF larger than memory is checked too).
    """
    try:
        import tifffile
    except ImportError:
        return _decode_problem(path)
    size = os.path.getsize(path)
    try:
        with tifffile.TiffFile(path) as tif:
            for page in tif.pages:
                offsets = page.dataoffsets
                counts = page.databytecounts
                for offset, count in zip(offsets, counts, strict=True):
                    if count == 0 or offset == 0 or offset + count > size:
                        return "truncated or corrupt TIFF (a tile or strip is missing)"
                for _ in page.segments():
                    pass  # each tile or strip decoded on its own: memory stays one tile
    except Exception as exc:
        return f"not a readable TIFF ({str(exc).splitlines()[0] if str(exc) else exc!r})"
    return None


def _decode_problem(path: str) -> str | None:
    """Why the image at ``path`` does not decode in full, or None when it does."""
    from .io import read_image

    try:  # read from a stream: an output checked is not an input of the run (convcli.guard)
        if is_url(path):
            from .urls import open_url

            read_image(open_url(path), max_pixels=None)
        else:
            with open(path, "rb") as fh:
                read_image(fh, max_pixels=None)
    except OSError as exc:
        return f"cannot read it ({exc.strerror or exc})"
    except ImageError as exc:
        message = str(exc)
        return message[len(path) + 2 :] if message.startswith(f"{path}: ") else message
    return None


def output_problem(target: str, expected_sha256: str | None = None) -> str | None:
    r"""Say why the existing output ``target`` is not complete, or None when it is.

    Parameters
    ----------
    target : str
        A file, a ``.zarr`` folder, or a URL.
    expected_sha256 : str or None
        The manifest's SHA-256 for it. When given, the file's bytes must
        hash to it (and nothing else is checked); otherwise the file must
        decode in full (:func:`zarr_problem` for a ``.zarr``, every tile or
        strip inside the file for a TIFF).

    Examples
    --------
    >>> import tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "cut.png")
    >>> with open(path, "wb") as fh:
    ...     _ = fh.write(b"\x89PNG\r\n\x1a\n")
    >>> output_problem(path)
    'truncated or corrupt image data'
    """
    if target.rstrip("/").lower().endswith(".zarr"):
        return zarr_problem(target)
    if expected_sha256 is not None:
        if sha256_output(target) != expected_sha256:
            return "its SHA-256 differs from the manifest's"
        return None
    if not is_url(target) and target.lower().endswith(TIFF_SUFFIXES):
        return _tiff_problem(target)
    return _decode_problem(target)


def remove_output(target: str) -> None:
    """Remove an incomplete output (a file, a ``.zarr`` folder, a URL) so it can be written again.

    An input of the run is never removed (:func:`convcli.guard.check_output`).
    """
    from ..guard import check_output

    check_output(target, ConvcliError)
    if is_url(target):
        from .urls import url_remove

        url_remove(target)
    elif os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target)
    else:
        os.unlink(target)


def resumable(
    job: Any,
    *,
    task: Callable[[Any], list[str]],
    skip_existing: bool = False,
    digest: bool = False,
) -> TaskNotes:
    """Run ``task(job)`` unless ``--skip-existing`` finds its output complete.

    Bind ``task``, ``skip_existing`` and ``digest`` with
    :func:`functools.partial`; the result pickles, so it runs in ``--jobs``
    processes and on cluster workers alike.

    Parameters
    ----------
    job : Job
        Has ``source``, ``target`` and ``expect_sha256`` (the manifest's
        digest for the target, or None).
    task : callable
        Writes the output and returns its notes.
    skip_existing : bool
        Skip an output that exists and is complete (:func:`output_problem`);
        remove and write again one that is not.
    digest : bool
        Hash the output for the manifest.

    Returns
    -------
    TaskNotes
        The notes, with ``skipped`` and ``sha256`` set.
    """
    target = job.target
    notes: list[str] = []
    if skip_existing and target != "-" and output_exists(target):
        expected = getattr(job, "expect_sha256", None)
        problem = output_problem(target, expected)
        if problem is None:
            sha = expected if expected is not None else (sha256_output(target) if digest else None)
            return TaskNotes(skipped=True, sha256=sha)
        remove_output(target)
        notes.append(f"{target}: incomplete ({problem}); written again")
    notes.extend(task(job))
    sha = sha256_output(target) if digest and target != "-" else None
    return TaskNotes(notes, sha256=sha)


def read_manifest(path: str) -> dict[str, str]:
    """Return the SHA-256 of each output a manifest records as written (``ok`` or ``skipped``).

    Later lines win (a file failed, then written on a resumed run); lines
    that are not complete JSON objects (a run killed mid-line) are ignored.
    """
    digests: dict[str, str] = {}
    try:
        fh = open(path, encoding="utf-8")
    except FileNotFoundError:
        return digests
    except OSError as exc:
        raise ConvcliError(f"{path}: cannot read the manifest ({exc.strerror or exc})") from None
    with fh:
        for line in fh:
            if not line.endswith("\n"):
                break  # torn by a kill: the file it names is checked by decoding instead
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if not isinstance(record, dict) or not isinstance(record.get("output"), str):
                continue
            sha = record.get("sha256")
            if record.get("status") in ("ok", "skipped") and isinstance(sha, str):
                digests[record["output"]] = sha
            else:
                digests.pop(record["output"], None)
    return digests


class Manifest:
    """JSON lines appended as files finish: ``path``, ``output``, ``status``, ``error``, ``sha256``.

    ``status`` is ``ok``, ``failed`` or ``skipped`` (complete from an
    earlier run). Each line goes to the file in one ``write`` on a file
    opened for appending and is flushed at once; the file is synced to disk
    at most once a second and when closed. A new manifest (not a resumed
    one) is created empty, atomically, before the first file runs.

    Parameters
    ----------
    path : str
        The manifest file.
    append : bool
        Keep the lines already there (a resumed run) rather than start anew.
    overwrite : bool
        Replace an existing manifest when not appending.
    """

    def __init__(self, path: str, *, append: bool = False, overwrite: bool = False) -> None:
        from .atomic import atomic_write

        self.path = path
        if not (append and os.path.exists(path)):
            atomic_write(path, lambda fh: None, overwrite=overwrite)
        try:
            self._fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except OSError as exc:
            raise ConvcliError(f"{path}: cannot write ({exc.strerror or exc})") from None
        self._synced = time.monotonic()
        self._needs_newline = append and _ends_without_newline(path)

    def record(
        self,
        source: str,
        target: str,
        status: str,
        error: str | None = None,
        sha256: str | None = None,
    ) -> None:
        """Append one file's line."""
        line = json.dumps(
            {"path": source, "output": target, "status": status, "error": error, "sha256": sha256}
        )
        if self._needs_newline:  # a torn line from a killed run: end it, so this one stands
            line = "\n" + line
            self._needs_newline = False
        data = (line + "\n").encode()
        while data:
            data = data[os.write(self._fd, data) :]
        if time.monotonic() - self._synced > 1.0:
            os.fsync(self._fd)
            self._synced = time.monotonic()

    def close(self) -> None:
        """Sync the manifest to disk and close it."""
        if self._fd < 0:
            return
        try:
            os.fsync(self._fd)
        finally:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Manifest:
        """Return the manifest, closed at the end of the ``with`` block."""
        return self

    def __exit__(self, *exc: object) -> None:
        """Close the manifest."""
        self.close()


def _ends_without_newline(path: str) -> bool:
    try:
        with open(path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            if fh.tell() == 0:
                return False
            fh.seek(-1, os.SEEK_END)
            return fh.read(1) != b"\n"
    except OSError:
        return False

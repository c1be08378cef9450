"""Inputs and outputs named by fsspec URLs (``s3://``, ``gs://``, ``http(s)://``, ``memory://``).

A name with a scheme (``scheme://...``) is a URL; everything else is a local
path and never reaches fsspec. fsspec (which comes with dask, in the
``cluster`` extra) is imported only when a URL is used; ``s3://`` needs
``s3fs`` and ``gs://`` needs ``gcsfs`` (the ``s3`` and ``gcs`` extras).

What a write to a URL guarantees
--------------------------------
Every write goes to a temporary key beside the target
(``.NAME.<random>.part``), which is then moved to the target; a failure
removes the temporary key. How complete-or-nothing that is depends on the
backend:

- ``memory://``: the move is one dictionary update in this process: atomic.
- ``s3://``, ``gs://``: an object only becomes visible once its upload is
  complete, so readers never see half an object; the move is a server-side
  copy then a delete, so a process killed between the two leaves the
  ``.part`` key behind (never a partial target).
- ``http(s)://``: read-only; a write is refused.
- ``file://``: the local filesystem's rename (atomic).

An existing target is checked for before the write; object stores have no
"create only if absent", so two runs racing for one key can still both write.
"""

from __future__ import annotations

import io
import os
import re
import uuid
from collections.abc import Callable
from typing import Any, BinaryIO

from ..errors import ImageError, install_hint

__all__ = [
    "is_process_memory_url",
    "is_read_only_url",
    "is_url",
    "open_url",
    "output_exists",
    "upload_folder",
    "url_basename",
    "url_exists",
    "url_join",
    "url_read_bytes",
    "url_remove",
    "url_stem",
    "write_url",
]

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")

#: What to install for each scheme fsspec needs a package for.
_EXTRAS = {
    "s3": install_hint("s3"),
    "s3a": install_hint("s3"),
    "gs": install_hint("gcs"),
    "gcs": install_hint("gcs"),
    "http": install_hint("http"),
    "https": install_hint("http"),
}


def is_url(name: str | os.PathLike | Any) -> bool:
    r"""Whether ``name`` is a URL (``scheme://...``) rather than a local path.

    Examples
    --------
    >>> is_url("s3://bucket/a.png"), is_url("memory://x/a.png"), is_url("a.png")
    (True, True, False)
    >>> is_url("C:\\photos\\a.png"), is_url("-")
    (False, False)
    """
    return isinstance(name, str) and bool(_SCHEME.match(name))


def is_read_only_url(name: str) -> bool:
    """Whether ``name`` is a URL nothing can be written to (``http(s)://``).

    Examples
    --------
    >>> is_read_only_url("https://host/a.png"), is_read_only_url("s3://b/a.png")
    (True, False)
    """
    return is_url(name) and name.split("://", 1)[0].lower() in ("http", "https")


def is_process_memory_url(name: str) -> bool:
    """Whether ``name`` is a ``memory://`` URL: it lives only as long as this process.

    Examples
    --------
    >>> is_process_memory_url("memory://out/a.png"), is_process_memory_url("MEMORY://a.png")
    (True, True)
    >>> is_process_memory_url("s3://b/a.png"), is_process_memory_url("memory.png")
    (False, False)
    """
    return is_url(name) and name.split("://", 1)[0].lower() == "memory"


def _split(url: str) -> tuple[str, str]:
    """``(everything up to the last '/', the last part)`` of a URL's path."""
    scheme_end = url.index("://") + 3
    head, _, tail = url[scheme_end:].rpartition("/")
    return url[:scheme_end] + head, tail


def url_basename(url: str) -> str:
    """Return the last part of a URL's path.

    Examples
    --------
    >>> url_basename("http://127.0.0.1:8000/img/cat.png?x=1")
    'cat.png'
    """
    return _split(url.split("?", 1)[0].split("#", 1)[0].rstrip("/"))[1]


def url_stem(url: str) -> str:
    """Return the last part of a URL's path without its suffix.

    Examples
    --------
    >>> url_stem("s3://bucket/in/cat.png")
    'cat'
    """
    name = url_basename(url)
    stem, dot, _ = name.rpartition(".")
    return stem if dot and stem else name


def url_join(base: str, name: str) -> str:
    """``name`` inside the folder ``base`` (a URL).

    Examples
    --------
    >>> url_join("memory://out/", "a.png"), url_join("s3://b/out", "a.png")
    ('memory://out/a.png', 's3://b/out/a.png')
    """
    return base.rstrip("/") + "/" + name


def _filesystem(url: str) -> tuple[Any, str]:
    """``(fsspec filesystem, path within it)`` for ``url``; a missing package is an ImageError."""
    scheme = url.split("://", 1)[0].lower()
    try:
        import fsspec
    except ImportError:
        raise ImageError(
            f"{url}: URLs need fsspec, which is not installed: {install_hint('cluster')}"
        ) from None
    try:
        fs, path = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        hint = _EXTRAS.get(scheme, f"a package fsspec uses for {scheme}://")
        raise ImageError(f"{url}: cannot open {scheme}:// URLs ({exc}): {hint}") from None
    return fs, path


def _failure(url: str, exc: BaseException) -> ImageError:
    if isinstance(exc, FileNotFoundError):
        return ImageError(f"{url}: no such file")
    if isinstance(exc, PermissionError):
        return ImageError(f"{url}: permission denied")
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return ImageError(f"{url}: {text}")


def url_read_bytes(url: str) -> bytes:
    """All the bytes of the object ``url`` names.

    Raises
    ------
    ImageError
        One line naming the URL: no such object, a missing package, or the
        backend's own error.
    """
    fs, path = _filesystem(url)
    try:
        return bytes(fs.cat_file(path))
    except Exception as exc:
        raise _failure(url, exc) from None


def open_url(url: str) -> BinaryIO:
    """Open a seekable in-memory stream of the object ``url`` names; its ``name`` is the URL."""
    stream = io.BytesIO(url_read_bytes(url))
    stream.name = url  # read_image names the input by it
    return stream


def output_exists(target: str) -> bool:
    """Whether a file, folder or object exists at ``target`` (a path or a URL)."""
    if target == "-":
        return False
    if is_url(target):
        return url_exists(target)
    return os.path.lexists(target)


def url_exists(url: str) -> bool:
    """Whether an object (or folder) exists at ``url``."""
    fs, path = _filesystem(url)
    try:
        return bool(fs.exists(path))
    except Exception as exc:
        raise _failure(url, exc) from None


def url_remove(url: str) -> None:
    """Remove the object (or, recursively, the folder) at ``url``; a missing one is fine."""
    fs, path = _filesystem(url)
    try:
        if fs.exists(path):
            fs.rm(path, recursive=True)
    except FileNotFoundError:
        pass
    except Exception as exc:
        raise _failure(url, exc) from None


def _temporary(url: str) -> str:
    head, name = _split(url.rstrip("/"))
    return f"{head}/.{name}.{uuid.uuid4().hex[:8]}.part"


def write_url(
    url: str,
    write: Callable[[BinaryIO], object] | bytes,
    *,
    overwrite: bool = False,
    error: type[Exception] = ImageError,
) -> None:
    """Write an object to ``url``: to a temporary key beside it, then moved there.

    Parameters
    ----------
    url : str
        The target (see the module's notes for what each backend guarantees).
    write : callable or bytes
        The content, or a function that writes it to the binary stream it is
        given (the whole content is built in memory first).
    overwrite : bool, optional
        Replace an existing object; without it an existing one is an error.
    error : exception type, optional
        Raised, with one line naming the URL, for an existing target and for
        every failure of the backend.
    """
    if isinstance(write, (bytes, bytearray, memoryview)):
        data = bytes(write)
    else:
        buffer = io.BytesIO()
        write(buffer)
        data = buffer.getvalue()
    _commit(url, lambda fs, tmp: fs.pipe_file(tmp, data), folder=False,
            overwrite=overwrite, error=error)  # fmt: skip


def upload_folder(
    folder: str,
    url: str,
    *,
    overwrite: bool = False,
    error: type[Exception] = ImageError,
) -> None:
    """Copy a complete local folder (a ``.zarr``) to ``url``: to a temporary prefix, then moved.

    A reader never finds a partial folder at ``url`` on ``memory://``; on
    object stores the move copies object by object, so a run killed during
    the move can leave part of the folder at ``url`` (and the ``.part``
    prefix): ``--skip-existing`` then finds it incomplete and writes it
    again. An existing ``url`` is replaced only with ``overwrite``, once the
    new folder is uploaded.
    """
    source = folder.rstrip("/") + "/"
    _commit(url, lambda fs, tmp: fs.put(source, tmp, recursive=True), folder=True,
            overwrite=overwrite, error=error)  # fmt: skip


def _commit(
    url: str,
    put: Callable[[Any, str], object],
    *,
    folder: bool,
    overwrite: bool,
    error: type[Exception],
) -> None:
    """``put(fs, temporary path)``, then move the temporary key (or prefix) onto ``url``.

    The temporary key is removed on any failure; every backend error
    becomes one ``error`` line naming ``url``.
    """
    fs, path = _filesystem(url)
    scheme = url.split("://", 1)[0].lower()
    if is_read_only_url(url):
        raise error(f"{url}: cannot write to {scheme}:// (read-only); write to a file or s3://")
    try:
        if fs.exists(path) and not overwrite:
            raise error(f"{url} exists; pass --overwrite to replace it")
        _, tmp_path = _filesystem(_temporary(url))
        head = path.rstrip("/").rpartition("/")[0]
        if head:
            fs.makedirs(head, exist_ok=True)
        try:
            put(fs, tmp_path)
            if folder and fs.exists(path):
                fs.rm(path, recursive=True)
            fs.mv(tmp_path, path, recursive=folder)
        except BaseException:
            try:
                if fs.exists(tmp_path):
                    fs.rm(tmp_path, recursive=folder)
            except Exception:  # the first error is the one to report
                pass
            raise
    except error:
        raise
    except Exception as exc:
        text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise error(f"{url}: cannot write ({text})") from None

"""Results as JSON and CSV text: json and csv are imported only when they are written."""

from __future__ import annotations

import io
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

__all__ = ["to_csv", "to_json"]


def to_json(data: Any) -> str:
    """Serialise ``data`` as indented JSON (UTF-8 text, not ASCII-escaped).

    Examples
    --------
    >>> print(to_json({"out": [55, 55]}))
    {
      "out": [
        55,
        55
      ]
    }
    """
    import json

    return json.dumps(data, indent=2, ensure_ascii=False)


def to_csv(rows: Iterable[Mapping[str, Any]], headers: Sequence[str]) -> str:
    r"""Write rows (mappings) as CSV with a header line; missing keys are empty.

    ``None`` becomes an empty cell; lines end with ``\n``.

    Examples
    --------
    >>> print(to_csv([{"a": 1, "b": None}], ["a", "b"]), end="")
    a,b
    1,
    """
    import csv

    buffer = io.StringIO()
    writer = csv.DictWriter(
        buffer, fieldnames=list(headers), lineterminator="\n", extrasaction="ignore"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({key: ("" if row.get(key) is None else row.get(key)) for key in headers})
    return buffer.getvalue()

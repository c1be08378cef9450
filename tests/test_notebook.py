"""docs/animate.ipynb runs in a real Jupyter kernel, and its results display themselves.

Executed with nbclient and ipykernel as a person's notebook server would run
it: every explorer and animation carries an HTML output (the sandboxed
iframe) and a PNG (for viewers that strip scripts); the d2l numbers are
those of the book (written out here, not computed by convcli).
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import PIL.Image
import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parent.parent / "docs" / "animate.ipynb"


@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    nb = nbformat.read(NOTEBOOK, as_version=4)
    for cell in nb.cells:  # the committed notebook carries no outputs to trust
        assert cell.cell_type != "code" or not cell.outputs
    folder = tmp_path_factory.mktemp("nb")
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
    ).execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def _data(cell) -> dict:
    (out,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return out["data"]


def test_every_explorer_displays_html_and_png(executed):
    pictures = 0
    for cell in executed:
        data = _data(cell)
        if data["text/plain"].startswith(("Explorer(", "Animation(")):
            assert data["text/html"].startswith('<iframe sandbox="allow-scripts" srcdoc=')
            png = PIL.Image.open(io.BytesIO(base64.b64decode(data["image/png"])))
            assert png.format == "PNG" and png.width > 300
            pictures += 1
    assert pictures == 10


def test_d2l_numbers(executed):
    texts = [_data(c)["text/plain"] for c in executed]
    assert "[[[ 56.,  72.],\n        [104., 120.]]]" in texts[2]  # d2l 7.4
    assert "[ 4., 12.,  9.]" in texts[-3]  # d2l 14.10: [[0, 0, 1], [0, 4, 6], [4, 12, 9]]
    assert "Y[0,1] = 1×0 + 2×1 + 4×2 + 5×3 = 25" in _data(executed[0])["text/html"]


def test_kernel_shows_its_weights(executed):
    html = _data(executed[-1])["text/html"]
    assert html.startswith("<b>sobel-x 3×3</b>") and html.count("<td") == 9

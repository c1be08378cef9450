"""Remake the pictures of docs/animate.md and the README's `convcli animate` example.

Runs every ``convcli animate ... -o NAME`` line of the bash blocks of
docs/animate.md and README.md whose output the page shows (an image link to
``images/animate/NAME``), as written, in this folder (``-o out/x.gif`` becomes
``-o x.gif``), with ``--overwrite``:

    python docs/images/animate/make_images.py
"""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent.parent


def commands(doc: Path) -> list[list[str]]:
    found = []
    for block in re.findall(r"^```bash\n(.*?)^```", doc.read_text(encoding="utf-8"), re.S | re.M):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line.startswith("convcli animate "):
                found.append(shlex.split(line))
    return found


def main() -> None:
    for doc in (ROOT / "docs" / "animate.md", ROOT / "README.md"):
        text = doc.read_text(encoding="utf-8")
        for argv in commands(doc):
            where = argv.index("-o") + 1
            argv[where] = Path(argv[where]).name
            if f"images/animate/{argv[where]})" not in text:
                continue
            subprocess.run([*argv, "--overwrite"], cwd=HERE, check=True)
            size = (HERE / argv[where]).stat().st_size
            print(f"{argv[where]:48} {size / 1024:7.1f} KiB")


if __name__ == "__main__":
    main()

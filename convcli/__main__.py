"""``python -m convcli``: the same as the ``convcli`` command."""

from .cli import cli

if __name__ == "__main__":
    cli(prog_name="convcli")

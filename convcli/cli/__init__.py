"""The ``convcli`` command line: a Click group whose commands load on demand.

Each command lives in its own module of this package and is imported only
when it runs (or when ``--help`` lists it), and no command module imports
numpy, scipy or Pillow at import time. ``convcli --help`` and
``convcli shape`` therefore start without the scientific stack.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import os
import signal
import sys
from collections.abc import Iterator
from typing import Any

import click

from ..errors import ConvcliError, LimitError, SettingError

# command name -> (module in this package, attribute)
COMMANDS: dict[str, tuple[str, str]] = {
    "filter": ("filter_cmd", "filter_cmd"),
    "pool": ("pool_cmd", "pool_cmd"),
    "shape": ("shape", "shape_cmd"),
    "conv": ("conv_cmd", "conv_cmd"),
    "learn": ("learn_cmd", "learn_cmd"),
    "kernels": ("kernels_cmd", "kernels_cmd"),
    "gallery": ("gallery_cmd", "gallery_cmd"),
    "animate": ("animate_cmd", "animate_cmd"),
}


def _available(name: str) -> bool:
    import importlib.util  # only to list the commands (--help): running one imports it

    module = COMMANDS[name][0]
    return importlib.util.find_spec(f"{__name__}.{module}") is not None


def _set_debug(ctx: click.Context, param: click.Parameter, value: bool) -> None:
    if value:
        ctx.meta["convcli.debug"] = True  # meta is shared by every context of a run


#: ``--debug`` after a command's name (``convcli filter ... --debug``); the group
#: adds it to every command it loads, and :func:`debug_enabled` reads it.
DEBUG_OPTION = click.Option(
    ["--debug"],
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_set_debug,
    help="Show the full traceback when something fails.",
)


#: True while :meth:`LazyGroup.__call__` holds the cyclic garbage collector back
_START_UP = {"paused": False}


def _end_start_up() -> None:
    """Let the cyclic garbage collector run again: the command's own work begins.

    While the program starts (the command's module, numpy and the kernels its
    options name) it creates tens of thousands of objects that live until it
    exits, and the collector would walk them again and again (about thirty
    collections of a small ``filter``'s sixty, issue 22). :func:`gc.freeze`
    moves them out of the way of every later collection. Only the console
    command pauses it (:meth:`LazyGroup.__call__`), not ``cli.main`` in a
    program or a test.
    """
    if _START_UP["paused"]:
        _START_UP["paused"] = False
        gc.freeze()
        gc.enable()


def _starting(callback: Any) -> Any:
    """Wrap ``callback`` so that it ends the start-up (:func:`_end_start_up`) first."""
    if getattr(callback, "ends_start_up", False):
        return callback

    @functools.wraps(callback)
    def run(*args: Any, **kwargs: Any) -> Any:
        _end_start_up()
        return callback(*args, **kwargs)

    setattr(run, "ends_start_up", True)  # noqa: B010 - a mark on a function
    return run


def _with_debug(command: click.Command) -> click.Command:
    """Give ``command``, and the subcommands of a group, the shared ``--debug`` flag.

    Its callback also ends the start-up (:func:`_end_start_up`) when it begins.
    """
    if not any(p.name == "debug" for p in command.params):
        command.params.append(DEBUG_OPTION)
    if command.callback is not None:
        command.callback = _starting(command.callback)
    for sub in getattr(command, "commands", {}).values():
        _with_debug(sub)
    return command


class LazyGroup(click.Group):
    """A group that imports a command's module only when it is needed.

    It gives every command a ``--debug`` flag, and turns convcli's own errors
    into one-line messages.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        """List the commands whose modules are installed, sorted."""
        return sorted(name for name in COMMANDS if _available(name))

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """Import and return the command ``cmd_name``, or None when there is none."""
        if cmd_name not in COMMANDS:
            return None
        module, attr = COMMANDS[cmd_name]
        name = f"{__name__}.{module}"
        try:
            # __import__ rather than importlib.import_module: -X importtime logs only
            # imports made through it, and the start-up pins and budgets read that log
            loaded = __import__(name, fromlist=[attr])
        except ModuleNotFoundError as exc:
            if exc.name != name:  # the command is there but something it needs is not
                raise
            return None
        return _with_debug(getattr(loaded, attr))

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        """Find the command ``args`` name; an unknown one fails with the closest names."""
        name = args[0] if args else ""
        if args and not name.startswith("-") and self.get_command(ctx, name) is None:
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=2, cutoff=0.6)
            hint = f" Did you mean {' or '.join(close)}?" if close else ""
            ctx.fail(f"No such command {name!r}.{hint} `convcli --help` lists them.")
        return super().resolve_command(ctx, args)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the program: the entry point the console script calls.

        A run a signal reached exits 128 + n, even when the signal arrived while
        it was already ending (writing an error: click would exit with the
        error's status). After a signal, once the run's own clean-ups have run
        (temporary files removed, workers stopped), the process leaves at once:
        the interpreter's shutdown would otherwise wait for threads still in a
        long step and print the complaints of libraries stopped mid-task.
        Called with its arguments from Python (``cli(["shape", ...])`` in a
        notebook), it puts the caller's signal handlers back when it returns,
        so the caller's Ctrl-C (a Jupyter kernel's interrupt) still works.
        """
        from .signals import ignore, install, last_signal, restore, stopped_message

        previous = install()
        # called with its arguments from Python (a notebook, a test), the caller goes
        # on afterwards: its own handlers come back when the command returns
        embedded = bool(args) or "args" in kwargs
        if gc.isenabled():  # while the program starts: see _end_start_up
            gc.disable()
            _START_UP["paused"] = True
        try:
            return self.main(*args, **kwargs)
        except SystemExit as exc:
            ignore()  # the run is over: a signal now changes nothing (it was noted before)
            signum = last_signal()
            if signum is None:
                raise
            status = 128 + signum
            with contextlib.suppress(Exception):
                sys.stdout.flush()
            with contextlib.suppress(Exception):
                if exc.code != status:  # the signal came while an error was reported
                    sys.stderr.write(stopped_message(status) + "\n")
                sys.stderr.flush()
            os._exit(status)
        finally:
            if embedded:
                restore(previous)
            _end_start_up()  # no command ran (--help, a usage error): the collector is back

    def main(self, *args: Any, **kwargs: Any) -> Any:
        """Run the command, noting SIGTERM, SIGHUP and SIGINT for the whole run.

        The error report is included (see :meth:`__call__`).
        """
        from .signals import HANDLED, exit_status, terminating_signals

        try:
            with terminating_signals():
                return super().main(*args, **kwargs)
        except KeyboardInterrupt as exc:  # an older click lets one escape its report
            for signum in (signal.SIGINT, *HANDLED):  # the run is over: one status
                signal.signal(signum, signal.SIG_IGN)
            sys.exit(exit_status(exc))

    def invoke(self, ctx: click.Context) -> Any:
        """Invoke the command, turning convcli's errors and signals into exit statuses."""
        from ..guard import guarding
        from .signals import exit_status, stopped_message, terminating_signals

        try:
            # every file this run reads is protected from its writes; SIGTERM and
            # SIGHUP stop it as Ctrl-C does
            with guarding(), terminating_signals(), _checked_stdout():
                return super().invoke(ctx)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.Abort):
            raise
        except BrokenPipeError:
            # the reader went away (| head): stop quietly, as cat does, but never with 0
            _silence_stdout()
            ctx.exit(141)  # 128 + SIGPIPE, what a shell shows for cat
        except (LimitError, SettingError) as exc:  # over the policy, a bad variable: usage
            if debug_enabled(ctx):
                raise
            raise click.UsageError(str(exc)) from exc
        except (ConvcliError, OSError) as exc:
            if debug_enabled(ctx):
                raise
            raise click.ClickException(error_text(exc)) from exc
        except KeyboardInterrupt as exc:
            # outputs are written atomically, so nothing partial is left; 130 = 128 + SIGINT
            status = exit_status(exc)
            click.echo(stopped_message(status), err=True)
            ctx.exit(status)
        except (MemoryError, OverflowError, RecursionError) as exc:
            # a size no check caught before allocating: still a usage error, not a crash
            if debug_enabled(ctx):
                raise
            raise click.UsageError(
                f"the request is too large for this machine ({type(exc).__name__}: {exc}); "
                "use smaller sizes (add --debug for the traceback)"
            ) from None
        except Exception as exc:  # a bug: say so in one line, traceback on demand
            if debug_enabled(ctx):
                raise
            raise click.ClickException(
                f"internal error: {type(exc).__name__}: {exc} (add --debug for the traceback)"
            ) from exc


class _CheckedStdout:
    """Standard output for a command's text: a failed write names it.

    Wraps ``sys.stdout`` (``None`` when it was closed with ``>&-``, where
    ``click.echo`` used to drop everything and the command exited 0). A
    write to a closed stdout, and an OSError of a write or flush (``>
    /dev/full``: it carries no file name, so the message named nothing, or
    the input), are one :class:`~convcli.errors.ConvcliError` naming
    standard output. A closed pipe stays a BrokenPipeError (exit 141).
    Everything else is the wrapped stream's.
    """

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def _failed(self, exc: OSError) -> ConvcliError:
        from ..images.atomic import stdout_error

        _silence_stdout()  # what it holds can never be written: drop it
        return stdout_error(exc)

    def write(self, text: str) -> int:
        if not isinstance(text, str):  # as a text stream: Click probes with b""
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if not text:  # Click probes with "" too: touch nothing (on /dev/full it fails)
            return 0
        if self._stream is None:
            raise ConvcliError(
                "standard output is closed; redirect it to a file or a pipe to see the output"
            )
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def flush(self) -> None:
        if self._stream is None:
            return
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._failed(exc) from None

    def isatty(self) -> bool:
        from ..output import is_terminal

        return is_terminal(self._stream)

    @property
    def buffer(self) -> Any:
        if self._stream is None:
            raise ConvcliError("standard output is closed; give -o FILE")
        return self._stream.buffer

    def __getattr__(self, name: str) -> Any:
        if self._stream is None:
            if name == "encoding":
                return "utf-8"
            if name == "errors":
                return "strict"
            raise AttributeError(name)
        return getattr(self._stream, name)


@contextlib.contextmanager
def _checked_stdout() -> Iterator[None]:
    """Run a command with :class:`_CheckedStdout` as ``sys.stdout``, flushed before it is done."""
    original = sys.stdout
    checked = _CheckedStdout(original)
    sys.stdout = checked
    try:
        yield
        checked.flush()
    finally:
        if sys.stdout is checked:
            sys.stdout = original


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so the final flush cannot fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def error_text(exc: BaseException) -> str:
    """One line for an exception: OSErrors name their file, others their message."""
    if isinstance(exc, OSError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc}"
    return str(exc)


def debug_enabled(ctx: click.Context | None = None) -> bool:
    """Return True when ``--debug`` was given, before or after the command's name.

    ``CONVCLI_DEBUG`` set in the environment counts too.
    """
    if os.environ.get("CONVCLI_DEBUG"):
        return True
    ctx = ctx or click.get_current_context(silent=True)
    if ctx is None:
        return False
    return bool(ctx.meta.get("convcli.debug") or ctx.find_root().params.get("debug"))


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    """``--version``: the installed version, then which engine runs and why."""
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from ..engine.native import describe

    click.echo(f"convcli, version {version('convcli')}")
    click.echo(describe())
    ctx.exit()


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=True,
    callback=_print_version,
    help="Show the version and the engine (native ISA or numpy, and why), and exit.",
)
@click.option("--debug", is_flag=True, help="Show the full traceback when something fails.")
def cli(debug: bool) -> None:
    """Image filtering and convolution arithmetic from the command line.

    Filter images with named or your own kernels, pool them, compute the
    output sizes of convolution layers and whole networks, and step through
    the arithmetic of a convolution.

    \b
    Example:
      convcli filter sample_images/camera.png -k sobel -o edges.png
      convcli shape --in 224 --k 11 --s 4 --p 2
    """  # noqa: D301 - click's \b (no-rewrap marker) is a real backspace


def main() -> None:  # pragma: no cover - console-script shim
    """Run the ``convcli`` group under its own name."""
    cli(prog_name="convcli")


if __name__ == "__main__":  # pragma: no cover
    sys.exit(cli())

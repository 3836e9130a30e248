"""The ``corrtrack`` command line: one module per group of commands, all registered on one typer app.

* ``data``: convert, render, info
* ``evaluate``: eval
* ``synth``: synth, simulate-detections
* ``demo``: demo
* ``track``: track (the pipeline on videos, image folders and PoseTrack data sets)
* ``train``: train pose, corr, detector
* ``show``: show-corr (the correspondence picture)
* ``experiment``: experiment (the paper's Tables 1 and 2, ablations and baselines on SynthTrack)
"""

from __future__ import annotations

import sys

from corrtrack.cli import data, demo, evaluate, experiment, show, synth, track, train  # noqa: F401  (they register commands)
from corrtrack.cli.app import app

__all__ = ["app", "main"]


class Terminated(BaseException):
    """Raised in the main thread by SIGTERM so that ``finally`` blocks remove temporary files."""


def _on_sigterm(signum: int, frame: object) -> None:
    raise Terminated()


def _say(message: str) -> None:
    print(f"error: {message}", file=sys.stderr)


def main() -> None:
    """Console entry point: every failure ends in one line on stderr and a non-zero exit code.

    Exit codes: 2 for bad input or options, 1 for a fault of the environment (a full
    disk, a permission) or an internal error, 130 when interrupted (Ctrl-C), 143 when
    terminated (SIGTERM). ``--debug`` shows the traceback of an unexpected error. The SIGTERM
    handler is only installed while the command runs.
    """
    import signal

    previous = signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _run()
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run() -> None:
    import typer

    from corrtrack.config import ConfigError
    from corrtrack.errors import CorrtrackError

    try:
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _say("interrupted")
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: bad options and arguments
        fmt = getattr(exc, "format_message", None)
        message = " ".join((fmt() if fmt else str(exc)).split())
        ctx = getattr(exc, "ctx", None)
        hint = f" (see '{ctx.command_path} --help')" if ctx is not None else ""
        _say(f"{message}{hint}")
        sys.exit(getattr(exc, "exit_code", 2))
    except CorrtrackError as exc:
        _say(str(exc))
        sys.exit(exc.exit_code)
    except ConfigError as exc:
        _say(str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        _say("interrupted")
        sys.exit(130)
    except Terminated:
        _say("terminated")
        sys.exit(143)
    except MemoryError:
        _say("out of memory")
        sys.exit(1)
    except OSError as exc:
        name = f"{exc.filename}: " if getattr(exc, "filename", None) else ""
        _say(f"{name}{exc.strerror or exc}")
        sys.exit(1)
    except Exception as exc:
        if "--debug" in sys.argv[1:]:
            raise
        _say(f"internal error ({type(exc).__name__}: {exc}); run with --debug for the traceback")
        sys.exit(1)

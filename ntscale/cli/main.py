"""The `ntscale` command: sub-commands are registered from their own modules."""

from __future__ import annotations

import logging
import os
import sys
from typing import Annotated, Any

import typer

from ntscale import __version__
from ntscale.errors import ConfigError, Interrupted, NtscaleError

app = typer.Typer(
    name="ntscale",
    help="Run Nucleotide Transformer models over genomes and haplotypes into Zarr stores.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

_state = {"debug": False}


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"ntscale {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    verbose: Annotated[
        int, typer.Option("--verbose", "-v", count=True, help="More log output (-v, -vv).")
    ] = 0,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version_callback, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """ntscale: Nucleotide Transformer embeddings and variant scores at genome scale."""
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    if verbose == 0:
        level = _env_log_level(level)
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # huggingface_hub prints its warnings through its own handler; passing them on to ours as
    # well printed each one twice.
    logging.getLogger("huggingface_hub").propagate = False
    _state["debug"] = debug or verbose >= 2
    # before any command imports JAX: compiled programs are reused across processes
    from ntscale.cli.compile_cache import enable_compile_cache

    enable_compile_cache()


LOG_LEVEL_ENV = "NTSCALE_LOG_LEVEL"
"""Log level when no -v is given (INFO, DEBUG, ...): submitted jobs set INFO so that their
logs carry the run's progress and summary lines."""


def _env_log_level(default: int) -> int:
    name = os.environ.get(LOG_LEVEL_ENV, "").strip().upper()
    if not name:
        return default
    if name not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(
            f"{LOG_LEVEL_ENV}={name!r} is not a log level; use DEBUG, INFO, WARNING or ERROR"
        )
    return getattr(logging, name)


def _register_commands() -> None:
    """Import the modules that add sub-commands to `app` (each owns one command group)."""
    import importlib
    import pkgutil

    import ntscale.cli as pkg

    for info in pkgutil.iter_modules(pkg.__path__):
        if info.name.startswith("cmd_"):
            importlib.import_module(f"ntscale.cli.{info.name}")


def cli_command() -> Any:
    """The click command tree of `ntscale`, with the help text tidied (cli/helptext.py)."""
    from ntscale.cli.helptext import tidy_command

    _register_commands()
    cmd = typer.main.get_command(app)
    tidy_command(cmd)
    return cmd


# Options whose value is optional: given bare, they take this value (click options cannot).
_BARE_OPTION_VALUES = {"--ray": "local"}


def _expand_bare_options(argv: list[str]) -> list[str]:
    out = []
    for i, arg in enumerate(argv):
        bare = i + 1 == len(argv) or argv[i + 1].startswith("-")
        if arg in _BARE_OPTION_VALUES and bare:
            out.append(f"{arg}={_BARE_OPTION_VALUES[arg]}")
        else:
            out.append(arg)
    return out


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the CLI; print ntscale errors without a traceback and exit non-zero."""
    args = _expand_bare_options(list(sys.argv[1:] if argv is None else argv))
    try:
        code = cli_command().main(args=args, prog_name="ntscale", standalone_mode=False)
        # Without standalone mode, click returns (does not raise) a typer.Exit's code.
        if isinstance(code, int) and code != 0:
            sys.exit(code)
    except Interrupted as err:  # not an error of the input: no "error:" prefix, no traceback
        typer.secho(str(err), fg=typer.colors.YELLOW, err=True)
        sys.exit(err.exit_code)
    except NtscaleError as err:
        if _state["debug"]:
            raise
        typer.secho(f"error: {err}", fg=typer.colors.RED, err=True)
        sys.exit(err.exit_code)
    except typer.Exit as e:
        sys.exit(e.exit_code)
    except typer.Abort:
        typer.secho("aborted", err=True)
        sys.exit(130)
    except Exception as err:  # usage errors come here in non-standalone mode
        # typer may bundle its own click: recognise its exceptions by shape, not by class.
        if hasattr(err, "show") and isinstance(getattr(err, "exit_code", None), int):
            err.show()
            sys.exit(err.exit_code)
        if _state["debug"]:
            raise
        from ntscale.store.backend import cloud_setup_error

        setup = cloud_setup_error(err)  # object store unreachable / no credentials
        if setup is not None:
            typer.secho(f"error: {setup}", fg=typer.colors.RED, err=True)
            sys.exit(setup.exit_code)
        # Last resort: an exception no boundary turned into an ntscale error is still one
        # line (exit 1, not 2: it is ntscale's fault until shown otherwise).
        typer.secho(
            f"error: unexpected {type(err).__name__}: {err}; rerun with --debug for the "
            "traceback, and please report it",
            fg=typer.colors.RED,
            err=True,
        )
        sys.exit(1)

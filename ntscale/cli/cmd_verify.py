"""`ntscale verify`: re-read every chunk of a store against the per-unit checksums."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ntscale.cli.main import app


def _lines(report: dict) -> list[str]:
    out = []
    parts = [part for part in ("windows", "variants", "bases") if part in report]
    for part in parts:
        if report[part]["units_total"] == 0 and len(parts) > 1:
            continue  # a score (per-base) store has no window rows: no "windows: 0 of 0" line
        p = report[part]
        out.append(
            f"{part}: {p['units_ok']} of {p['units_total']} units intact, "
            f"{len(p['damaged'])} damaged, {len(p['not_done'])} not done"
        )
        for d in p["damaged"]:
            lo, hi = d["rows"]
            out.append(f"  damaged {part[:-1]} unit {d['unit']} (rows {lo}-{hi}): {d['reason']}")
    return out


@app.command()
def verify(
    store: Annotated[str, typer.Argument(help="The Zarr store (path or fsspec URL).")],
    json_out: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="Clear the done marks of damaged units, so that running the same "
            "command again redoes them.",
        ),
    ] = False,
) -> None:
    """Re-read every done unit of a store and check it against its checksum.

    Exit 0 when every unit is done and intact, 1 when a unit is damaged or not done.
    """
    from ntscale.store.verify import verify as verify_store

    report = verify_store(store, repair=repair)
    if json_out:
        typer.echo(json.dumps(report, indent=1))
    else:
        for line in _lines(report):
            typer.echo(line)
        if report["repaired"]:
            typer.echo(
                f"cleared the done marks of {report['repaired']} damaged units; run the same "
                "command again to redo them"
            )
        elif any(report[p]["damaged"] for p in ("windows", "variants", "bases") if p in report):
            typer.echo(
                f"run `ntscale verify {store} --repair`, then the command that made the store, "
                "to redo the damaged units"
            )
        elif not report["ok"]:
            typer.echo("run the command that made the store again to finish the units not done")
        else:
            typer.echo("store intact: every unit is done and matches its checksum")
    # SystemExit, not typer.Exit: the CLI runs click in non-standalone mode, where an Exit
    # code would be returned and dropped.
    raise SystemExit(0 if report["ok"] else 1)

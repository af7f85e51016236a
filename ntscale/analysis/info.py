"""What a store holds, for `ntscale info`: job, model, settings, progress, statuses, coverage.

Reads only the root attributes and the status rows (`ntscale.store.store_summary`), never
the embeddings, so it is instant on a store of any size, and it works on a store that is
still running or was interrupted (units not yet done count as pending).
"""

from __future__ import annotations

from typing import Any

from ntscale.genome.coverage import format_coverage

SETTING_KEYS = ("window_bp", "stride_bp", "strands", "last_window", "gap_aware", "max_tokens")


def store_info(url: str) -> dict[str, Any]:
    """A JSON-ready description of the store at `url`.

    Raises:
        StoreError: nothing readable at `url` (from `ntscale.store`).
    """
    from ntscale.store import open as open_store
    from ntscale.store import store_summary

    summary = store_summary(url)
    ds = open_store(url)
    attrs = dict(ds.attrs)
    model = attrs.get("model") or {}
    config = attrs.get("config") or {}
    settings = {k: v for k, v in (attrs.get("windows") or {}).items() if k in SETTING_KEYS}
    for key in ("layers", "scores", "window_mode", "window_bp", "strands"):
        if key in config and key not in settings:
            settings[key] = config[key]
    if "layer" in ds.coords:  # the layers kept (the config's empty list means "the last")
        settings["layers"] = [int(x) for x in ds["layer"].values]
    settings.update(scoring_settings(attrs))
    state = "finished" if summary["complete"] else "incomplete: running or interrupted"
    return {
        "store": str(url),
        "state": state,
        "job": attrs.get("job"),
        "model": {
            "name": model.get("name"),
            "source": model.get("source"),
            "dtype": model.get("dtype"),
            "checkpoint_digest": model.get("checkpoint_digest"),
        },
        "inputs": {
            "fasta": (attrs.get("fasta") or {}).get("name"),
            "vcf": (attrs.get("vcf") or {}).get("name") if attrs.get("vcf") else None,
        },
        "settings": settings,
        "windows": summary.get("windows"),
        "variants": summary.get("variants"),
        "bases": summary.get("bases"),
        "coverage": attrs.get("coverage"),
        "perbase_coverage": attrs.get("perbase_coverage"),
        "perbase_haplotypes": attrs.get("perbase_haplotypes"),
        "last_run": attrs.get("last_run"),
        "command_line": attrs.get("command_line"),
    }


SCORING_KEYS = ("window_bp", "window_mode", "strands", "layers", "preset", "preset_departures",
                "collapse_n", "calibrate", "tiling", "stride_bp", "tiles")  # fmt: skip


def scoring_settings(attrs: dict[str, Any]) -> dict[str, Any]:
    """Settings of a score or track store as the run resolved them (root attr `scoring`):
    the window in bp (not the config's None = "max"), the layers used, the preset."""
    scoring = attrs.get("scoring") or {}
    out = {k: scoring[k] for k in SCORING_KEYS if k in scoring}
    if "score_names" in scoring:
        out["scores"] = list(scoring["score_names"])
    if out.get("preset") is None:
        out.pop("preset", None)
        out.pop("preset_departures", None)
    elif not out.get("preset_departures"):
        out["preset_departures"] = "none"
    return out


def _part_line(name: str, part: dict[str, Any] | None) -> list[str]:
    if not part or not part.get("rows"):
        return []
    statuses = ", ".join(f"{k} {v:,}" for k, v in sorted(part["by_status"].items()))
    lines = [
        f"{name}: {part['rows_done']:,} of {part['rows']:,} rows done, units "
        f"{part['units_done']:,}/{part['units_total']:,}",
        f"  by status: {statuses}",
    ]
    if "haplotypes" in part:  # cohort store: rows are (window, haplotype) pairs
        lines.append(
            f"  cohort: {part['window_rows']:,} window rows x {part['haplotypes']:,} "
            f"haplotypes, {part['sequences_stored']:,} distinct sequences stored"
        )
    return lines


def format_info(info: dict[str, Any]) -> str:
    """The human-readable text of `store_info`."""
    model = info["model"]
    lines = [
        f"store: {info['store']}  ({info['state']})",
        f"job: {info['job']}",
        f"model: {model['name']} ({model['dtype']}), from {model['source']}",
        "inputs: " + ", ".join(f"{k} {v}" for k, v in info["inputs"].items() if v),
        "settings: " + ", ".join(f"{k}={v}" for k, v in info["settings"].items()),
    ]
    lines += _part_line("windows", info.get("windows"))
    lines += _part_line("bases" if info["job"] == "tracks" else "variants", info.get("variants"))
    bases, pcov = info.get("bases"), info.get("perbase_coverage")
    if bases:
        lines.append(
            f"bases: {bases['rows_done']:,} of {bases['rows']:,} rows done, units "
            f"{bases['units_done']:,}/{bases['units_total']:,}"
        )
    if pcov:
        lines.append(
            f"coverage: {pcov['valued_bases']:,} of {pcov['real_bases']:,} real bases valued "
            f"({100 * pcov['fraction_valued']:.4f}%), {pcov['n_too_short']:,} interval(s) "
            "too short for the model"
        )
    phap = info.get("perbase_haplotypes")
    if phap:
        lines.append(
            f"haplotypes: {phap['n_haplotypes']:,} from {phap['vcf']}, values in reference "
            "coordinates, each distinct window sequence stored once "
            "(ntscale.store.haplotype_perbase)"
        )
    if bases and "haplotype_rows_stored" in bases:
        dense = bases["rows_done"] * bases["haplotypes"]
        lines.append(
            f"haplotype values stored: {bases['haplotype_rows_stored']:,} rows for "
            f"{dense:,} (base, haplotype) pairs done"
            + (f" ({bases['haplotype_rows_stored'] / dense:.2%})" if dense else "")
        )
    cov = info.get("coverage")
    if cov:
        lines.append(format_coverage(cov))
        for item in cov.get("uncovered", [])[:10]:
            lines.append(
                f"  uncovered {item['contig']}:{item['start']}-{item['end']} "
                f"({item['track']}): {item['reason']}"
            )
        if cov.get("n_uncovered_intervals", 0) > 10:
            lines.append(f"  ... {cov['n_uncovered_intervals'] - 10:,} more (--json lists 100)")
    elif info["job"] in ("embed", "tracks"):
        lines.append("coverage: not recorded yet (written when a run finishes)")
    run = info.get("last_run")
    if run:
        # what a row is: windows (embed), variants (score) or bases (tracks)
        what = next((k[: -len("_run")] for k in run if k.endswith("_run") and k != "units_run"),
                    "windows")  # fmt: skip
        rate = run.get(f"{what}_per_second")
        lines.append(
            f"last run: {run.get('units_run', 0):,} units, {run.get(what + '_run', 0):,} "
            f"{what} in {run.get('seconds', 0)} s (model {run.get('model_seconds', 0)} s)"
            + (f", {rate} {what}/s" if rate else "")
        )
    else:
        lines.append("last run: none finished yet")
    return "\n".join(lines)

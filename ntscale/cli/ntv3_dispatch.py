"""NTv3 branches of the job commands: `score` and `embed` with an NTv3 model plan the
single-base NTv3 jobs (`ntscale.runner.ntv3_score`, `ntscale.runner.ntv3_embed`), which
then run, resume, dry-run and export like any other job."""

from __future__ import annotations

import dataclasses
from typing import Any

from ntscale.errors import ConfigError


def is_ntv3_model(source: str | None) -> bool:
    """Whether a --model value is a published NTv3 name or a folder of an NTv3 config."""
    from ntscale.model.ntv3 import is_ntv3_source

    return is_ntv3_source(source)


def reject_ntv3_options(settings: dict) -> None:
    """ConfigError if NTv3-only options were given for another model."""
    given = [k for k in ("species", "track_names") if settings.get(k) is not None]
    if given:
        raise ConfigError(f"{', '.join(given)} apply to NTv3 models only")


def check_keys(settings: dict, allowed: set[str], *, command: str) -> None:
    """ConfigError naming the given settings an NTv3 `command` does not use."""
    other = sorted(k for k, v in settings.items() if v is not None and k not in allowed)
    if other:
        raise ConfigError(
            f"{command} with an NTv3 model takes {', '.join(sorted(allowed))}; "
            f"{', '.join(other)} do not apply to it"
        )


def _allowed(config_cls: type, unused: dict[str, Any]) -> set[str]:
    """Settings an NTv3 job takes: its config's fields but the unused ones, execution's."""
    from ntscale.config import ExecutionConfig

    fields = {f.name for f in dataclasses.fields(config_cls)} - set(unused) - {"execution"}
    return fields | {f.name for f in dataclasses.fields(ExecutionConfig)}


def ntv3_score_job(settings: dict, *, source: str, command_line: str) -> Any:
    """`ntscale score --model NTv3_...`: the planned `NTv3ScoreJob`."""
    from ntscale.config import ScoreConfig, build_config
    from ntscale.runner.ntv3_score import UNUSED, NTv3ScoreJob

    check_keys(settings, _allowed(ScoreConfig, UNUSED), command="score")
    if not settings.get("scores"):
        settings = {**settings, "scores": ("llr_masked",)}
    cfg = build_config(ScoreConfig, settings, source=source)
    return NTv3ScoreJob.plan_from_config(cfg, command_line=command_line)


def ntv3_embed_job(settings: dict, *, source: str, command_line: str) -> Any:
    """`ntscale embed --model NTv3_...`: the planned `NTv3EmbedJob` (pooled and, with
    --per-token, per-base embeddings of block-rounded windows over the N-free genome)."""
    from ntscale.config import EmbedConfig, build_config
    from ntscale.runner.ntv3_embed import UNUSED, NTv3EmbedJob

    check_keys(settings, _allowed(EmbedConfig, UNUSED), command="embed")
    cfg = build_config(EmbedConfig, settings, source=source)
    return NTv3EmbedJob.plan_from_config(cfg, command_line=command_line)

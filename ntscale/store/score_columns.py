"""Columns and VCF header lines that exports derive from a score store's attributes.

Kept apart from the export writers so that the score conventions (signs, calibrated
percentiles, tiled-window positions) and the run's provenance live in one place.

Sign conventions: every `llr*` score is log p(alt) - log p(ref) (natural log), so a
negative value means the model finds ALT less likely than REF. TraitGym ranks Mendelian
variants by -LLR and complex-trait variants by |LLR|: exports add `minus_<llr>` and
`abs_<llr>` beside each strand-averaged LLR.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pandas as pd

LLR_SCORES = ("llr_masked", "llr_wt")


def add_sign_columns(frame: pd.DataFrame) -> pd.DataFrame:
    """`minus_<llr>` (= -llr) and `abs_<llr>` (= |llr|) after the strand-averaged LLRs."""
    for name in LLR_SCORES:
        if name in frame.columns:
            values = frame[name].to_numpy(np.float32)
            frame[f"minus_{name}"] = -values
            frame[f"abs_{name}"] = np.abs(values)
    return frame


def provenance_lines(attrs: dict[str, Any]) -> list[str]:
    """`##ntscale...` VCF header lines: how the scores were made, from the root attrs."""
    scoring = attrs.get("scoring") or {}
    model = attrs.get("model") or {}
    config = attrs.get("config") or {}
    lines = []
    fields = {
        "ntscaleWindow": scoring.get("window_bp"),
        "ntscaleWindowMode": scoring.get("window_mode"),
        "ntscaleStrands": scoring.get("strands"),
        "ntscaleDtype": model.get("dtype"),
        "ntscaleModelName": model.get("name"),
        "ntscaleModelDigest": model.get("checkpoint_digest"),
        "ntscalePreset": scoring.get("preset") or "none",
        "ntscaleCollapseN": scoring.get("collapse_n"),
        "ntscaleLayers": ",".join(str(x) for x in scoring.get("layers") or []),
        "ntscaleScores": ",".join(scoring.get("score_names") or []),
        "ntscaleLlrSign": scoring.get("llr_sign"),
        "ntscaleLogProbabilities": scoring.get("log_probabilities"),
        "ntscaleBatchSize": (config.get("execution") or {}).get("batch_size"),
        "ntscaleCommand": attrs.get("command_line"),
    }
    for key, value in fields.items():
        if value is not None and value != "":
            lines.append(f"##{key}={_one_line(value)}")
    for name, doc in sorted((scoring.get("score_docs") or {}).items()):
        lines.append(f"##ntscaleScoreDefinition={name}: {_one_line(doc)}")
    return lines


def _one_line(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return " ".join(str(text).split())


__all__ = ["LLR_SCORES", "add_sign_columns", "provenance_lines"]

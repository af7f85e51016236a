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


CALIBRATED = {"llr_wt": "stratum_llr_wt"}
"""Calibrated score -> the per-row array holding its background stratum."""


def percentiles(values: np.ndarray, stratum: np.ndarray, table: dict[str, Any]) -> np.ndarray:
    """Percentile (0-100) of each value among its stratum's background.

    `table` is a stored calibration entry: {"levels": [L], "quantiles": {stratum: [L]}}.
    The CDF between stored quantiles is linear; NaN where the value or its stratum's
    background is missing.
    """
    levels = np.asarray(table["levels"], np.float64)
    quantiles = {int(k): np.asarray(v, np.float64) for k, v in table["quantiles"].items()}
    out = np.full(len(values), np.nan, np.float32)
    for i, (x, s) in enumerate(zip(values, stratum, strict=True)):
        if not (np.isfinite(x) and np.isfinite(s)) or int(s) not in quantiles:
            continue
        q = quantiles[int(s)]
        # mid-rank between equal quantiles (a point mass) keeps ties unbiased
        lo = np.interp(x, q, levels, left=0.0, right=100.0)
        hi = 100.0 - np.interp(-x, -q[::-1], 100.0 - levels[::-1], left=0.0, right=100.0)
        out[i] = (lo + hi) / 2
    return out


def add_calibrated_columns(frame: pd.DataFrame, attrs: dict[str, Any]) -> pd.DataFrame:
    """`<score>_pct` for every calibrated score of the store (root attr `calibration`)."""
    calibration = attrs.get("calibration") or {}
    for name, stratum_col in CALIBRATED.items():
        if name in calibration and name in frame.columns and stratum_col in frame.columns:
            frame[f"{name}_pct"] = percentiles(
                frame[name].to_numpy(np.float64),
                frame[stratum_col].to_numpy(np.float64),
                calibration[name],
            )
            labels = calibration[name].get("labels") or {}
            frame[f"{stratum_col}_label"] = stratum_labels(frame[stratum_col].to_numpy(), labels)
    return frame


def stratum_labels(strata: np.ndarray, labels: dict[str, str]) -> np.ndarray:
    """Readable labels of stored strata, from the store's `calibration.<score>.labels`
    (written by the run: `scoring.calibration.stratum_label`); '' where NaN or unlabelled."""
    out = np.full(len(strata), "", dtype=object)
    for i, s in enumerate(np.asarray(strata, np.float64)):
        if np.isfinite(s):
            out[i] = labels.get(str(int(s)), "")
    return out


__all__ = [
    "CALIBRATED",
    "LLR_SCORES",
    "add_calibrated_columns",
    "add_sign_columns",
    "percentiles",
    "provenance_lines",
]

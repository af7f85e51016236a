"""Named score protocols: settings that reproduce a published benchmark's scoring.

`traitgym` is the Nucleotide Transformer protocol of TraitGym (Benegas et al. 2025,
github.com/songlab-cal/TraitGym, workflow/scripts/run_vep_llr_nucleotide_transformer.py
and run_vep_embeddings_nucleotide_transformer.py): a 5,994 bp window centred on the
variant (999 six-mers, the variant at base 3 of the central 6-mer forward, base 2 on the
reverse complement), N-containing 6-mers collapsed to one N token, the masked-marginal
LLR at the central 6-mer, and the flattened token x dim distances of the last layer
(Euclidean, cosine, inner product), every score averaged over both strands, in float32.
A preset fills the settings a run does not give; settings given explicitly win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ntscale.errors import ConfigError

SCORE_PRESETS: dict[str, dict[str, Any]] = {
    "traitgym": {
        "window_bp": 5994,
        "window_mode": "centred",
        "strands": "both",
        "scores": ("llr_masked", "flat"),
        "collapse_n": True,
        "dtype": "fp32",
    },
}


def apply_preset(values: Mapping[str, Any]) -> dict[str, Any]:
    """`values` with the named preset's settings filled in where a setting is absent/None.

    Raises:
        ConfigError: an unknown preset name (lists the known ones).
    """
    out = dict(values)
    name = out.get("preset")
    if name is None:
        return out
    if name not in SCORE_PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known presets: {', '.join(SCORE_PRESETS)}")
    execution = out.get("execution") or {}
    for key, value in SCORE_PRESETS[name].items():
        if out.get(key) is None and execution.get(key) is None:
            out[key] = value
    return out


def preset_departures(values: Mapping[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Settings given explicitly that differ from the named preset: key -> (given, preset).

    Stored with the run (`scoring.preset_departures`) and printed, so a score labelled with a
    protocol says where it is not that protocol.
    """
    name = values.get("preset")
    if name not in SCORE_PRESETS:
        return {}
    execution = values.get("execution") or {}
    out = {}
    for key, protocol in SCORE_PRESETS[name].items():
        given = values.get(key, execution.get(key))
        if given is None:
            continue
        same = tuple(given) == tuple(protocol) if isinstance(protocol, tuple) else given == protocol
        if not same:
            out[key] = (given, protocol)
    return out


__all__ = ["SCORE_PRESETS", "apply_preset", "preset_departures"]

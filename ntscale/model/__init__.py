"""Nucleotide Transformer v1/v2 in JAX: presets, checkpoints, jitted forward passes.

Public API::

    model = ntscale.model.load("50M_multi_species_v2", dtype="bf16")
    out = model.apply(tokens, layers=(6, 12), logits=True)
    fast = model.compiled(layers=(12,), logits=False, post=mean_pool)  # runner fast path
    info = ntscale.model.describe("50M_multi_species_v2")  # name/digest/config, no params
"""

from ntscale.model.checkpoint import (
    Checkpoint,
    ModelInfo,
    file_digest,
    read_checkpoint,
    read_checkpoint_info,
    save_checkpoint,
)
from ntscale.model.config import (
    HUB_REPOS,
    PRESETS,
    NTConfig,
    config_from_hyperparams,
    get_preset,
    preset_names,
)
from ntscale.model.forward import build_forward
from ntscale.model.ntmodel import (
    CompiledForward,
    NTModel,
    bucket_length,
    describe,
    describe_for_plan,
    init_model,
    load,
    resolve_source,
)
from ntscale.model.params import init_official, params_digest
from ntscale.model.precision import Precision, attention_backend, precision_policy

__all__ = [
    "HUB_REPOS",
    "PRESETS",
    "Checkpoint",
    "CompiledForward",
    "ModelInfo",
    "NTConfig",
    "NTModel",
    "Precision",
    "attention_backend",
    "bucket_length",
    "build_forward",
    "config_from_hyperparams",
    "describe",
    "describe_for_plan",
    "file_digest",
    "get_preset",
    "init_model",
    "init_official",
    "load",
    "params_digest",
    "precision_policy",
    "preset_names",
    "read_checkpoint",
    "read_checkpoint_info",
    "resolve_source",
    "save_checkpoint",
]

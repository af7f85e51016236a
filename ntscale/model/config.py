"""Model hyperparameters (`NTConfig`) and the presets of the published NT-family models.

A checkpoint's own hyperparameters always win over a preset: presets exist so that a
published name can be resolved to a hub repository and so that random-weight models of
the published shapes can be built for tests and benchmarks.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from ntscale.errors import CheckpointError, ConfigError
from ntscale.tokenizer.vocab import vocab_size

Version = Literal["v1", "v2"]

_ACTIVATIONS = ("gelu-no-approx", "gelu", "swish", "silu", "relu")


@dataclass(frozen=True, kw_only=True)
class NTConfig:
    """Hyperparameters of one Nucleotide Transformer.

    Attributes:
        name: model name (a preset name, or a checkpoint directory name).
        version: tokenizer/architecture family, "v1" (learned positions) or "v2" (rotary).
        num_layers: number of transformer blocks L.
        embed_dim: model width D.
        num_heads: attention heads H.
        key_size: per-head width K (H * K need not equal D).
        ffn_dim: feed-forward width F (v2: fc1 has 2F outputs, the first F are the gate).
        vocab_size: embedding rows / logits V (v1 4105, v2 4107).
        max_tokens: longest token sequence the model accepts, CLS included.
        positional: "learned" (table of max_tokens + 2 rows, ESM offsets) or "rotary".
        ffn_activation: "gelu-no-approx" (exact erf GELU), "gelu" (tanh), "swish", "relu".
        use_glu: gated FFN (SwiGLU with "swish").
        ffn_bias: whether fc1/fc2 have biases.
        token_dropout: ESM token-dropout rescaling at inference (v1).
        masking_ratio: training masking ratio used by the token-dropout rescaling.
        masking_prob: probability a masked token became <mask> during training.
        layer_norm_eps: epsilon of every LayerNorm (official 1e-5; HF configs 1e-12).
        embed_scale: multiplier of token embeddings.
        rotary_base: rotary frequency base.
        pad_token_id: id of <pad>.
        mask_token_id: id of <mask>.
        k: bases per k-mer token, the checkpoint's `k_for_kmers` (6; Codon-NT 3).
        rescaling_factor: YaRN factor s of the rotary embeddings (SegmentNT), None for
            none: the rotary base becomes 10000 * s^(K / (K - 2)). See `yarn_factor` for the
            window-dependent override of longer inputs.
        features: names of the per-base tracks of a segmentation (U-Net) head; empty for a
            plain NT. A non-empty tuple makes the model a SegmentNT.
    """

    name: str
    version: Version
    num_layers: int
    embed_dim: int
    num_heads: int
    key_size: int
    ffn_dim: int
    vocab_size: int
    max_tokens: int
    positional: Literal["learned", "rotary"]
    ffn_activation: str
    use_glu: bool
    ffn_bias: bool
    token_dropout: bool
    masking_ratio: float = 0.15
    masking_prob: float = 0.8
    layer_norm_eps: float = 1e-5
    embed_scale: float = 1.0
    rotary_base: float = 10000.0
    pad_token_id: int = 1
    mask_token_id: int = 2
    k: int = 6
    rescaling_factor: float | None = None
    features: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not 1 <= int(self.k) <= 8:
            raise ConfigError(f"k (bases per token) must be in 1..8, got {self.k!r}")
        if self.rescaling_factor is not None and not float(self.rescaling_factor) > 0:
            raise ConfigError(f"rescaling_factor must be positive, got {self.rescaling_factor!r}")
        if self.features and self.positional != "rotary":
            raise ConfigError("a segmentation head (features) needs a rotary (v2) backbone")
        if self.version not in ("v1", "v2"):
            raise ConfigError(f"model version must be 'v1' or 'v2', got {self.version!r}")
        if self.positional not in ("learned", "rotary"):
            raise ConfigError(f"positional must be 'learned' or 'rotary', got {self.positional!r}")
        if self.ffn_activation not in _ACTIVATIONS:
            raise ConfigError(
                f"ffn_activation {self.ffn_activation!r} is not supported; "
                f"use one of {_ACTIVATIONS}"
            )
        for field in (
            "num_layers",
            "embed_dim",
            "num_heads",
            "key_size",
            "ffn_dim",
            "vocab_size",
            "max_tokens",
        ):
            if int(getattr(self, field)) <= 0:
                raise ConfigError(f"{field} must be positive, got {getattr(self, field)!r}")
        if self.positional == "rotary" and self.key_size % 2:
            raise ConfigError(f"rotary embeddings need an even key_size, got {self.key_size}")

    def replace(self, **changes: Any) -> NTConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    @property
    def num_params(self) -> int:
        """Number of parameters of a model with this configuration."""
        d, hk, f, v = self.embed_dim, self.num_heads * self.key_size, self.ffn_dim, self.vocab_size
        fc1_out = 2 * f if self.use_glu else f
        per_layer = 2 * d + 3 * (d * hk + hk) + hk * d + d + 2 * d + d * fc1_out + f * d
        if self.ffn_bias:
            per_layer += fc1_out + d
        total = v * d + self.num_layers * per_layer + 2 * d + d * d + d + 2 * d + d * v + v
        if self.positional == "learned":
            total += (self.max_tokens + 2) * d
        if self.features:
            from ntscale.model.segment_head import head_shapes

            total += sum(
                int(np.prod(s)) for leaves in head_shapes(self).values() for s in leaves.values()
            )
        return total

    @property
    def is_segmentation(self) -> bool:
        """Whether the model carries a per-base U-Net head (SegmentNT)."""
        return bool(self.features)


# SegmentNT was trained on 30 kb (5,001 tokens with CLS) with YaRN over the backbone's 2,048.
YARN_TRAIN_TOKENS = 5001
YARN_BASE_TOKENS = 2048
# SegmentNT generalises to 50 kb: 8,332 6-mers (divisible by 4) + CLS.
SEGMENT_MAX_TOKENS = 8333


def yarn_factor(config: NTConfig, n_tokens: int) -> float | None:
    """The YaRN factor a forward over `n_tokens` (CLS included) uses.

    The reference's rule for SegmentNT: the checkpoint's factor up to the training length
    (5,001 tokens); longer inputs use s = n_tokens / 2048 (the backbone's own length). None
    for a model without rescaling.
    """
    if config.rescaling_factor is None:
        return None
    if n_tokens > YARN_TRAIN_TOKENS:
        return n_tokens / YARN_BASE_TOKENS
    return float(config.rescaling_factor)


def rotary_base(config: NTConfig, n_tokens: int) -> float:
    """Rotary frequency base for an input of `n_tokens`: YaRN-rescaled where it applies."""
    s = yarn_factor(config, n_tokens)
    if s is None:
        return config.rotary_base
    return config.rotary_base * s ** (config.key_size / (config.key_size - 2))


def _v1(name: str, layers: int, dim: int, heads: int, ffn: int) -> NTConfig:
    return NTConfig(
        name=name,
        version="v1",
        num_layers=layers,
        embed_dim=dim,
        num_heads=heads,
        key_size=dim // heads,
        ffn_dim=ffn,
        vocab_size=4105,
        max_tokens=1000,
        positional="learned",
        ffn_activation="gelu-no-approx",
        use_glu=False,
        ffn_bias=True,
        token_dropout=True,
        masking_ratio=0.15,
        masking_prob=0.8,
    )


def _v2(name: str, layers: int, dim: int, heads: int, ffn: int) -> NTConfig:
    return NTConfig(
        name=name,
        version="v2",
        num_layers=layers,
        embed_dim=dim,
        num_heads=heads,
        key_size=dim // heads,
        ffn_dim=ffn,
        vocab_size=4107,
        max_tokens=2048,
        positional="rotary",
        ffn_activation="swish",
        use_glu=True,
        ffn_bias=False,
        token_dropout=False,
        masking_ratio=0.0,
        masking_prob=0.0,
    )


SEGMENT_FEATURES: tuple[str, ...] = (
    "protein_coding_gene",
    "lncRNA",
    "exon",
    "intron",
    "splice_donor",
    "splice_acceptor",
    "5UTR",
    "3UTR",
    "CTCF-bound",
    "polyA_signal",
    "enhancer_Tissue_specific",
    "enhancer_Tissue_invariant",
    "promoter_Tissue_specific",
    "promoter_Tissue_invariant",
)
"""SegmentNT's 14 elements, in the published head's order (its checkpoint lists its own)."""


def _segment(name: str) -> NTConfig:
    """SegmentNT: the NT-v2 500M backbone, YaRN 5001/2048, 14-element U-Net head."""
    return _v2(name, 29, 1024, 16, 4096).replace(
        max_tokens=SEGMENT_MAX_TOKENS,
        rescaling_factor=YARN_TRAIN_TOKENS / YARN_BASE_TOKENS,
        features=SEGMENT_FEATURES,
    )


PRESETS: Mapping[str, NTConfig] = {
    c.name: c
    for c in (
        _v1("500M_human_ref", 24, 1280, 20, 5120),
        _v1("500M_1000G", 24, 1280, 20, 5120),
        _v1("2B5_1000G", 32, 2560, 20, 10240),
        _v1("2B5_multi_species", 32, 2560, 20, 10240),
        _v2("50M_multi_species_v2", 12, 512, 16, 2048),
        _v2("100M_multi_species_v2", 22, 512, 16, 2048),
        _v2("250M_multi_species_v2", 24, 768, 16, 3072),
        _v2("500M_multi_species_v2", 29, 1024, 16, 4096),
        # the rest of the NT family (shapes from the model cards; a checkpoint's own wins)
        _segment("segment_nt"),
        _segment("segment_nt_multi_species"),
        _v1("1B_agro_nt", 40, 1500, 20, 5120).replace(max_tokens=1024),
        _v2("codon_nt", 12, 512, 16, 2048).replace(k=3, vocab_size=vocab_size("v2", 3)),
    )
}

HUB_REPOS: Mapping[str, str] = {
    "500M_human_ref": "InstaDeepAI/nucleotide-transformer-500m-human-ref",
    "500M_1000G": "InstaDeepAI/nucleotide-transformer-500m-1000g",
    "2B5_1000G": "InstaDeepAI/nucleotide-transformer-2.5b-1000g",
    "2B5_multi_species": "InstaDeepAI/nucleotide-transformer-2.5b-multi-species",
    "50M_multi_species_v2": "InstaDeepAI/nucleotide-transformer-v2-50m-multi-species",
    "100M_multi_species_v2": "InstaDeepAI/nucleotide-transformer-v2-100m-multi-species",
    "250M_multi_species_v2": "InstaDeepAI/nucleotide-transformer-v2-250m-multi-species",
    "500M_multi_species_v2": "InstaDeepAI/nucleotide-transformer-v2-500m-multi-species",
    "segment_nt": "InstaDeepAI/segment_nt",
    "segment_nt_multi_species": "InstaDeepAI/segment_nt_multi_species",
    "1B_agro_nt": "InstaDeepAI/agro-nucleotide-transformer-1b",
    "codon_nt": "InstaDeepAI/nucleotide-transformer-v2-50m-3mer-multi-species",
}


def preset_names() -> tuple[str, ...]:
    """Names of the published models, in preset order."""
    return tuple(PRESETS)


REQUIRED: Any = object()


def typed_value(
    cfg: Mapping[str, Any],
    key: str,
    kind: Callable[[Any], Any],
    *,
    path: str,
    default: Any = REQUIRED,
    what: str = "hyperparameter",
) -> Any:
    """`cfg[key]` converted by `kind` (int, float), or `default` when absent or null, so
    that a bad value in a checkpoint's JSON is reported with its file and key.

    Raises:
        CheckpointError: the key is missing (no default) or its value does not convert.
    """
    value = cfg.get(key)
    if value is None:
        if default is REQUIRED:
            raise CheckpointError(f"{path}: {what} {key!r} is missing")
        return default
    try:
        return kind(value)
    except (TypeError, ValueError):
        raise CheckpointError(
            f"{path}: {what} {key!r} must be a number ({kind.__name__}), got {value!r}"
        ) from None


def name_list(
    cfg: Mapping[str, Any], key: str, *, path: str, label: str | None = None
) -> tuple[str, ...]:
    """A list of names (`features`, `bed_elements_names`) from a checkpoint's JSON.

    Raises:
        CheckpointError: the value is not a list (names file and key, or `label`).
    """
    value = cfg.get(key) or ()
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise CheckpointError(
            f"{path}: {label or repr(key)} must be a list of names, got {value!r}"
        )
    return tuple(str(v) for v in value)


def get_preset(name: str) -> NTConfig:
    """The configuration of a published model.

    Raises:
        ConfigError: `name` is not a published model (the message lists the valid names).
    """
    for key, cfg in PRESETS.items():
        if key.lower() == name.lower():
            return cfg
    raise ConfigError(f"unknown model {name!r}; published models are: {', '.join(PRESETS)}")


def config_from_hyperparams(hp: Mapping[str, Any], *, name: str, path: str) -> NTConfig:
    """Build a config from an official `jax_model/hyperparams.json` (v1 or v2 key style).

    Missing keys take the reference's defaults (learned positions, exact GELU FFN with
    biases), which is how the v1 files are written.

    Raises:
        CheckpointError: a required key is missing or a feature is not supported.
    """

    def need(key: str, kind: Callable[[Any], Any] = int, default: Any = REQUIRED) -> Any:
        return typed_value(hp, key, kind, path=path, default=default)

    if hp.get("emb_layer_norm_before", False):
        raise CheckpointError(f"{path}: emb_layer_norm_before=true is not supported")
    for flag in ("add_bias_kv", "mask_before_attention"):
        if hp.get(flag, False):
            raise CheckpointError(f"{path}: {flag}=true is not supported")
    rotary = bool(hp.get("use_rotary_embedding", False))
    pos = hp.get("positional_embedding", "learned")
    if not rotary and pos != "learned":
        raise CheckpointError(f"{path}: positional_embedding {pos!r} is not supported")
    embed_dim = need("embed_dim")
    heads = need("attention_heads")
    # the reference reads `key_dim` (AgroNT files); v2 files name it `key_size`
    key_size = need("key_dim" if "key_dim" in hp else "key_size", int, None)
    version: Version = "v2" if rotary else "v1"
    k = need("k_for_kmers", int, 6)
    # the reference sizes the vocabulary from its tokenizer (version and k), not the file
    try:
        vocab = vocab_size(version, k) if "k_for_kmers" in hp else need("alphabet_size")
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from e
    features = name_list(hp, "features", path=path)
    max_tokens = need("max_positions")
    if features:  # SegmentNT runs up to 50 kb (rotary: the file's value bounds nothing)
        max_tokens = max(max_tokens, SEGMENT_MAX_TOKENS)
    factor = need("rescaling_factor", float, None)
    try:
        return NTConfig(
            name=name,
            version=version,
            num_layers=need("num_layers"),
            embed_dim=embed_dim,
            num_heads=heads,
            key_size=key_size if key_size is not None else embed_dim // heads,
            ffn_dim=need("ffn_embed_dim"),
            vocab_size=vocab,
            max_tokens=max_tokens,
            positional="rotary" if rotary else "learned",
            ffn_activation=str(hp.get("ffn_activation_name", "gelu-no-approx")),
            use_glu=bool(hp.get("use_glu_in_ffn", False)),
            ffn_bias=bool(hp.get("add_bias_ffn", True)),
            token_dropout=bool(hp.get("token_dropout", False)),
            masking_ratio=need("masking_ratio", float, 0.0),
            masking_prob=need("masking_prob", float, 0.0),
            layer_norm_eps=need("layer_norm_eps", float, 1e-5),
            embed_scale=need("embed_scale", float, 1.0),
            pad_token_id=need("pad_token_id", int, 1),
            mask_token_id=need("mask_token_id", int, 2),
            k=k,
            rescaling_factor=factor,
            features=features,
        )
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from e


def config_to_hyperparams(config: NTConfig) -> dict[str, Any]:
    """The official `hyperparams.json` content for a config (v2 key style).

    Only the reference's own keys are written, so the reference loader reads the file too;
    `layer_norm_eps` is added only when it differs from the reference's fixed 1e-5.
    """
    hp: dict[str, Any] = {
        "alphabet_size": config.vocab_size,
        "pad_token_id": config.pad_token_id,
        "mask_token_id": config.mask_token_id,
        "max_positions": config.max_tokens,
        "embed_scale": config.embed_scale,
        "emb_layer_norm_before": False,
        "attention_heads": config.num_heads,
        "key_size": config.key_size,
        "embed_dim": config.embed_dim,
        "ffn_embed_dim": config.ffn_dim,
        "num_layers": config.num_layers,
        "positional_embedding": None if config.positional == "rotary" else "learned",
        "lm_head": "roberta",
        "add_bias_kv": False,
        "add_bias_ffn": config.ffn_bias,
        "use_rotary_embedding": config.positional == "rotary",
        "ffn_activation_name": config.ffn_activation,
        "use_glu_in_ffn": config.use_glu,
        "mask_before_attention": False,
        "token_dropout": config.token_dropout,
        "masking_ratio": config.masking_ratio,
        "masking_prob": config.masking_prob,
        "use_gradient_checkpointing": False,
    }
    if config.layer_norm_eps != 1e-5:
        hp["layer_norm_eps"] = config.layer_norm_eps
    hp["k_for_kmers"] = config.k
    if config.key_size != config.embed_dim // config.num_heads:
        hp["key_dim"] = config.key_size  # the name the reference reads
    if config.rescaling_factor is not None:
        hp["rescaling_factor"] = config.rescaling_factor
    if config.features:
        hp["features"] = list(config.features)
    return hp

"""NTv3 hyperparameters (`NTv3Config`), parsed from a Hugging Face ``config.json``, and the
registry of the published NTv3 checkpoints.

NTv3 is a U-Net: a stem convolution, ``num_downsamples`` convolution blocks that halve the
length, a rotary transformer at length T / 2^n, and as many transposed-convolution blocks
with skip connections back to single-base resolution. Post-trained checkpoints add species
conditioning (adaptive layer norms) and functional-track (bigWig) and annotation (BED) heads.

The registry holds what the reference documentation states about each published name
(stage, size, downsamples, trained context, heads); layer widths come from the checkpoint's
own ``config.json`` (they are not published separately), so a name is resolved to its hub
repository and the file decides the shapes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ntscale.errors import CheckpointError, ConfigError
from ntscale.model.config import name_list, typed_value

Stage = Literal["pre", "post"]

#: Single-base vocabulary of every NTv3 checkpoint: 6 special tokens, then the bases.
NTV3_NUM_SPECIAL = 6


@dataclass(frozen=True, kw_only=True)
class NTv3Config:
    """Hyperparameters of one NTv3 model.

    Attributes:
        name: model name (published name or checkpoint folder name).
        vocab_size: token embedding rows / MLM logits V (11 for the published models).
        pad_token_id, mask_token_id: ids of <pad> and <mask>.
        num_downsamples: n; inputs must be a multiple of 2^n bases.
        num_heads, key_size: attention heads H and per-head width K.
        token_embed_dim: token embedding width E.
        conv_init_embed_dim: stem width C (also the width of the output embeddings).
        embed_dim: transformer width D.
        ffn_dim: feed-forward width F (SwiGLU: fc1 has 2F outputs).
        num_layers: transformer blocks.
        layer_norm_eps: epsilon of the transformer layer norms (conv blocks use 1e-5,
            heads 1e-6, as the reference).
        num_hidden_layers_head: hidden layers of the MLM head.
        use_skip_connection: U-Net skip connections.
        conditions_vocab_size: post-trained only: size of the species table (one condition).
        species_to_token_id: post-trained only: species name -> condition token.
        bigwigs_per_species: post-trained only: species -> track names of its bigWig head.
        bed_elements_names: post-trained only: annotation elements of the BED head.
        keep_target_center_fraction: post-trained heads see the centre fraction only.
        num_species_special_tokens: species tokens below this are special (no head).
    """

    name: str
    vocab_size: int = 11
    pad_token_id: int = 1
    mask_token_id: int = 2
    num_downsamples: int = 7
    num_heads: int = 16
    key_size: int = 32
    token_embed_dim: int = 16
    conv_init_embed_dim: int = 512
    embed_dim: int = 512
    ffn_dim: int = 2048
    num_layers: int = 12
    layer_norm_eps: float = 1e-5
    num_hidden_layers_head: int = 0
    use_skip_connection: bool = True
    conditions_vocab_size: int | None = None
    species_to_token_id: Mapping[str, int] = field(default_factory=dict)
    bigwigs_per_species: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    bed_elements_names: tuple[str, ...] = ()
    keep_target_center_fraction: float = 1.0
    num_species_special_tokens: int = NTV3_NUM_SPECIAL

    def __post_init__(self) -> None:
        if self.num_downsamples < 0:
            raise ConfigError(f"num_downsamples must be >= 0, got {self.num_downsamples}")
        if not 0.0 < self.keep_target_center_fraction <= 1.0:
            raise ConfigError(
                f"keep_target_center_fraction must be in (0, 1], "
                f"got {self.keep_target_center_fraction}"
            )
        if (
            self.post_trained
            and self.bigwigs_per_species
            and (self.conv_init_embed_dim != self.embed_dim)
        ):
            raise ConfigError(
                f"post-trained heads need conv_init_embed_dim == embed_dim, got "
                f"{self.conv_init_embed_dim} and {self.embed_dim}"
            )

    @property
    def k(self) -> int:
        """Bases per token: 1 (single-base tokens; the NT families' k is 3 or 6)."""
        return 1

    @property
    def post_trained(self) -> bool:
        """Whether the model has species conditioning (and track/annotation heads)."""
        return self.conditions_vocab_size is not None

    @property
    def block_bp(self) -> int:
        """2^num_downsamples: every input length must be a multiple of this."""
        return 2**self.num_downsamples

    @property
    def filter_list(self) -> tuple[int, ...]:
        """Widths along the down tower, stem width to transformer width (n + 1 values)."""
        widths = np.linspace(self.conv_init_embed_dim, self.embed_dim, self.num_downsamples + 1)
        return tuple(int(w) for w in widths.astype(int))

    @property
    def track_heads(self) -> tuple[str, ...]:
        """Species with a bigWig head, in head order (ascending species token)."""
        return tuple(sorted(self.bigwigs_per_species, key=lambda s: self.species_to_token_id[s]))

    def species_token(self, species: str) -> int:
        """The condition token of a species name.

        Raises:
            ConfigError: not post-trained, or an unknown species (lists the valid ones).
        """
        if not self.post_trained:
            raise ConfigError(f"{self.name}: a pre-trained NTv3 model takes no species")
        valid = sorted(s for s in self.species_to_token_id if not s.startswith("<"))
        if species not in valid:
            raise ConfigError(f"{self.name}: unknown species {species!r}; valid: {valid}")
        return int(self.species_to_token_id[species])

    def head_index(self, species: str) -> int | None:
        """Which bigWig head a species uses (token - special tokens, as the reference), or
        None when that index has no head or the head has no tracks."""
        index = self.species_token(species) - self.num_species_special_tokens
        heads = self.track_heads
        if 0 <= index < len(heads) and self.bigwigs_per_species[heads[index]]:
            return index
        return None

    def tracks_of(self, species: str) -> tuple[str, ...]:
        """Track names predicted for a species (empty when it has no bigWig head)."""
        index = self.head_index(species)
        return () if index is None else tuple(self.bigwigs_per_species[self.track_heads[index]])

    def crop_bounds(self, length: int) -> tuple[int, int]:
        """[start, end) of the centre the heads see in a window of `length` bases (the
        reference crops int((1 - f) * L) // 2 from each side)."""
        crop = int((1.0 - self.keep_target_center_fraction) * length)
        return crop // 2, length - crop // 2

    def check_length(self, length: int) -> None:
        """Raises ConfigError unless `length` is a positive multiple of 2^num_downsamples."""
        if length <= 0 or length % self.block_bp:
            raise ConfigError(
                f"{self.name}: input length {length} is not a positive multiple of "
                f"2^{self.num_downsamples} = {self.block_bp} bases"
            )


def is_ntv3_config(cfg: Mapping[str, Any]) -> bool:
    """Whether a Hugging Face config.json describes an NTv3 model."""
    return "num_downsamples" in cfg or str(cfg.get("model_type", "")).lower().startswith("ntv3")


def ntv3_config_from_hf(cfg: Mapping[str, Any], *, name: str, path: str) -> NTv3Config:
    """Parse an NTv3 ``config.json`` (the key names, and their alternates, the reference's
    parser reads).

    Raises:
        CheckpointError: unsupported settings (names the file and the value).
    """
    upsample = cfg.get("deconv_upsample_type", "conv_transpose")
    if upsample != "conv_transpose":
        raise CheckpointError(
            f"{path}: deconv_upsample_type {upsample!r} is not supported "
            "(only 'conv_transpose', the published models' setting)"
        )

    def num(*keys: str, default: Any, kind: Callable[[Any], Any] = int) -> Any:
        key = next((k for k in keys if k in cfg), keys[0])
        return typed_value(cfg, key, kind, path=path, default=default, what="config key")

    heads = num("attention_heads", "num_attention_heads", default=16)
    embed_dim = num("embed_dim", "hidden_size", default=512)
    key_size = num("key_size", default=None) or embed_dim // heads
    cond = cfg.get("conditions_vocab_size")
    if cond is not None:
        cond = list(cond) if isinstance(cond, (list, tuple)) else [cond]
        if len(cond) != 1:
            raise CheckpointError(
                f"{path}: expected one condition (species), got conditions_vocab_size={cond}"
            )
        cond = typed_value({"conditions_vocab_size": cond[0]}, "conditions_vocab_size", int,
                           path=path, what="config key")  # fmt: skip
    tracks = cfg.get("bigwigs_per_species") or {}
    if not isinstance(tracks, Mapping):
        raise CheckpointError(f"{path}: 'bigwigs_per_species' must map species to track names")
    try:
        return NTv3Config(
            name=name,
            vocab_size=num("alphabet_size", "vocab_size", default=11),
            pad_token_id=num("pad_token_id", default=1),
            mask_token_id=num("mask_token_id", default=2),
            num_downsamples=num("num_downsamples", default=8),
            num_heads=heads,
            key_size=key_size,
            token_embed_dim=num("token_embed_dim", default=16),
            conv_init_embed_dim=num("conv_init_embed_dim", default=512),
            embed_dim=embed_dim,
            ffn_dim=num("ffn_embed_dim", "intermediate_size", default=2048),
            num_layers=num("num_layers", "num_hidden_layers", default=12),
            layer_norm_eps=num("layer_norm_eps", default=1e-5, kind=float),
            num_hidden_layers_head=num("num_hidden_layers_head", default=0),
            use_skip_connection=bool(cfg.get("use_skip_connection", True)),
            conditions_vocab_size=cond,
            species_to_token_id=dict(cfg.get("species_to_token_id", {})),
            bigwigs_per_species={
                str(k): name_list(tracks, k, path=path, label=f"bigwigs_per_species[{k!r}]")
                for k in tracks
            },
            bed_elements_names=name_list(cfg, "bed_elements_names", path=path),
            keep_target_center_fraction=num("keep_target_center_fraction", default=1.0, kind=float),
            num_species_special_tokens=num("num_species_special_tokens", default=6),
        )
    except ConfigError as e:
        raise CheckpointError(f"{path}: {e}") from e


@dataclass(frozen=True, kw_only=True)
class NTv3Published:
    """What the reference documentation states about one published NTv3 checkpoint.

    Attributes:
        name: published name (also the hub repository under InstaDeepAI/).
        stage: "pre" (MLM only) or "post" (MLM + species + tracks + annotation).
        params_m: parameters, millions (as documented).
        num_downsamples: inputs must be multiples of 2^num_downsamples.
        context_bp: longest context it was trained at (the default window).
    """

    name: str
    stage: Stage
    params_m: int
    num_downsamples: int
    context_bp: int

    @property
    def repo(self) -> str:
        """Hugging Face repository id."""
        return f"InstaDeepAI/{self.name}"

    @property
    def heads(self) -> tuple[str, ...]:
        """Outputs: MLM logits and embeddings; post-trained adds species logits, bigWig
        tracks and BED annotation."""
        return ("mlm",) if self.stage == "pre" else ("mlm", "species", "bigwig", "bed")


MB, KB8, KB131 = 2**20, 2**13, 2**17

# name, stage, parameters (M), downsamples, trained context: the reference's model tables
_PUBLISHED = (
    ("NTv3_8M_pre", "pre", 8, 7, MB),
    ("NTv3_100M_pre", "pre", 100, 7, MB),
    ("NTv3_650M_pre", "pre", 650, 7, MB),
    ("NTv3_8M_pre_8kb", "pre", 8, 7, KB8),
    ("NTv3_100M_pre_8kb", "pre", 100, 7, KB8),
    ("NTv3_650M_pre_8kb", "pre", 650, 7, KB8),
    ("NTv3_5downsample_pre", "pre", 592, 5, MB),
    ("NTv3_5downsample_pre_8kb", "pre", 592, 5, KB8),
    ("NTv3_100M_post", "post", 100, 7, MB),
    ("NTv3_650M_post", "post", 650, 7, MB),
    ("NTv3_100M_post_131kb", "post", 100, 7, KB131),
    ("NTv3_650M_post_131kb", "post", 650, 7, KB131),
    ("NTv3_5downsample_post", "post", 592, 5, MB),
    ("NTv3_5downsample_post_131kb", "post", 592, 5, KB131),
)

NTV3_MODELS: Mapping[str, NTv3Published] = {
    name: NTv3Published(
        name=name, stage=stage, params_m=params, num_downsamples=n, context_bp=context
    )
    for name, stage, params, n, context in _PUBLISHED
}


def get_ntv3(name: str) -> NTv3Published:
    """The registry entry of a published NTv3 name (case-insensitive).

    Raises:
        ConfigError: not a published NTv3 name (lists the valid ones).
    """
    for key, entry in NTV3_MODELS.items():
        if key.lower() == name.lower():
            return entry
    raise ConfigError(f"unknown NTv3 model {name!r}; published: {', '.join(NTV3_MODELS)}")


def is_ntv3_name(name: str) -> bool:
    """Whether `name` is a published NTv3 checkpoint."""
    return name.lower() in {k.lower() for k in NTV3_MODELS}

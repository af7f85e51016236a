"""SegmentNT's per-base head: a 1-D U-Net over the final token embeddings, as Haiku modules.

Shapes: B batch, T tokens (CLS included), D embed dim, F features (genomic elements),
N = 6 (T - 1) bases. The head drops the CLS row, runs a U-Net of depth 2 (channels D, 2D;
two kernel-3 convolutions + swish per block, average pooling down, nearest-neighbour x2 up,
skip connections added), a final pair of convolutions back to D channels, swish, and one
dense layer to 6 x 2 x F outputs per token, read as [B, N, F, 2] logits; the probability of
an element at a base is softmax(logits)[..., 1].

The U-Net halves the token axis twice, so the number of DNA tokens (T - 1) must be
divisible by 2^depth = 4 (`check_unet_tokens`). Pad tokens, where a row has them, go through
the U-Net like any token (the reference does not mask them).

Parameter names equal the published checkpoint's (`u_net_head/~/...`), so loading needs no
renaming for the head.
"""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp

from ntscale.model.config import NTConfig
from ntscale.model.modules import Dense
from ntscale.model.precision import Precision

F32 = jnp.float32
HEAD = "u_net_head"
UNET = f"{HEAD}/~/unet1_d_segmentation_head"
UNET_DEPTH = 2
BASES_PER_TOKEN = 6  # the head writes 6 bases per 6-mer token


def unet_channels(config: NTConfig) -> tuple[int, ...]:
    """Channels of the U-Net levels: D, 2D (depth 2)."""
    return tuple(config.embed_dim * 2**i for i in range(UNET_DEPTH))


def check_unet_tokens(n_dna_tokens: int) -> None:
    """Refuse a token count the U-Net cannot halve `UNET_DEPTH` times.

    Raises:
        ValueError: `n_dna_tokens` (CLS excluded) is not a positive multiple of 4.
    """
    step = 2**UNET_DEPTH
    if n_dna_tokens <= 0 or n_dna_tokens % step:
        raise ValueError(
            f"SegmentNT needs a number of DNA tokens (CLS excluded) divisible by {step} "
            f"(U-Net depth {UNET_DEPTH}), got {n_dna_tokens}: use a window of a multiple of "
            f"{step * BASES_PER_TOKEN} bp without N"
        )


def head_shapes(config: NTConfig) -> dict[str, dict[str, tuple[int, ...]]]:
    """Every head parameter of a SegmentNT checkpoint with its shape (official names)."""
    d = config.embed_dim
    chans = unet_channels(config)
    shapes: dict[str, dict[str, tuple[int, ...]]] = {}
    c_in = d
    for i, c in enumerate(chans):
        for j in range(2):
            shapes[f"{UNET}/~/downsample_block_{i}/~/conv{j}"] = {
                "w": (3, c_in if j == 0 else c, c),
                "b": (c,),
            }
        c_in = c
    for i, c in enumerate(reversed(chans)):
        for j in range(2):
            # Conv1DTranspose stores [k, out, in]
            shapes[f"{UNET}/~/upsample_block_{i}/~/conv_transpose{j}"] = {
                "w": (3, c, c_in if j == 0 else c),
                "b": (c,),
            }
        c_in = c
    final = (d // 2) * 2
    for j in range(2):
        shapes[f"{UNET}/~/final_conv1_d/~/conv{j}"] = {
            "w": (3, c_in if j == 0 else final, final),
            "b": (final,),
        }
    shapes[f"{HEAD}/~/fc"] = {
        "w": (final, BASES_PER_TOKEN * 2 * len(config.features)),
        "b": (BASES_PER_TOKEN * 2 * len(config.features),),
    }
    return shapes


class _Block(hk.Module):
    """Two kernel-3 convolutions (transposed in the up path), built in `__init__` so that
    parameter names are the checkpoint's (`block/~/conv0`)."""

    def __init__(self, channels: int, kind: str, dtype: jnp.dtype, name: str) -> None:
        super().__init__(name=name)
        self.kind, self.dtype, self.channels = kind, dtype, channels
        if kind == "up":
            self.convs = [
                hk.Conv1DTranspose(
                    channels, 3, stride=1, padding="SAME", data_format="NWC",
                    name=f"conv_transpose{j}",
                )
                for j in range(2)
            ]  # fmt: skip
        else:
            self.convs = [
                hk.Conv1D(channels, 3, padding="SAME", data_format="NWC", name=f"conv{j}")
                for j in range(2)
            ]

    def __call__(self, x: jax.Array) -> tuple[jax.Array, jax.Array]:
        """Returns (output, skip): down pools by 2, up repeats by 2, final has no swish last."""
        for j, conv in enumerate(self.convs):
            x = conv(x.astype(self.dtype)).astype(F32)
            if self.kind != "final" or j == 0:
                x = jax.nn.swish(x)
        if self.kind == "down":
            b, n, c = x.shape
            return jnp.mean(x.reshape(b, n // 2, 2, c), axis=2), x  # average pool 2
        if self.kind == "up":
            return jnp.repeat(x, 2, axis=1), x  # nearest-neighbour upsampling x2
        return x, x


class _UNet(hk.Module):
    def __init__(self, config: NTConfig, dtype: jnp.dtype) -> None:
        super().__init__(name="unet1_d_segmentation_head")
        chans = unet_channels(config)
        self.down = [_Block(c, "down", dtype, f"downsample_block_{i}") for i, c in enumerate(chans)]
        self.up = [
            _Block(c, "up", dtype, f"upsample_block_{i}") for i, c in enumerate(reversed(chans))
        ]
        self.final = _Block((config.embed_dim // 2) * 2, "final", dtype, "final_conv1_d")

    def __call__(self, x: jax.Array) -> jax.Array:  # [B, N_tok, D] -> [B, N_tok, D]
        skips = []
        for block in self.down:
            x, skip = block(x)
            skips.append(skip)
        for block, skip in zip(self.up, reversed(skips), strict=True):
            x = block(x)[0] + skip
        return self.final(x)[0]


class UNetHead(hk.Module):
    """Final embeddings [B, T, D] (CLS first) -> per-base logits [B, 6 (T - 1), F, 2]."""

    def __init__(self, config: NTConfig, *, precision: Precision, name: str = HEAD) -> None:
        super().__init__(name=name)
        self.config, self.precision = config, precision
        cd = precision.compute_dtype
        self.unet = _UNet(config, cd)
        n_out = BASES_PER_TOKEN * 2 * len(config.features)
        self.fc = Dense(n_out, dtype=cd, name="fc")

    def __call__(self, x: jax.Array) -> jax.Array:
        c = self.config
        b, t, _ = x.shape
        check_unet_tokens(t - 1)
        h = jax.nn.swish(self.unet(x[:, 1:].astype(F32)))
        logits = self.fc(h)  # [B, T-1, 6*2*F] float32
        return logits.reshape(b, (t - 1) * BASES_PER_TOKEN, len(c.features), 2)


def probabilities(logits: jax.Array) -> jax.Array:
    """[..., F, 2] logits -> [..., F] probability that each element is present."""
    return jax.nn.softmax(logits.astype(F32), axis=-1)[..., 1]


__all__ = [
    "BASES_PER_TOKEN",
    "HEAD",
    "UNET_DEPTH",
    "UNetHead",
    "check_unet_tokens",
    "head_shapes",
    "probabilities",
    "unet_channels",
]

"""Write the bundled tiny NT-v2-shaped checkpoint (random weights, deterministic).

Usage: .venv/bin/python scripts/make_tiny_checkpoint.py [--out examples/checkpoints/nt-v2-tiny]

The same seed always gives the same bytes (the test suite checks the bundled digest).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ntscale.model import NTConfig, file_digest, init_official, save_checkpoint

TINY = NTConfig(
    name="nt-v2-tiny",
    version="v2",
    num_layers=2,
    embed_dim=64,
    num_heads=4,
    key_size=16,
    ffn_dim=128,
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
SEED = 20240611


def main() -> None:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=root / "examples/checkpoints/nt-v2-tiny")
    args = parser.parse_args()
    path = save_checkpoint(init_official(TINY, seed=SEED), TINY, args.out)
    print(f"wrote {path} ({path.stat().st_size} bytes, sha256 {file_digest([path])})")


if __name__ == "__main__":
    main()

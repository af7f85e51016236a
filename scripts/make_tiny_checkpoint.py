"""Write the bundled tiny NT-v2-shaped checkpoint (random weights, deterministic).

Usage: .venv/bin/python scripts/make_tiny_checkpoint.py [--out examples/checkpoints/nt-v2-tiny]

The same seed always gives the same bytes (the test suite checks the bundled digest).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ntscale.model import file_digest, get_preset, init_official, save_checkpoint

# The v2 family's fixed choices (rotary, SwiGLU, vocabulary, 2,048 tokens) come from a
# published preset; only the sizes are made tiny.
TINY = get_preset("50M_multi_species_v2").replace(
    name="nt-v2-tiny", num_layers=2, embed_dim=64, num_heads=4, key_size=16, ffn_dim=128
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

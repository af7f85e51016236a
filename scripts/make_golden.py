"""Write the golden stored values of tests/data/golden/ (embeddings, scores, statuses).

Usage: JAX_PLATFORMS=cpu .venv/bin/python scripts/make_golden.py [--only NAME ...]

Run it ONLY on purpose, when a stored number is meant to change (a new model computation,
a fixed bug), and say so in the commit: tests/runner/test_golden_numbers.py exists to catch
every other change of a stored number. Each run below is a real `ntscale` command over the
bundled inputs; its store is read back and written as `<name>.json` + `<name>.npz`
(tests/runner/golden_runs.py). tests/data/golden/PROVENANCE.md says what was run, when.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "runner"))
from golden_runs import GOLDEN_DIR, REPO_ROOT, expand, run_cli, snapshot  # noqa: E402

FASTA = "{repo}/examples/data/chr20_2mb.fa.gz"
COHORT = "{repo}/examples/data/chr20_2mb.vcf.gz"
TINY = "{repo}/examples/checkpoints/nt-v2-tiny"  # 2 layers, 2,048 tokens
TINY_56 = "{repo}/tests/data/shared/fixtures/nt_reference/v2_model"  # 2 layers, 56 tokens
VARIANTS = "{repo}/tests/data/golden/variants.vcf"
COMMON = ["--dtype", "fp32", "--no-progress"]

# name -> (the `ntscale` command line, whether the export frame's derived columns count)
RUNS: dict[str, tuple[list[str], bool]] = {
    # reference windows across the end of chr20's leading N run, without gap-aware tiling:
    # all-N windows, windows shrunk to the 56-token budget, CLS and per-token, both strands
    "embed_reference_tokens": (
        ["embed", "--fasta", FASTA, "--model", TINY_56, "--out", "{out}/ref.zarr",
         "--regions", "{repo}/tests/data/golden/embed_n_edge.bed", "--no-gap-aware",
         "--layers", "1,2", "--strands", "both", "--cls", "--per-token",
         "--unit-windows", "3", "--batch-size", "2", *COMMON],
        False,
    ),
    # phased haplotypes of three 1000 Genomes samples (indels, hets), deduplicated windows
    "embed_haplotypes": (
        ["embed", "--fasta", FASTA, "--model", TINY, "--out", "{out}/haps.zarr",
         "--regions", "{repo}/tests/data/golden/embed_haplotypes.bed",
         "--vcf", COHORT, "--samples", "HG00096,HG00097,HG00099", "--window", "300",
         "--layers", "1,2", "--strands", "both", "--cls",
         "--unit-windows", "4", "--batch-size", "4", *COMMON],
        False,
    ),
    # every variant class and status at the defaults (12,282 bp windows, llr + l2 + cosine)
    "score_default": (
        ["score", "--fasta", FASTA, "--vcf", VARIANTS, "--model", TINY,
         "--out", "{out}/default.zarr", "--unit-variants", "8", "--batch-size", "4", *COMMON],
        False,
    ),
    # every score kind, two layers, both strands (the _fwd/_rev LLRs), short windows
    "score_all_kinds": (
        ["score", "--fasta", FASTA, "--vcf", VARIANTS, "--model", TINY,
         "--out", "{out}/all.zarr", "--scores", "llr,l2,cosine,flat,aligned",
         "--layers", "1,2", "--strands", "both", "--window", "600",
         "--unit-variants", "8", "--batch-size", "4", *COMMON],
        False,
    ),
    "score_traitgym": (
        ["score", "--fasta", FASTA, "--vcf", VARIANTS, "--model", TINY,
         "--out", "{out}/traitgym.zarr", "--preset", "traitgym",
         "--unit-variants", "8", "--batch-size", "4", *COMMON],
        False,
    ),
    # the wild-type tiled scan with its background (histograms, quantiles, llr_wt_pct)
    "score_tiled_calibrated": (
        ["score", "--fasta", FASTA, "--vcf", VARIANTS, "--model", TINY,
         "--out", "{out}/tiled.zarr", "--window-mode", "tiled", "--scores", "llr_wt",
         "--calibrate", "--window", "600", "--strands", "both",
         "--unit-variants", "8", "--batch-size", "4", *COMMON],
        True,
    ),
    "score_tracks": (
        ["score", "--fasta", FASTA, "--model", TINY, "--out", "{out}/tracks.zarr",
         "--tracks", "{out}/tracks", "--regions", "{repo}/tests/data/golden/tracks.bed",
         "--window", "600", "--strands", "both", "--batch-size", "4", *COMMON],
        False,
    ),
}  # fmt: skip


def store_of(argv: list[str]) -> str:
    """The `--out` value of a recorded command line."""
    return argv[argv.index("--out") + 1]


def write_run(name: str, argv: list[str], *, frame: bool, commit: str) -> int:
    """Run one command in a temporary folder and write its golden files; their size."""
    with tempfile.TemporaryDirectory(prefix="golden-") as tmp:
        out = Path(tmp)
        run_cli(expand(argv, out=out))
        arrays, strings = snapshot(Path(expand([store_of(argv)], out=out)[0]), frame=frame)
    record = {
        "argv": argv,
        "store": store_of(argv),
        "frame": frame,
        "commit": commit,
        "arrays": {k: f"{v.dtype}{list(v.shape)}" for k, v in arrays.items()},
        "strings": strings,
    }
    json_path = GOLDEN_DIR / f"{name}.json"
    json_path.write_text(json.dumps(record, indent=1) + "\n")
    np.savez_compressed(GOLDEN_DIR / f"{name}.npz", **arrays)
    return json_path.stat().st_size + (GOLDEN_DIR / f"{name}.npz").stat().st_size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", default=None, help="Runs to rewrite (default: all).")
    args = parser.parse_args()
    git = ["git", "-C", str(REPO_ROOT)]
    commit = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True).stdout
    dirty = subprocess.run([*git, "status", "--porcelain", "ntscale"], capture_output=True).stdout
    # the record names the code that made the numbers: uncommitted changes would make it lie
    commit = commit.strip() + (" + uncommitted changes in ntscale/" if dirty.strip() else "")
    for name, (argv, frame) in RUNS.items():
        if args.only is None or name in args.only:
            size = write_run(name, argv, frame=frame, commit=commit)
            print(f"{name}: {size:,} bytes")


if __name__ == "__main__":
    main()

"""Calibrated wild-type LLRs on the bundled chr20 slice: the background of every SNV of the
scanned tiles is recomputed here from NTModel.apply, its stored quantile table makes the
background's own percentiles uniform (a Kolmogorov-Smirnov check), and exports carry
llr_wt_pct."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pysam
import pytest

import ntscale.store as nstore
from ntscale.config import ScoreConfig, build_config
from ntscale.errors import ConfigError
from ntscale.runner.local import run_local
from ntscale.runner.score_job import ScoreJob
from ntscale.store.export import export_table
from ntscale.store.score_columns import percentiles
from ntscale.tokenizer import reverse_complement

W = 1998  # 333 six-mers; tiles every 996 bp
REGION = (1_000_000, 1_025_000)
COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


def _subset_vcf(src: Path, dst: Path) -> Path:
    with pysam.VariantFile(str(src)) as vf:
        vf.subset_samples([])
        with pysam.VariantFile(str(dst), "w", header=vf.header) as out:
            for rec in vf.fetch("20", *REGION):
                out.write(rec)
    return dst


def _class_key(ctx: str, alt: str) -> tuple[str, str]:
    """Pyrimidine-centred trinucleotide and ALT (independent of ntscale's index)."""
    if ctx[1] in "AG":
        return reverse_complement(ctx), COMP[alt]
    return ctx, alt


def _decode(stratum: int) -> tuple[str, str, int]:
    """ntscale's documented stratum index -> (trinucleotide, alt, base in 6-mer)."""
    cls, j = divmod(stratum, 6)
    rest, right = divmod(cls, 4)
    rest, left = divmod(rest, 4)
    is_t, alt_rank = divmod(rest, 3)
    ref = "T" if is_t else "C"
    alt = [b for b in "ACGT" if b != ref][alt_rank]
    return "ACGT"[left] + ref + "ACGT"[right], alt, j


def _background(model, fasta: pysam.FastaFile, tiles: list[int], contig_bp: int):
    """llr_wt (strand mean) and (trinucleotide, alt, base) of every SNV of the tiles' shares."""
    tok = model.tokenizer
    stride = (W // 2) // 6 * 6
    n_tiles = -(-(contig_bp - W) // stride) + 1
    every = [min(k * stride, contig_bp - W) for k in range(n_tiles)]  # the contig's tiling
    centres = [s + W / 2 for s in every]
    llrs, keys = [], []
    for s in sorted(set(tiles)):
        i = every.index(s)
        # the tile's share: bases nearer its centre than any other tile's (ties: left)
        lo = int(np.floor((centres[i - 1] + centres[i]) / 2)) + 1 if i else 0
        hi = int(np.floor((centres[i] + centres[i + 1]) / 2)) + 1 if i + 1 < n_tiles else contig_bp
        seq = fasta.fetch("20", s, s + W).upper()
        strands = [seq, reverse_complement(seq)]
        logits = model.apply(tok.encode_batch(strands), logits=True)["logits"]
        logp = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
        for p in range(max(lo, s + 1) - s, min(hi, s + W - 1) - s):
            ctx = seq[p - 1 : p + 2]
            for alt in "ACGT":
                if alt == seq[p]:
                    continue
                per_strand = []
                for k, strand_seq in enumerate(strands):
                    q = p if k == 0 else W - 1 - p
                    t, j = divmod(q, 6)
                    kmer = strand_seq[6 * t : 6 * t + 6]
                    a = alt if k == 0 else COMP[alt]
                    new = kmer[:j] + a + kmer[j + 1 :]
                    per_strand.append(
                        logp[k, t + 1, tok.token_to_id(new)] - logp[k, t + 1, tok.token_to_id(kmer)]
                    )
                llrs.append(np.mean(per_strand))
                keys.append((*_class_key(ctx, alt), p % 6))
    return np.array(llrs), keys


@pytest.mark.slow
def test_background_quantiles_make_the_background_uniform(tmp_path, repo_root, tiny_model):
    data = repo_root / "examples" / "data"
    vcf = _subset_vcf(data / "chr20_2mb.vcf.gz", tmp_path / "sub.vcf")
    cfg = build_config(
        ScoreConfig,
        {
            "fasta": str(data / "chr20_2mb.fa.gz"),
            "vcf": str(vcf),
            "model": str(repo_root / "examples" / "checkpoints" / "nt-v2-tiny"),
            "out": str(tmp_path / "cal.zarr"),
            "window_bp": W,
            "window_mode": "tiled",
            "scores": ["llr_wt"],
            "strands": "both",
            "calibrate": True,
            "unit_variants": 64,  # several units share tiles: each tile counted once
            "batch_size": 8,
            "dtype": "fp32",
            "progress": False,
        },
    )
    job = ScoreJob.plan_from_config(cfg)
    run_local(job)
    ds = nstore.open(cfg.out)
    cal = ds.attrs["calibration"]["llr_wt"]
    tiles = job.windows.start[:, 0][job.windows.start[:, 0] >= 0].tolist()
    with pysam.FastaFile(str(data / "chr20_2mb.fa.gz")) as fa:
        llr, keys = _background(tiny_model, fa, tiles, fa.get_reference_length("20"))
    # the stored background is exactly every SNV of the tiles' shares, stratum by stratum
    assert cal["n_background"] == len(llr) > 50_000
    ours = pd.Series(keys).value_counts().to_dict()
    stored = {_decode(int(s)): n for s, n in cal["counts"].items()}
    assert stored == ours
    from ntscale.scoring.calibration import stratum_label

    assert cal["labels"] == {s: stratum_label(int(s)) for s in cal["counts"]}  # readable
    index = {_decode(int(s)): int(s) for s in cal["counts"]}
    strata = np.array([index[k] for k in keys], np.float64)
    pct = percentiles(llr, strata, cal) / 100.0
    # Kolmogorov-Smirnov distance of the background's own percentiles from U(0, 1)
    u = np.sort(pct)
    n = len(u)
    d = max(np.max(np.arange(1, n + 1) / n - u), np.max(u - np.arange(n) / n))
    print(f"KS distance of the background percentiles from U(0,1): {d:.4f} (n={n})")
    assert d < 0.01, d
    # and inside the largest stratum
    big = max(ours, key=ours.get)
    ub = np.sort(pct[strata == index[big]])
    m = len(ub)
    db = max(np.max(np.arange(1, m + 1) / m - ub), np.max(ub - np.arange(m) / m))
    assert db < 1.63 / np.sqrt(m) + 0.01, (db, m)

    frame = pd.read_csv(export_table(cfg.out, tmp_path / "cal.tsv"), sep="\t", comment="#")
    snv = frame["status"].isin(["ok", "tiled_off_centre"])
    assert frame.loc[snv, "llr_wt_pct"].notna().mean() > 0.95
    np.testing.assert_allclose(
        frame["llr_wt_pct"],
        percentiles(frame["llr_wt"].to_numpy(), frame["stratum_llr_wt"].to_numpy(), cal),
        rtol=1e-5,
        atol=1e-3,  # the TSV keeps 7 significant digits of llr_wt
        equal_nan=True,
    )
    assert frame.loc[snv, "llr_wt_pct"].between(0, 100).all()


def test_calibration_needs_the_tiled_wild_type_scan():
    with pytest.raises(ConfigError, match="window_mode tiled and llr_wt"):
        build_config(
            ScoreConfig,
            {
                "fasta": "g.fa",
                "vcf": "v.vcf",
                "model": "m",
                "out": "o",
                "calibrate": True,
                "window_mode": "centred",
            },  # implied when not given (tests/test_calibrate_config)
        )

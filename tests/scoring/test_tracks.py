"""Per-base genome tracks end to end on the bundled chr20 slice: `ntscale score --tracks
--regions` (a real subprocess), bigWig and bedGraph opened and compared with the store,
and sampled bases recomputed from NTModel.apply."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyBigWig
import pysam
import pytest

import ntscale.store as nstore
from ntscale.tokenizer import reverse_complement

W = 1998  # 333 six-mers; tiles every 996 bp
REGION = ("20", 1_000_000, 1_040_000)  # 40 kb, both strands (1 Mbp: the test below)
COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}
LEADING_GAP_END = 60_000  # contig 20 of the slice: N over [0, 60,000), then A/C/G/T only


def _expected(
    model, fasta: pysam.FastaFile, p: int, contig_bp: int, *, both: bool = True
) -> dict[str, float]:
    """The four tracks at base p from the forward passes of its nearest tile (both strands
    averaged, or the forward strand alone)."""
    tok = model.tokenizer
    stride = (W // 2) // 6 * 6
    # Tiles over the N-free piece [60,000, contig end): the slice's leading gap is 0-60,000.
    first = LEADING_GAP_END
    assert (
        fasta.fetch("20", first - 1, first + 1).upper()[0]
        == "N"
        != fasta.fetch("20", first, first + 1).upper()
    )
    n_tiles = -(-(contig_bp - first - W) // stride) + 1
    starts = [min(first + k * stride, contig_bp - W) for k in range(n_tiles)]
    ws = min(starts, key=lambda s: (abs(s + W / 2 - p), s))  # nearest centre, ties left
    seq = fasta.fetch("20", ws, ws + W).upper()
    strands = [seq, reverse_complement(seq)] if both else [seq]
    logits = model.apply(tok.encode_batch(strands), logits=True)["logits"].astype(np.float64)
    m = logits.max(axis=-1, keepdims=True)
    logp = logits - m - np.log(np.exp(logits - m).sum(axis=-1, keepdims=True))
    o = p - ws
    ref = seq[o]
    per_alt = {a: [] for a in "ACGT" if a != ref}
    wt = []
    for k, s in enumerate(strands):
        q = o if k == 0 else W - 1 - o
        t, j = divmod(q, 6)
        kmer = s[6 * t : 6 * t + 6]
        ref_lp = logp[k, t + 1, tok.token_to_id(kmer)]
        wt.append(ref_lp)
        for a in per_alt:
            b = a if k == 0 else COMP[a]
            per_alt[a].append(
                logp[k, t + 1, tok.token_to_id(kmer[:j] + b + kmer[j + 1 :])] - ref_lp
            )
    llr = [np.mean(v) for v in per_alt.values()]
    return {
        "llr_min": min(llr),
        "llr_mean": float(np.mean(llr)),
        "llr_max": max(llr),
        "logp_wt": float(np.mean(wt)),
    }


def _run_tracks(repo_root: Path, bed: Path, out: Path, prefix: Path, *extra: str):
    """`ntscale score --tracks` on the bundled slice with the tiny checkpoint (a subprocess)."""
    data = repo_root / "examples" / "data"
    cmd = [
        sys.executable, "-m", "ntscale", "score",
        "--fasta", str(data / "chr20_2mb.fa.gz"),
        "--model", str(repo_root / "examples" / "checkpoints" / "nt-v2-tiny"),
        "--out", str(out), "--tracks", str(prefix), "--regions", str(bed),
        "--window", str(W), "--dtype", "fp32", "--no-progress", *extra,
    ]  # fmt: skip
    env = os.environ | {"JAX_PLATFORMS": "cpu"}
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env)
    assert r.returncode == 0, r.stderr
    return r


@pytest.mark.slow
def test_tracks_end_to_end(tmp_path: Path, repo_root: Path, tiny_model) -> None:
    data = repo_root / "examples" / "data"
    bed = tmp_path / "r.bed"
    bed.write_text("\t".join(map(str, REGION)) + "\n")
    out, prefix = tmp_path / "tracks.zarr", tmp_path / "tr" / "chr20"
    r = _run_tracks(repo_root, bed, out, prefix, "--strands", "both", "--unit-bases", "16384",
                    "--batch-size", "16", "--bedgraph")  # fmt: skip
    assert "per-base tracks written to" in r.stdout

    ds = nstore.open(str(out))
    n = REGION[2] - REGION[1]
    assert ds.sizes["variant"] == n
    np.testing.assert_array_equal(ds["variant_pos"].values, np.arange(REGION[1], REGION[2]))
    assert (ds["variant_status"].values == "ok").all()
    store = {k: ds[f"score_{k}"].values for k in ("llr_min", "llr_mean", "llr_max", "logp_wt")}
    assert (store["llr_min"] <= store["llr_mean"]).all()
    assert (store["llr_mean"] <= store["llr_max"]).all()
    assert (store["logp_wt"] < 0).all()

    rng = np.random.default_rng(0)
    sample = np.sort(rng.choice(n, size=12, replace=False))
    sample[:2] = [0, 16384]  # the region's first base and a unit boundary
    with pysam.FastaFile(str(data / "chr20_2mb.fa.gz")) as fa:
        contig_bp = fa.get_reference_length("20")
        for i in sample[:6]:  # recomputed from the model's raw outputs
            exp = _expected(tiny_model, fa, REGION[1] + int(i), contig_bp)
            for name, value in exp.items():
                np.testing.assert_allclose(store[name][i], value, rtol=1e-4, atol=1e-5)
    for name, values in store.items():
        with pyBigWig.open(f"{prefix}.{name}.bw") as bw:
            assert bw.chroms("20") == contig_bp
            got = np.array([bw.values("20", REGION[1] + int(i), REGION[1] + int(i) + 1)[0]
                            for i in sample])  # fmt: skip
            np.testing.assert_allclose(got, values[sample], rtol=1e-6)
            assert bw.stats("20", REGION[1], REGION[2], type="max")[0] == pytest.approx(
                float(values.max()), rel=1e-6
            )
        bg = pd.read_csv(f"{prefix}.{name}.bedGraph.gz", sep="\t", header=None)
        assert (bg[2] - bg[1]).sum() == n and (bg[1].to_numpy()[1:] >= bg[2].to_numpy()[:-1]).all()
        per_base = np.repeat(bg[3].to_numpy(), (bg[2] - bg[1]).to_numpy())  # runs expanded
        np.testing.assert_allclose(per_base, values, rtol=1e-5)


@pytest.mark.slow
def test_tracks_of_one_mbp_end_to_end(tmp_path: Path, repo_root: Path, tiny_model) -> None:
    """A whole 1 Mbp region (forward strand, ~30 s): every base has all four tracks, the
    bigWig and bedGraph files hold the store's values, sampled bases match the model."""
    data = repo_root / "examples" / "data"
    region = ("20", 1_000_000, 2_000_000)  # the slice's last Mbp
    bed = tmp_path / "r.bed"
    bed.write_text("\t".join(map(str, region)) + "\n")
    out, prefix = tmp_path / "tracks.zarr", tmp_path / "tr" / "chr20"
    _run_tracks(repo_root, bed, out, prefix, "--strands", "forward", "--unit-bases", "131072",
                "--batch-size", "32")  # fmt: skip

    ds = nstore.open(str(out))
    n = region[2] - region[1]
    assert ds.sizes["variant"] == n
    assert (ds["variant_status"].values == "ok").all()
    store = {k: ds[f"score_{k}"].values for k in ("llr_min", "llr_mean", "llr_max", "logp_wt")}
    assert all(np.isfinite(v).all() for v in store.values())
    rng = np.random.default_rng(1)
    sample = np.sort(rng.choice(n, size=8, replace=False))
    with pysam.FastaFile(str(data / "chr20_2mb.fa.gz")) as fa:
        contig_bp = fa.get_reference_length("20")
        for i in sample[:3]:
            exp = _expected(tiny_model, fa, region[1] + int(i), contig_bp, both=False)
            for name, value in exp.items():
                np.testing.assert_allclose(store[name][i], value, rtol=1e-4, atol=1e-5)
    for name, values in store.items():
        with pyBigWig.open(f"{prefix}.{name}.bw") as bw:
            # every base of the region has a value (coverage 1), and they are the store's
            assert bw.stats("20", region[1], region[2], type="coverage")[0] == pytest.approx(1.0)
            got = np.asarray(bw.values("20", region[1], region[2]), dtype=np.float64)
            np.testing.assert_allclose(got, values, rtol=1e-6)
        assert not Path(f"{prefix}.{name}.bedGraph.gz").exists()  # bigWig only by default

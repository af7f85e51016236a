"""The scoring job end to end: scores recomputed independently from NTModel.apply,
symmetry, strand averaging on a palindrome, sharing, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scoring_helpers import random_dna, write_fasta, write_vcf

import ntscale.store as nstore
from ntscale.config import ScoreConfig, build_config
from ntscale.runner.local import run_local
from ntscale.runner.score_job import ScoreJob
from ntscale.tokenizer import reverse_complement

W = 126  # 21 six-mers: the variant sits at offset 6 * 10 + 3 = 63 (forward strand)
SEQ = random_dna(1000, seed=11)
LAYERS = (1, 2)


def _score(
    tmp_path: Path, fasta: Path, vcf: Path, model: Path, name: str = "out", **overrides
) -> tuple[dict, object]:
    values = {
        "fasta": str(fasta),
        "vcf": str(vcf),
        "model": str(model),
        "out": str(tmp_path / f"{name}.zarr"),
        "window_bp": W,
        "layers": list(LAYERS),
        "unit_variants": 4,
        "batch_size": 4,
        "dtype": "fp32",
        "progress": False,
    }
    values.update(overrides)
    job = ScoreJob.plan_from_config(build_config(ScoreConfig, values))
    summary = run_local(job)
    return summary, nstore.open(values["out"])


def _scores(ds) -> dict[str, np.ndarray]:
    names = [str(v) for v in ds.data_vars if str(v).startswith("score_")]
    return {v[6:]: np.asarray(ds[v].values) for v in names}


def _expected(model, ref: str, alt: str, *, offset: int, ref_len: int, alt_len: int) -> dict:
    """Every score of one variant, computed directly from NTModel.apply on two windows."""
    tok = model.tokenizer
    tokens = tok.encode_batch([ref, alt])
    out = model.apply(tokens, layers=LAYERS, logits=True)
    exp = {}
    ref_tokens = set(range(1 + offset // 6, 1 + (offset + ref_len - 1) // 6 + 1))
    alt_tokens = set(range(1 + offset // 6, 1 + (offset + alt_len - 1) // 6 + 1))
    for layer in LAYERS:
        emb = out["embeddings"][layer]
        means = emb[:, 1:].mean(axis=1)
        pooled = [emb[0, sorted(ref_tokens)].mean(0), emb[1, sorted(alt_tokens)].mean(0)]
        for where, (x, y) in {"mean": means, "variant": pooled}.items():
            exp[f"l2_{where}_layer_{layer}"] = np.linalg.norm(x - y)
            cos = x @ y / np.linalg.norm(x) / np.linalg.norm(y)
            exp[f"cosine_{where}_layer_{layer}"] = 1 - cos
    if ref_len == alt_len == 1:
        t = 1 + offset // 6
        start = (t - 1) * 6
        rid, aid = tok.token_to_id(ref[start : start + 6]), tok.token_to_id(alt[start : start + 6])

        def logp(logits):
            z = logits.astype(np.float64)
            return z - np.log(np.exp(z - z.max()).sum()) - z.max()

        wt = logp(out["logits"][0, t])
        exp["llr_wt"] = wt[aid] - wt[rid]
        masked = tokens[:1].copy()
        masked[0, t] = tok.mask_id
        mm = logp(model.apply(masked, logits=True)["logits"][0, t])
        exp["llr_masked"] = mm[aid] - mm[rid]
    else:
        exp["llr_wt"] = exp["llr_masked"] = np.nan
    return exp


@pytest.fixture(scope="module")
def genome(tmp_path_factory):
    d = tmp_path_factory.mktemp("genome")
    fasta = write_fasta(d / "g.fa", {"c1": SEQ})
    records = [
        ("c1", 301, "snv1", SEQ[300], ("G" if SEQ[300] != "G" else "T",)),
        ("c1", 401, "multi", SEQ[400], tuple(b for b in "ACGT" if b != SEQ[400])[:2]),
        ("c1", 501, "del", SEQ[500:504], (SEQ[500],)),
        ("c1", 601, "ins", SEQ[600], (SEQ[600] + "TTGA",)),
        ("c1", 702, "snv2", SEQ[701], ("A" if SEQ[701] != "A" else "C",)),
    ]
    vcf = write_vcf(d / "v.vcf.gz", {"c1": len(SEQ)}, records)
    return {"dir": d, "fasta": fasta, "vcf": vcf, "records": records}


@pytest.fixture(scope="module")
def scored(genome, tiny_model_dir):
    return _score(genome["dir"], genome["fasta"], genome["vcf"], tiny_model_dir)


def test_scores_equal_an_independent_computation(scored, genome, tiny_model):
    summary, ds = scored
    got = _scores(ds)
    assert summary["store"]["variants"]["by_status"] == {"ok": 4, "no_llr_not_snv": 2}
    np.testing.assert_array_equal(ds["variant_pos"].values, [300, 400, 400, 500, 600, 701])
    for row, pos in enumerate(ds["variant_pos"].values):
        ref, alt = str(ds["variant_ref"].values[row]), str(ds["variant_alt"].values[row])
        start = int(pos) - 63
        ref_win = SEQ[start : start + W]
        fetched = SEQ[start : start + W + max(0, len(ref) - len(alt))]
        alt_win = (fetched[:63] + alt + fetched[63 + len(ref) :])[:W]
        assert len(alt_win) == W and ref_win[63 : 63 + len(ref)] == ref
        exp = _expected(tiny_model, ref_win, alt_win, offset=63, ref_len=len(ref), alt_len=len(alt))
        for name, value in exp.items():
            np.testing.assert_allclose(
                got[name][row],
                value,
                rtol=2e-4,
                atol=2e-5,
                err_msg=f"{name} of row {row} ({ref}>{alt})",
            )


def test_the_variant_sits_mid_token_on_each_strand():
    from ntscale.genome.variant_windows import centre_offset

    # W = 12c + 6 (c = 10 here; the model maxima too): one interval serves both strands
    assert centre_offset(W, False) == centre_offset(W, True) == 63 == 6 * 10 + 3
    assert W - 1 - 63 == 6 * 10 + 2  # after reverse complement: base 2 of 6-mer 10
    assert centre_offset(12_282, False) == centre_offset(12_282, True) == 6_141
    assert centre_offset(5_994, False) == centre_offset(5_994, True) == 2_997
    # otherwise the strands differ: W = 120 -> forward 63, reverse 57 (RC offset 62)
    assert centre_offset(120, False) == 63 and centre_offset(120, True) == 57
    assert 120 - 1 - 57 == 6 * 10 + 2


def test_swapping_ref_and_alt_negates_masked_llr_and_keeps_distances(
    scored, genome, tiny_model_dir, tmp_path
):
    _, ds = scored
    # the alternative genome: both SNVs applied; its VCF has REF and ALT swapped
    alt_seq = list(SEQ)
    recs = [r for r in genome["records"] if r[2] in ("snv1", "snv2")]
    for _, pos1, _, _, alts in recs:
        alt_seq[pos1 - 1] = alts[0]
    fasta = write_fasta(tmp_path / "alt.fa", {"c1": "".join(alt_seq)})
    swapped = [(c, p, i, a[0], (r,)) for c, p, i, r, a in recs]
    vcf = write_vcf(tmp_path / "swap.vcf", {"c1": len(SEQ)}, swapped)
    _, ds2 = _score(tmp_path, fasta, vcf, tiny_model_dir, name="swap")
    a, b = _scores(ds), _scores(ds2)
    rows = [0, 5]  # snv1, snv2 in the first store
    np.testing.assert_allclose(b["llr_masked"], -a["llr_masked"][rows], rtol=1e-4, atol=1e-5)
    for name in a:
        if not name.startswith("llr"):
            np.testing.assert_allclose(b[name], a[name][rows], rtol=1e-4, atol=1e-6)
    # the wild-type marginal reads a different (reference) window: not antisymmetric
    assert not np.allclose(b["llr_wt"], -a["llr_wt"][rows], atol=1e-3)


def test_strand_averaging_on_a_palindrome(tmp_path, tiny_model_dir):
    half = random_dna(W // 2, seed=5)
    pal = half + reverse_complement(half)  # its own reverse complement, W bp
    assert reverse_complement(pal) == pal
    fasta = write_fasta(tmp_path / "pal.fa", {"p": pal})
    i, x = 40, "A" if pal[40] != "A" else "C"
    j, y = W - 1 - i, reverse_complement(x)  # the mirror variant on the other strand
    vcf = write_vcf(
        tmp_path / "pal.vcf",
        {"p": W},
        [("p", i + 1, "v", pal[i], (x,)), ("p", j + 1, "m", pal[j], (y,))],
    )
    _, both = _score(tmp_path, fasta, vcf, tiny_model_dir, name="both", strands="both")
    _, fwd = _score(tmp_path, fasta, vcf, tiny_model_dir, name="fwd", strands="forward")
    _, rev = _score(tmp_path, fasta, vcf, tiny_model_dir, name="rev", strands="reverse")
    assert both["variant_status"].values.tolist() == ["off_centre"] * 2  # whole contig
    sb, sf, sr = _scores(both), _scores(fwd), _scores(rev)
    assert set(sb) == set(sf) | {
        f"{k}_{s}" for k in ("llr_masked", "llr_wt") for s in ("fwd", "rev")
    }
    for name in sf:
        # the variant on + is its mirror on -, so the strand averages agree
        np.testing.assert_allclose(sb[name][0], sb[name][1], rtol=1e-4, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(sf[name][0], sr[name][1], rtol=1e-4, atol=1e-6, err_msg=name)
        np.testing.assert_allclose(sb[name], (sf[name] + sr[name]) / 2, rtol=1e-4, atol=1e-6)
    for name in ("llr_masked", "llr_wt"):
        # both strands' own values are kept beside their mean (strand QC)
        np.testing.assert_allclose(sb[f"{name}_fwd"], sf[name], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(sb[f"{name}_rev"], sr[name], rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(sb[f"{name}_fwd"][0], sb[f"{name}_rev"][1], rtol=1e-4)
    assert not np.allclose(sf["llr_masked"][0], sf["llr_masked"][1], atol=1e-4)


def test_sharing_windows_runs_fewer_passes_and_gives_the_same_scores(
    scored, genome, tiny_model_dir, tmp_path
):
    summary, ds = scored
    counts = []
    for share in (True, False):
        values = {
            "fasta": str(genome["fasta"]),
            "vcf": str(genome["vcf"]),
            "model": str(tiny_model_dir),
            "out": str(tmp_path / f"p{share}.zarr"),
            "window_bp": W,
            "unit_variants": 4,
            "dtype": "fp32",
            "share_windows": share,
        }
        job = ScoreJob.plan_from_config(build_config(ScoreConfig, values))
        job.prepare()
        worker = job.open_worker()
        worker(0)  # snv1, the two ALTs of one record, the deletion
        counts.append(worker.passes_run)
    # shared: 3 ref + 4 alt + 2 masked windows; one pass per variant: 4 + 4 + 3
    assert counts == [9, 11]
    s2, ds2 = _score(
        tmp_path,
        genome["fasta"],
        genome["vcf"],
        tiny_model_dir,
        name="noshare",
        share_windows=False,
    )
    a, b = _scores(ds), _scores(ds2)
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5, equal_nan=True)


def test_tiled_mode_scores_llr_wt_from_shared_tiles(genome, tiny_model_dir, tmp_path):
    _, ds = _score(
        tmp_path,
        genome["fasta"],
        genome["vcf"],
        tiny_model_dir,
        name="tiled",
        window_mode="tiled",
        scores=["llr_wt"],
        unit_variants=8,
    )
    got = _scores(ds)
    assert list(got) == ["llr_wt", "centre_offset_bp", "base_in_kmer"]
    snv = np.isin(ds["variant_status"].values, ["ok", "tiled_off_centre"])
    assert np.isfinite(got["llr_wt"][snv]).all() and np.isnan(got["llr_wt"][~snv]).all()


def test_resume_skips_done_units(genome, tiny_model_dir, tmp_path):
    values = {
        "fasta": str(genome["fasta"]),
        "vcf": str(genome["vcf"]),
        "model": str(tiny_model_dir),
        "out": str(tmp_path / "r.zarr"),
        "window_bp": W,
        "unit_variants": 2,
        "batch_size": 4,
        "dtype": "fp32",
        "scores": ["llr_wt", "l2"],
        "progress": False,
    }
    job = ScoreJob.plan_from_config(build_config(ScoreConfig, values))
    assert list(job.prepare()) == [0, 1, 2]
    job.open_worker()(1)  # an interrupted run finished unit 1 only
    summary = run_local(job)
    assert summary["run"]["units_run"] == 2 and summary["store"]["complete"]
    again = run_local(job)
    assert again["run"]["units_run"] == 0
    _, ds = _score(
        tmp_path,
        genome["fasta"],
        genome["vcf"],
        tiny_model_dir,
        name="whole",
        unit_variants=2,
        scores=["llr_wt", "l2"],
        layers=[2],
    )
    resumed = nstore.open(str(tmp_path / "r.zarr"))
    for name, values in _scores(ds).items():
        np.testing.assert_array_equal(_scores(resumed)[name], values)


@pytest.mark.ray
def test_ray_store_is_byte_identical_to_local(genome, tiny_model_dir, tmp_path):
    from ntscale.runner.ray import run_ray

    def job(name: str) -> ScoreJob:
        values = {
            "fasta": str(genome["fasta"]),
            "vcf": str(genome["vcf"]),
            "model": str(tiny_model_dir),
            "out": str(tmp_path / f"{name}.zarr"),
            "window_bp": W,
            "unit_variants": 2,
            "batch_size": 4,
            "dtype": "fp32",
            "progress": False,
        }
        return ScoreJob.plan_from_config(build_config(ScoreConfig, values))

    run_local(job("local"))
    summary = run_ray(job("ray"), address="local", num_cpus=2, max_actors=1)
    assert summary["run"]["units_run"] == 3 and summary["store"]["complete"]
    local, ray = tmp_path / "local.zarr", tmp_path / "ray.zarr"
    # every file but the root attributes (creation time), chunks and array metadata alike
    files = sorted(str(p.relative_to(local)) for p in local.rglob("*") if p.is_file())
    assert files == sorted(str(p.relative_to(ray)) for p in ray.rglob("*") if p.is_file())
    for rel in files:
        if rel != "zarr.json":
            assert (ray / rel).read_bytes() == (local / rel).read_bytes(), rel


def test_passes_are_never_shared_across_contigs(tmp_path, tiny_model_dir):
    """Two contigs tiled at the same offsets, one unit: each variant reads its own contig."""
    seqs = {"c1": random_dna(400, seed=21), "c2": random_dna(400, seed=22)}
    fasta = write_fasta(tmp_path / "two.fa", seqs)
    records = [
        (c, 151, f"{c}_snv", s[150], ("G" if s[150] != "G" else "T",)) for c, s in seqs.items()
    ]
    vcf = write_vcf(tmp_path / "two.vcf.gz", {c: len(s) for c, s in seqs.items()}, records)
    common = {"window_mode": "tiled", "scores": ["llr_wt", "l2"]}
    _, together = _score(
        tmp_path, fasta, vcf, tiny_model_dir, "one_unit", unit_variants=8, **common
    )
    _, apart = _score(tmp_path, fasta, vcf, tiny_model_dir, "own_units", unit_variants=1, **common)
    got, want = _scores(together), _scores(apart)
    assert set(got) == set(want)
    for name in want:
        assert np.isfinite(want[name]).all(), name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-6, err_msg=name)
    assert not np.allclose(want["llr_wt"][0], want["llr_wt"][1])  # different contexts

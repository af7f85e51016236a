"""The `traitgym` preset against TraitGym's published NT protocol, recomputed here from its
definitions (songlab-cal/TraitGym workflow/scripts/run_vep_llr_nucleotide_transformer.py and
run_vep_embeddings_nucleotide_transformer.py) with the model's raw outputs, on real 1000
Genomes SNVs of the bundled chr20 slice (and one real-sequence SNV next to the N run)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pysam
import pytest
from scoring_helpers import write_vcf

import ntscale.store as nstore
from ntscale.config import ScoreConfig, build_config
from ntscale.runner.local import run_local
from ntscale.runner.score_job import ScoreJob
from ntscale.tokenizer import reverse_complement

WINDOW = 5994  # TraitGym's window_size
K = 6


def _bundled(repo_root: Path) -> tuple[Path, Path]:
    data = repo_root / "examples" / "data"
    return data / "chr20_2mb.fa.gz", data / "chr20_2mb.vcf.gz"


def _pick_snvs(vcf: Path, every: int) -> list[tuple]:
    out = []
    with pysam.VariantFile(str(vcf), drop_samples=True) as vf:
        snvs = [r for r in vf if len(r.ref) == 1 and all(len(a) == 1 for a in r.alts)]
        for rec in snvs[::every]:
            out.append((rec.contig, rec.pos, rec.id, rec.ref, [rec.alts[0]]))
    return out


def _traitgym_tokens(tok, seq: str) -> np.ndarray:
    """TraitGym's handle_undefined + tokenizer: 999 six-mers, those with N -> "N"."""
    kmers = [seq[i * K : (i + 1) * K] for i in range(len(seq) // K)]
    kmers = [s if set(s) <= set("ACGT") else "N" for s in kmers]
    return tok.encode("".join(kmers))


def _reference_scores(model, fasta: pysam.FastaFile, contig: str, pos0: int, ref: str, alt: str):
    """TraitGym's LLR and flattened embedding scores of one SNV, strands averaged."""
    tok = model.tokenizer
    last = model.config.num_layers
    seq = fasta.fetch(contig, pos0 - WINDOW // 2, pos0 + WINDOW // 2).upper()
    assert len(seq) == WINDOW
    centre = (WINDOW // K) // 2  # central 6-mer
    per_strand = []
    comp = {"A": "T", "C": "G", "G": "C", "T": "A"}
    for s, pos_in_window, pos_in_kmer, r, a in (
        (seq, WINDOW // 2, K // 2, ref, alt),
        (reverse_complement(seq), WINDOW // 2 - 1, K // 2 - 1, comp[ref], comp[alt]),
    ):
        assert s[pos_in_window] == r
        alt_seq = s[:pos_in_window] + a + s[pos_in_window + 1 :]
        ref_ids, alt_ids = _traitgym_tokens(tok, s), _traitgym_tokens(tok, alt_seq)
        masked = ref_ids.copy()
        masked[1 + centre] = tok.mask_id
        out = model.apply(np.stack([masked, ref_ids, alt_ids]), layers=(last,), logits=True)
        ref_kmer = s[centre * K : (centre + 1) * K]
        alt_kmer = ref_kmer[:pos_in_kmer] + a + ref_kmer[pos_in_kmer + 1 :]
        logits = out["logits"][0, 1 + centre].astype(np.float64)
        llr = logits[tok.token_to_id(alt_kmer)] - logits[tok.token_to_id(ref_kmer)]
        x = out["embeddings"][last][1].astype(np.float64).ravel()  # CLS included
        y = out["embeddings"][last][2].astype(np.float64).ravel()
        per_strand.append(
            {
                "llr_masked": llr,
                f"l2_flat_layer_{last}": np.linalg.norm(x - y),
                f"dot_flat_layer_{last}": x @ y,
                f"cosine_flat_layer_{last}": 1 - x @ y / (np.linalg.norm(x) * np.linalg.norm(y)),
            }
        )
    mean = {k: (per_strand[0][k] + per_strand[1][k]) / 2 for k in per_strand[0]}
    mean["llr_masked_fwd"] = per_strand[0]["llr_masked"]
    mean["llr_masked_rev"] = per_strand[1]["llr_masked"]
    return mean


@pytest.fixture(scope="module")
def traitgym_run(repo_root: Path, tiny_model_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """The preset run once on 7 real SNVs and one real-sequence SNV next to the N run."""
    tmp_path = tmp_path_factory.mktemp("traitgym")
    fasta_path, vcf_path = _bundled(repo_root)
    records = _pick_snvs(vcf_path, every=1200)  # 7 real 1000 Genomes SNVs
    with pysam.FastaFile(str(fasta_path)) as fa:
        # a real base 1,000 bp right of the end of the N run (bases 0-60,000): the window
        # holds ~2 kb of N, so 6-mers with N are collapsed (and one 6-mer is mixed)
        n_end = 60_000
        pos0 = n_end + 1000 + 2
        base = fa.fetch("20", pos0, pos0 + 1).upper()
        assert fa.fetch("20", n_end - 1, n_end + 1).upper()[0] == "N"
    alt = {"A": "G", "C": "T", "G": "A", "T": "C"}[base]
    records.insert(0, ("20", pos0 + 1, "near_gap", base, [alt]))
    vcf = write_vcf(tmp_path / "snvs.vcf", {"20": 2_000_000}, records)
    cfg = build_config(
        ScoreConfig,
        {
            "fasta": str(fasta_path),
            "vcf": str(vcf),
            "model": str(tiny_model_dir),
            "out": str(tmp_path / "tg.zarr"),
            "preset": "traitgym",
            "unit_variants": 4,
            "batch_size": 4,
            "progress": False,
        },
    )
    run_local(ScoreJob.plan_from_config(cfg))
    return {"cfg": cfg, "records": records, "fasta": fasta_path, "tmp": tmp_path}


@pytest.mark.slow
def test_traitgym_preset_matches_published_definitions(traitgym_run, tiny_model_dir: Path) -> None:
    from ntscale.model import load

    cfg, records = traitgym_run["cfg"], traitgym_run["records"]
    assert (cfg.window_bp, cfg.strands, cfg.collapse_n, cfg.execution.dtype) == (
        5994,
        "both",
        True,
        "fp32",
    )
    ds = nstore.open(cfg.out)
    assert ds.attrs["scoring"]["preset"] == "traitgym"
    status = ds["variant_status"].values
    assert (status == "ok").all(), status

    model = load(tiny_model_dir, dtype="float32")
    with pysam.FastaFile(str(traitgym_run["fasta"])) as fa:
        for i, (contig, pos1, _, ref, alts) in enumerate(records):
            expected = _reference_scores(model, fa, contig, pos1 - 1, ref, alts[0])
            for name, value in expected.items():
                got = float(ds[f"score_{name}"].values[i])
                np.testing.assert_allclose(got, value, rtol=1e-4, atol=1e-6, err_msg=name)
    # the flattened distances see a one-token change: nonzero, unlike a diluted mean
    assert (ds["score_l2_flat_layer_2"].values > 0).all()


@pytest.mark.slow
def test_exports_carry_sign_columns_and_provenance(traitgym_run) -> None:
    from ntscale.store.export import export_table, export_vcf, variant_frame

    cfg, tmp = traitgym_run["cfg"], traitgym_run["tmp"]
    frame = variant_frame(cfg.out)
    llr = frame["llr_masked"].to_numpy()
    assert np.isfinite(llr).all()
    np.testing.assert_array_equal(frame["minus_llr_masked"].to_numpy(), -llr)
    np.testing.assert_array_equal(frame["abs_llr_masked"].to_numpy(), np.abs(llr))
    np.testing.assert_allclose(
        llr, (frame["llr_masked_fwd"] + frame["llr_masked_rev"]).to_numpy() / 2, rtol=1e-5
    )
    table = export_table(cfg.out, tmp / "tg.tsv")
    lines = table.read_text().splitlines()
    prov = [x for x in lines if x.startswith("##")]
    assert "##ntscalePreset=traitgym" in prov  # provenance above the header (issue 23.4)
    header = lines[len(prov)].split("\t")
    assert {"llr_masked", "llr_masked_fwd", "llr_masked_rev", "minus_llr_masked"} <= set(header)

    path = export_vcf(cfg.out, tmp / "tg.vcf.gz")
    with pysam.VariantFile(str(path)) as vf:
        meta = {r.key: r.value for r in vf.header.records if r.value is not None}
        info = vf.header.info
        assert "Mendelian" in info["NTS_minus_llr_masked"].description
        assert "reverse strand" in info["NTS_llr_masked_rev"].description
        rec = next(iter(vf))
        assert rec.info["NTS_minus_llr_masked"][0] == pytest.approx(
            -rec.info["NTS_llr_masked"][0], rel=1e-6
        )
    assert meta["ntscaleWindow"] == "5994"
    assert meta["ntscaleStrands"] == "both"
    assert meta["ntscaleDtype"] == "fp32"
    assert meta["ntscalePreset"] == "traitgym"
    assert meta["ntscaleCollapseN"] == "true"
    assert meta["ntscaleModelName"] == ds_model_name(cfg.out)
    assert len(meta["ntscaleModelDigest"]) >= 16
    assert "cosine_flat_layer_2" in meta["ntscaleScores"].split(",")
    assert meta["ntscaleLlrSign"].startswith("llr = log p(alt) - log p(ref)")


def ds_model_name(url: str) -> str:
    return str(nstore.open(url).attrs["model"]["name"])


def test_preset_fills_only_what_is_not_given(repo_root: Path) -> None:
    from ntscale.config import read_yaml
    from ntscale.errors import ConfigError

    values = read_yaml(repo_root / "configs" / "score_traitgym.yaml")
    cfg = build_config(ScoreConfig, values)
    assert cfg.preset == "traitgym" and cfg.window_bp == 5994 and cfg.collapse_n
    assert cfg.scores == ("llr_masked", "flat") and cfg.strands == "both"
    mine = build_config(ScoreConfig, values | {"strands": "forward", "dtype": "bf16"})
    assert (mine.strands, mine.execution.dtype, mine.window_bp) == ("forward", "bf16", 5994)
    with pytest.raises(ConfigError, match="known presets: traitgym"):
        build_config(ScoreConfig, values | {"preset": "gpn"})

"""Window summaries, GC/N fraction and FASTA resolution against numpy/pysam recomputations."""

from __future__ import annotations

import numpy as np
import pysam
import pytest

import ntscale.store as st
from ntscale.analysis import windows as win
from ntscale.errors import InputError
from ntscale.types import WindowStatus


@pytest.fixture(scope="module")
def ds(embed_store, dask_client):
    return st.open(str(embed_store))


def test_store_shape_is_what_the_tests_assume(ds):
    # 3 windows over the N boundary + 7 over 1,000,000-1,004,200, on two strands.
    assert ds.sizes["window"] == 20
    assert sorted(set(ds["strand"].values.tolist())) == ["+", "-"]


def test_status_counts_equal_numpy(ds):
    names, counts = np.unique(ds["status"].values.astype(str), return_counts=True)
    expected = {str(c): int(n) for c, n in zip(names, counts, strict=True)}
    assert set(expected) <= {s.name for s in WindowStatus}
    assert win.status_counts(ds) == expected
    assert expected["SKIPPED_ALL_N"] == 2  # the all-N window, once per strand
    assert win.embedded_mask(ds).sum() == expected["OK"]


def test_contig_summary_equals_numpy(ds):
    emb = np.asarray(ds["embedding_mean"].sel(layer=1).values)  # small test store
    ok = np.isin(ds["status"].values.astype(str), ["OK", "SHRUNK_TO_TOKEN_BUDGET"])
    norms = np.linalg.norm(emb[ok], axis=1)
    gc = np.linspace(0.3, 0.6, ds.sizes["window"])
    table = win.contig_summary(ds, layer=1, gc=gc)
    assert list(table.index) == ["20"]
    row = table.loc["20"]
    assert row["windows"] == 20
    assert row["bp"] == int((ds["end"].values - ds["start"].values).sum())
    assert row["status_OK"] == 18 and row["status_SKIPPED_ALL_N"] == 2
    assert row["mean_embedding_norm"] == pytest.approx(norms.mean(), rel=1e-6)
    assert row["mean_frac_n"] == pytest.approx(float(ds["frac_n"].values.mean()), rel=1e-6)
    assert row["mean_gc"] == pytest.approx(gc.mean())


def test_window_norms_are_lazy_and_nan_without_data(ds):
    norms = win.window_norms(ds, 2)
    assert norms.chunks is not None  # a dask array: nothing computed yet
    values = norms.values
    skipped = ds["status"].values == WindowStatus.SKIPPED_ALL_N.name
    assert np.isnan(values[skipped]).all() and np.isfinite(values[~skipped]).all()


def test_sequence_stats_equal_pysam_counts(ds, example_inputs):
    stats = win.sequence_stats(ds, example_inputs["fasta"], chunk_windows=3)
    with pysam.FastaFile(str(example_inputs["fasta"])) as fa:
        for i in range(ds.sizes["window"]):
            seq = fa.fetch("20", int(ds["start"][i]), int(ds["end"][i])).upper()
            acgt = sum(seq.count(b) for b in "ACGT")
            n_frac = 1 - acgt / len(seq)
            assert stats["n_fraction"].values[i] == pytest.approx(n_frac)
            if acgt:
                gc = (seq.count("G") + seq.count("C")) / acgt
                assert stats["gc"].values[i] == pytest.approx(gc)
            else:
                assert np.isnan(stats["gc"].values[i])
    # The FASTA's N fraction is the store's own frac_n for reference windows.
    np.testing.assert_allclose(stats["n_fraction"].values, ds["frac_n"].values, atol=1e-6)
    # '+' and '-' rows of one interval read the same reference bases.
    plus = ds["strand"].values == "+"
    np.testing.assert_array_equal(stats["gc"].values[plus], stats["gc"].values[~plus])


def test_sequence_stats_missing_contig_error(ds, tmp_path):
    fasta = tmp_path / "other.fa"
    fasta.write_text(">chrX\nACGTACGTAC\n")
    with pytest.raises(InputError, match=r"the FASTA has no contig\(s\) \['20'\]") as e:
        win.sequence_stats(ds, fasta)
    assert str(fasta) in str(e.value)


def test_resolve_fasta_uses_the_recorded_path(ds, example_inputs):
    source = win.resolve_fasta(dict(ds.attrs))
    assert source is not None and source.path == example_inputs["fasta"]


def test_resolve_fasta_none_when_recorded_path_is_gone(ds):
    attrs = dict(ds.attrs)
    attrs["config"] = {**attrs["config"], "fasta": "/nonexistent/genome.fa"}
    assert win.resolve_fasta(attrs) is None


def test_resolve_fasta_explicit_must_match_the_store(ds, tmp_path):
    fasta = tmp_path / "other.fa"
    fasta.write_text(">20\nACGTACGTAC\n")
    with pytest.raises(InputError, match="contig table \\(.fai\\) differs") as e:
        win.resolve_fasta(dict(ds.attrs), fasta)
    assert "chr20_2mb.fa.gz" in str(e.value) and str(fasta) in str(e.value)


def test_pick_layer_errors(ds, score_store):
    assert win.pick_layer(ds) == 2 and win.pick_layer(ds, 1) == 1
    with pytest.raises(InputError, match=r"layer 7 is not in the store; it has layers \[1, 2\]"):
        win.pick_layer(ds, 7)
    with pytest.raises(InputError, match="no window embeddings"):
        win.pick_layer(st.open(str(score_store)))


def _fasta(path, seq="ACGTNNACGT"):
    path.write_text(f">20\n{seq}\n")
    return path


def test_resolve_fasta_uses_a_recorded_path_only_with_the_stores_digest(tmp_path):
    from ntscale.genome.fasta import FastaSource

    recorded = _fasta(tmp_path / "recorded.fa")
    digest = FastaSource(recorded).fai_digest()
    attrs = {"fasta": {"name": "recorded.fa", "fai_digest": digest},
             "config": {"fasta": str(recorded)}}  # fmt: skip
    assert win.resolve_fasta(attrs).path == recorded
    # the same name now holds another genome (other contig length): not used silently
    _fasta(recorded, "ACGTACGTACGTAAAA")
    (tmp_path / "recorded.fa.fai").unlink()
    assert win.resolve_fasta(attrs) is None
    # a recorded path that is not a FASTA at all
    (tmp_path / "junk.fa").write_bytes(b"\x00\x01 not a fasta")
    assert win.resolve_fasta({"config": {"fasta": str(tmp_path / "junk.fa")}}) is None
    assert win.resolve_fasta({}) is None  # nothing recorded


def test_resolve_fasta_explicit_without_a_recorded_digest_is_taken(tmp_path):
    given = _fasta(tmp_path / "given.fa")
    assert win.resolve_fasta({"config": {"fasta": "/elsewhere.fa"}}, given).path == given

"""The N-run index (scan, cache, identity) and the token-budget rules of the tiler."""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from genome_helpers import random_seq, write_fasta

from ntscale.errors import ConfigError
from ntscale.genome import FastaSource
from ntscale.genome import intervals as iv
from ntscale.genome.gaps import cache_paths, load_gap_index, runs_in, scan_contig
from ntscale.genome.tiling import check_window_fits, nfree_tokens, tile_intervals
from ntscale.tokenizer import get_tokenizer


def brute_runs(seq: str) -> list[list[int]]:
    runs, start = [], None
    for i, c in enumerate(seq + "A"):
        bad = c not in "ACGTacgt"
        if bad and start is None:
            start = i
        elif not bad and start is not None:
            runs.append([start, i])
            start = None
    return runs


@pytest.mark.parametrize("seed", range(5))
def test_runs_match_a_plain_loop(seed):
    rng = np.random.default_rng(seed)
    letters = np.array(list("ACGTacgtNnRY"))
    seq = "".join(rng.choice(letters, 500, p=[0.2] * 4 + [0.02] * 4 + [0.04, 0.03, 0.03, 0.02]))
    assert runs_in(seq).tolist() == brute_runs(seq)
    assert runs_in(seq, 10).tolist() == [[s + 10, e + 10] for s, e in brute_runs(seq)]


def test_scan_joins_runs_cut_by_a_chunk_boundary(tmp_path):
    seq = random_seq(95, 1) + "N" * 30 + random_seq(40, 2) + "N" * 7
    fasta = FastaSource(write_fasta(tmp_path / "x.fa", {"c": seq}))
    for chunk in (1, 7, 100, 1000):
        assert scan_contig(fasta, "c", chunk_bp=chunk).tolist() == [[95, 125], [165, 172]]


def test_cache_beside_the_fasta_is_reused_and_rebuilt_when_the_fasta_changes(tmp_path, monkeypatch):
    monkeypatch.delenv("NTSCALE_GAP_CACHE", raising=False)
    path = write_fasta(tmp_path / "g.fa", {"a": "ACGTNNNNACGT", "b": "NNACGT"})
    first = load_gap_index(path)
    cache = tmp_path / "g.fa.ntgaps.npz"
    assert cache.is_file() and cache_paths(path)[0] == cache
    assert first.contig_runs("a").tolist() == [[4, 8]] and first.contig_runs("b").tolist() == [
        [0, 2]
    ]
    stamp = cache.stat().st_mtime_ns
    again = load_gap_index(path)
    assert cache.stat().st_mtime_ns == stamp  # read, not rewritten
    assert again.contig_runs("a").tolist() == [[4, 8]]
    # Same contig table and length, other content: size/mtime differ, so the index is rebuilt.
    time.sleep(0.01)
    for suffix in (".fai",):
        Path(str(path) + suffix).unlink()
    write_fasta(path, {"a": "ACGTACGTNNNN", "b": "ACGTNN"})
    os.utime(path, ns=(time.time_ns(), time.time_ns() + 10**9))
    changed = load_gap_index(path)
    assert changed.contig_runs("a").tolist() == [[8, 12]]
    assert changed.contig_runs("b").tolist() == [[4, 6]]


def test_cache_falls_back_to_the_user_cache(tmp_path, monkeypatch):
    monkeypatch.delenv("NTSCALE_GAP_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    path = write_fasta(tmp_path / "g.fa", {"a": "ACGTNNNNACGT"})
    # Something that cannot be replaced by a file sits where the cache would go.
    (tmp_path / "g.fa.ntgaps.npz").mkdir()
    index = load_gap_index(path)
    assert index.contig_runs("a").tolist() == [[4, 8]]
    user = cache_paths(path)[1]
    assert user.is_file() and str(user).startswith(str(tmp_path / "xdg" / "ntscale" / "gaps"))
    assert load_gap_index(path).contig_runs("a").tolist() == [[4, 8]]


@pytest.mark.parametrize("length", [1, 5, 6, 7, 293, 294, 295, 300, 12_281, 12_282, 12_283])
def test_nfree_tokens_is_the_tokenizers_count(length):
    tok = get_tokenizer("v2")
    assert nfree_tokens(length) == tok.count_tokens(random_seq(length, length))


def test_over_long_window_is_refused_with_the_maximum():
    check_window_fits(12_282, 2048)
    check_window_fits(294, 50)
    with pytest.raises(ConfigError) as e:
        check_window_fits(1_000, 50, model="model 'tiny'")
    msg = str(e.value)
    assert "\n" not in msg
    assert "at most 50 tokens" in msg and "at most 294 bp" in msg and "needs 171 tokens" in msg
    with pytest.raises(ConfigError, match="at most 12,282 bp"):
        check_window_fits(12_281, 2048)  # 2,046 6-mers + 5 letters + CLS = 2,052 tokens


def test_short_pieces_over_budget_are_split_in_two_covering_windows():
    # 293 bp: 48 6-mers + 5 letters + CLS = 54 > 50 tokens; two 288 bp windows cover it.
    s, e, owner, dropped = tile_intervals(
        np.array([0, 1000]), np.array([293, 1294]), window_bp=294, stride_bp=294,
        last_window="truncate", max_tokens=50,
    )  # fmt: skip
    assert list(zip(s.tolist(), e.tolist(), strict=True)) == [(0, 288), (5, 293), (1000, 1294)]
    assert owner.tolist() == [0, 0, 1] and dropped.shape == (0, 2)
    assert (nfree_tokens(e - s) <= 50).all()


def test_interval_arithmetic_against_a_mask():
    rng = np.random.default_rng(3)
    for _ in range(20):
        a = np.sort(rng.integers(0, 200, (8, 2)), axis=1)
        b = np.sort(rng.integers(0, 200, (8, 2)), axis=1)
        ma, mb = np.zeros(200, bool), np.zeros(200, bool)
        for s, e in a:
            ma[s:e] = True
        for s, e in b:
            mb[s:e] = True
        assert iv.total(*iv.union(a[:, 0], a[:, 1])) == ma.sum()
        assert iv.total(*iv.subtract(a[:, 0], a[:, 1], b[:, 0], b[:, 1])) == (ma & ~mb).sum()
        assert iv.total(*iv.intersect(a[:, 0], a[:, 1], b[:, 0], b[:, 1])) == (ma & mb).sum()


def test_site_bounds_per_haplotype():
    from ntscale.genome.hap_budget import _site_bounds

    # REF A; ALT1 ATTT (+3), ALT2 <DEL> (symbolic: never applied), ALT3 "" is not possible.
    # samples: phased 1|0, unphased 0/1, phased 2|1, missing .|1, haploid 1 (cyvcf2: -2 pad)
    gt = np.array([[1, 0, 1], [0, 1, 0], [2, 1, 1], [-1, 1, 1], [1, -2, 1]], np.int16)
    grow, shrink = _site_bounds("A", ["ATTT", "<DEL>"], gt)
    # 1|0 -> (3, 0); 0/1 unphased -> either: (3, 3); 2|1 -> (0, 3); .|1 -> (0, 3); 1 -> (3, 3)
    assert grow.tolist() == [3, 0, 3, 3, 0, 3, 0, 3, 3, 3]
    assert shrink.tolist() == [0] * 10
    # a deletion (REF ACGT -> A: -3), unphased 1/0: either haplotype may lose 3 bp
    grow, shrink = _site_bounds("ACGT", ["A"], np.array([[1, 0, 0]], np.int16))
    assert grow.tolist() == [0, 0] and shrink.tolist() == [3, 3]


def test_split_for_insertions_bounds_the_worst_haplotype():
    from ntscale.genome.hap_budget import split_for_insertions, worst_tokens

    # A 264 bp window (44 6-mers + CLS = 45 tokens), limit 50. With up to 10 bp inserted on
    # a haplotype every length fits (269 bp: 44 + 5 + 1 = 50); 11 bp can reach 275 bp = 51.
    assert worst_tokens(np.array([264]), np.array([274])).tolist() == [50]
    assert worst_tokens(np.array([264]), np.array([275])).tolist() == [51]

    def split(ins: list[list[int]]) -> tuple[list[int], list[int], int]:
        s, e, n = split_for_insertions(
            np.array([0]), np.array([264]), np.array([100, 200]), np.array(ins),
            np.zeros((2, 2), np.int64), max_tokens=50,
        )  # fmt: skip
        return s.tolist(), e.tolist(), n

    assert split([[6, 0], [4, 0]]) == ([0], [264], 0)  # 10 bp on haplotype 0
    assert split([[6, 0], [5, 0]]) == ([0, 132], [132, 264], 1)  # 11 bp: halved
    assert split([[6, 0], [0, 5]]) == ([0], [264], 0)  # 6 + 5 bp on two haplotypes

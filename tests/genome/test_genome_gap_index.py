"""The N-run index's counts and cache switches (genome/gaps.py), on small real FASTAs."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from genome_helpers import write_fasta

from ntscale.genome import FastaSource
from ntscale.genome.gaps import cache_paths, load_gap_index, runs_in, user_cache_dir


def test_counts_of_runs_and_bases(tmp_path: Path) -> None:
    fa = write_fasta(tmp_path / "g.fa", {"a": "NNACGTNNNNA", "b": "ACGT", "c": "RYacgtnn"})
    index = load_gap_index(fa, cache=False)
    assert index.contig_runs("a").tolist() == [[0, 2], [6, 10]]
    assert index.contig_runs("b").shape == (0, 2)  # present, empty
    assert index.contig_runs("c").tolist() == [[0, 2], [6, 8]]  # IUPAC and lower-case n too
    assert index.contig_runs("zz").shape == (0, 2)  # unknown contig: no runs
    assert [index.n_bases(c) for c in "abc"] == [6, 0, 4]
    assert index.total_n_bases() == 10 and index.n_runs() == 4


def test_cache_false_writes_nothing(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("NTSCALE_GAP_CACHE", str(tmp_path / "cache"))
    fa = write_fasta(tmp_path / "g.fa", {"a": "ACNNA"})
    assert load_gap_index(FastaSource(fa), cache=False).n_runs() == 1
    assert not (tmp_path / "cache").exists()
    assert not any(p.name.endswith(".ntgaps.npz") for p in tmp_path.iterdir())


def test_cache_paths_are_keyed_by_the_resolved_path(tmp_path: Path, monkeypatch) -> None:
    fa = tmp_path / "g.fa"
    digest = hashlib.sha256(str(fa.resolve()).encode()).hexdigest()[:16]
    monkeypatch.setenv("NTSCALE_GAP_CACHE", str(tmp_path / "c"))
    assert cache_paths(fa) == [tmp_path / "c" / f"g.fa.{digest}.ntgaps.npz"]
    monkeypatch.delenv("NTSCALE_GAP_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert user_cache_dir() == tmp_path / "xdg" / "ntscale" / "gaps"
    assert cache_paths(fa) == [
        tmp_path / "g.fa.ntgaps.npz",
        tmp_path / "xdg" / "ntscale" / "gaps" / f"g.fa.{digest}.ntgaps.npz",
    ]
    monkeypatch.chdir(tmp_path)
    assert cache_paths("g.fa") == cache_paths(fa)  # relative and absolute: one cache


@pytest.mark.parametrize(
    ("seq", "runs"),
    [("", []), ("ACGT", []), ("N", [[0, 1]]), ("NACGTN", [[0, 1], [5, 6]]), (b"AC--GT", [[2, 4]])],
)
def test_runs_in_small_cases(seq, runs) -> None:
    got = runs_in(seq)
    assert got.tolist() == runs and got.shape == (len(runs), 2)


def test_cache_beside_the_fasta_is_world_readable(tmp_path: Path, monkeypatch) -> None:
    """Issue 23.10: the cache had mkstemp's mode 0600; now a plain file's, like a .fai."""
    import os
    import stat

    monkeypatch.delenv("NTSCALE_GAP_CACHE", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    (tmp_path / "ref").mkdir()
    old = os.umask(0o022)
    try:
        fa = write_fasta(tmp_path / "ref" / "g.fa", {"a": "ACNNA"})
        load_gap_index(fa)
    finally:
        os.umask(old)
    cached = tmp_path / "ref" / "g.fa.ntgaps.npz"
    assert cached.is_file()
    assert stat.S_IMODE(cached.stat().st_mode) == 0o644
    assert stat.S_IMODE(cached.stat().st_mode) == stat.S_IMODE(
        (tmp_path / "ref" / "g.fa.fai").stat().st_mode
    )
    assert not list((tmp_path / "ref").glob(".ntgaps-*"))  # no temporary left behind


def test_the_user_cache_file_is_world_readable_too(tmp_path: Path, monkeypatch) -> None:
    """Where the FASTA's folder cannot take it (here: NTSCALE_GAP_CACHE), same mode."""
    import os
    import stat

    monkeypatch.setenv("NTSCALE_GAP_CACHE", str(tmp_path / "cache"))
    fa = write_fasta(tmp_path / "g.fa", {"a": "ACNNA"})
    old = os.umask(0o022)
    try:
        assert load_gap_index(fa).n_runs() == 1
    finally:
        os.umask(old)
    (cached,) = (tmp_path / "cache").glob("g.fa.*.ntgaps.npz")
    assert stat.S_IMODE(cached.stat().st_mode) == 0o644
    assert not (tmp_path / "g.fa.ntgaps.npz").exists()

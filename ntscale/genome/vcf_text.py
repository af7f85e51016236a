"""Genotypes of a GT-only text VCF region, parsed with numpy in one vectorised pass.

A cohort VCF (1000 Genomes, `scripts/simulate_cohort.py`) has FORMAT `GT` and one
fixed-width field per sample, `a|b` or `a/b` with single-digit alleles. For such records
htslib's per-sample text parsing in cyvcf2 is most of a window's preparation time
(30-50 ms for 3,202 samples x ~135 records, docs/benchmarks.md): here the region's raw
bgzipped lines come from the tabix index (pysam), and the sample part of all lines is read
as one [R, S, 4] byte array (allele, separator, allele, tab).

Anything else -- another FORMAT, a missing '.' allele, a multi-digit allele, a haploid
or polyploid call, a line that does not split as expected, a contig absent from the index
-- returns None, and the caller reads the region with cyvcf2 instead, so results never
depend on which path ran (tests/genome/test_genome_vcf_text.py compares both).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ntscale.genome.vcf import RegionVariants, VcfRecord

_ZERO, _NINE, _PIPE, _SLASH, _TAB = ord("0"), ord("9"), ord("|"), ord("/"), ord("\t")


class TextGenotypes:
    """Raw-line reader of one bgzipped, tabix/CSI-indexed text VCF (opened lazily)."""

    def __init__(self, path: Path, index: Path, n_file_samples: int) -> None:
        self.path = path
        self.index = index
        self.n_file_samples = int(n_file_samples)
        self._tabix = None

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_tabix"] = None
        return state

    def _lines(self, contig: str, start: int, end: int) -> list[str]:
        if self._tabix is None:
            import pysam

            self._tabix = pysam.TabixFile(str(self.path), index=str(self.index))
        return list(self._tabix.fetch(contig, start, end))

    def query(
        self, contig: str, start: int, end: int, columns: np.ndarray | None
    ) -> RegionVariants | None:
        """Records overlapping [start, end) of the VCF contig `contig`, or None (use cyvcf2).

        Args:
            contig: the VCF's contig name.
            start, end: 0-based half-open region.
            columns: int64 [S] file column of each chosen sample, or None for all in order.
        """
        try:
            lines = self._lines(contig, start, end)
            return parse_gt_lines(lines, self.n_file_samples, columns)
        except (ValueError, OSError, UnicodeError):
            return None  # contig not in the index, a read or parse error: cyvcf2 says it

    def close(self) -> None:
        if self._tabix is not None:
            self._tabix.close()
            self._tabix = None


def parse_gt_lines(
    lines: list[str], n_file_samples: int, columns: np.ndarray | None
) -> RegionVariants | None:
    """RegionVariants of raw VCF data lines, or None when any line is not fixed-width GT.

    Args:
        lines: VCF data lines (no newline), all samples of the file.
        n_file_samples: samples in the file's header.
        columns: int64 [S] chosen file columns, or None for all.
    """
    s = n_file_samples
    if not lines:
        return None  # let cyvcf2 handle empty regions (and its "no intervals" notice)
    records: list[VcfRecord] = []
    parts: list[str] = []
    for line in lines:
        f = line.split("\t", 9)
        if len(f) != 10 or f[8] != "GT":
            return None
        alts = f[4]
        records.append(
            VcfRecord(
                contig=f[0],
                start=int(f[1]) - 1,
                ref=f[3],
                alts=() if alts == "." else tuple(alts.split(",")),
                id=None if f[2] == "." else f[2],
            )
        )
        parts.append(f[9])
    r = len(parts)
    buf = ("\t".join(parts) + "\t").encode("ascii", "replace")
    if len(buf) != r * s * 4:
        return None  # some field is not 3 characters wide (multi-digit, haploid, '.', ...)
    a = np.frombuffer(buf, np.uint8).reshape(r, s, 4)
    al = a[:, :, 0:3:2]
    sep = a[:, :, 1]
    if not (
        ((al >= _ZERO) & (al <= _NINE)).all()
        and ((sep == _PIPE) | (sep == _SLASH)).all()
        and (a[:, :, 3] == _TAB).all()
    ):
        return None
    gt = al.astype(np.int16) - _ZERO
    phased = sep == _PIPE
    n_alleles = np.array([len(x.alts) for x in records], np.int16)
    if (gt > n_alleles[:, None, None]).any():
        return None  # an allele index past the ALTs: cyvcf2 decides what that means
    if columns is not None:
        gt = gt[:, columns]
        phased = phased[:, columns]
    return RegionVariants(tuple(records), np.ascontiguousarray(gt), np.ascontiguousarray(phased))


__all__ = ["TextGenotypes", "parse_gt_lines"]

"""Readable calibration strata (issue 23, point 5): every one of the 576 strata named, and
the name read back from the trinucleotide and the base it was made from."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from ntscale.scoring.calibration import BASES, N_STRATA, snv_class, strata, stratum_label

COMP = {"A": "T", "C": "G", "G": "C", "T": "A"}


def test_every_stratum_has_a_distinct_label() -> None:
    labels = [stratum_label(s) for s in range(N_STRATA)]
    assert len(set(labels)) == N_STRATA
    assert labels[0] == "A[C>A]A, base 1 of 6"
    with pytest.raises(ValueError, match="stratum 576 is not in 0..575"):
        stratum_label(N_STRATA)


@pytest.mark.parametrize("ref", list(BASES))
def test_labels_read_back_the_snv_they_came_from(ref: str) -> None:
    for left, alt, right in itertools.product(BASES, BASES, BASES):
        if alt == ref:
            continue
        code = {b: i for i, b in enumerate(BASES)}
        cls = snv_class(*(np.array([code[x]]) for x in (left, ref, alt, right)))
        for base in range(6):
            label = stratum_label(int(strata(cls, np.array([base]))[0]))
            tri, where = label.split(", ")
            assert where == f"base {base + 1} of 6"
            # REF folded to a pyrimidine: the reverse complement when REF is a purine
            if ref in "CT":
                want = f"{left}[{ref}>{alt}]{right}"
            else:
                want = f"{COMP[right]}[{COMP[ref]}>{COMP[alt]}]{COMP[left]}"
            folded_cpg = want[2] == "C" and want[-1] == "G"
            assert tri == want + (" CpG" if folded_cpg else ""), (left, ref, alt, right)


def test_a_cpg_transition_reads_as_such() -> None:
    code = {b: i for i, b in enumerate(BASES)}
    cls = snv_class(*(np.array([code[x]]) for x in "ACTG"))  # A[C>T]G
    assert stratum_label(int(strata(cls, np.array([1]))[0])) == "A[C>T]G CpG, base 2 of 6"

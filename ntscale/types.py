"""Small shared value types and status codes.

Shape glossary used across ntscale (comments put these on array signatures):
  W  windows (rows of a plan or of a store)
  B  batch of windows sent to the model
  T  tokens per window, CLS included (bucketed, padded with <pad>)
  D  model embedding dimension
  V  vocabulary size (logits)
  L  number of transformer layers; layers are numbered 1..L

Coordinates are 0-based half-open everywhere inside ntscale; a 1-based VCF position
is named `pos1` wherever it appears.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

UNPHASED_POLICIES = ("error", "ref", "alt", "skip")
"""What a haplotype run does with an unphased heterozygous genotype (`--unphased`)."""
REF_MISMATCH_POLICIES = ("error", "skip")
"""What a haplotype run does with a VCF REF that differs from the FASTA (`--ref-mismatch`)."""


class Strand(enum.IntEnum):
    """Strand of a window: the reverse strand is the reverse complement of the reference."""

    FORWARD = 0
    REVERSE = 1

    @property
    def symbol(self) -> str:
        return "+" if self is Strand.FORWARD else "-"


class WindowStatus(enum.IntEnum):
    """Why a window has (or lacks) data. Every planned window keeps its row and a status."""

    OK = 0
    SHRUNK_TO_TOKEN_BUDGET = 1  # Ns inflated the token count: the window's end was moved in
    SKIPPED_ALL_N = 2  # nothing but N: no forward pass, embeddings are NaN
    SKIPPED_HAPLOTYPE = 3  # the haplotype could not be built (see the run log / variant statuses)
    TOO_SHORT = 4  # NTv3: an N-free stretch shorter than one block of 2^n bases: no pass
    PENDING = 255  # planned, its unit not written yet


REFERENCE_HAPLOTYPE = -1  # haplotype id of a window on the reference sequence


@dataclass(frozen=True, slots=True)
class Region:
    """A 0-based half-open interval on one contig."""

    contig: str
    start: int
    end: int

    def __str__(self) -> str:
        return f"{self.contig}:{self.start}-{self.end}"


class ScoreStatus(enum.IntEnum):
    """Outcome of scoring one ALT allele (one row of a score store).

    Codes below 10 are scored rows (some scores may be NaN by design, e.g. no LLR for an
    indel); codes from 10 up are rows that were not scored (every score NaN).
    """

    OK = 0  # SNV at the window centre: every score
    NO_LLR_NOT_SNV = 1  # indel or MNV: distances only, LLR is NaN
    OFF_CENTRE = 2  # SNV whose window was clipped at a contig end: scored, not central
    OFF_CENTRE_NOT_SNV = 3  # indel/MNV with a clipped window: distances only
    ALT_WINDOW_SHORT = 4  # deletion at a contig end: alt window shorter (nothing to extend)
    MNV_ONE_KMER = 5  # MNV inside one 6-mer: masked 6-mer LLR and distances, no llr_wt
    TILED_OFF_CENTRE = 6  # tiled mode: SNV not at the centre position of its tile
    NO_LLR_N_IN_KMER = 7  # SNV whose 6-mer holds an N (no 6-mer token): distances, LLR NaN
    # -- not scored ------------------------------------------------------------------
    SYMBOLIC_ALLELE = 10  # <DEL>, <*>, *, breakends
    MISSING_ALT = 11  # ALT is '.'
    ALLELE_NOT_ACGT = 12  # REF or ALT has N or another IUPAC letter
    CONTIG_NOT_IN_FASTA = 13
    DUPLICATE_RECORD = 14  # same contig, pos, REF, ALT as an earlier row (which is scored)
    OUTSIDE_CONTIG = 15  # REF runs past the contig end
    REF_MISMATCH = 16  # REF differs from the FASTA
    ALLELE_EXCEEDS_WINDOW = 17  # REF or ALT runs past the end of the window
    OVER_TOKEN_LIMIT = 18  # N-rich window: more tokens than the model accepts
    PENDING = 255  # unit not written yet (store fill value)

    @property
    def scored(self) -> bool:
        """Whether rows with this status carry scores."""
        return int(self) < 10


def score_status_names() -> dict[str, str]:
    """Code -> lower-case name (string keys, JSON-ready) for the store's root attributes."""
    return {str(int(s)): s.name.lower() for s in ScoreStatus}

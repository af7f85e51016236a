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

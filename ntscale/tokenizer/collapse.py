"""Fixed-frame tokenization with N-containing 6-mers collapsed to one N token.

The TraitGym / GPN protocol for NT cuts a window into its W // 6 six-mers from the left
end, replaces every 6-mer that holds a letter other than A, C, G, T by a single "N" (one
token) and drops the W % 6 trailing bases. Every window of W bp then has exactly
W // 6 + 1 tokens (CLS first) and token i + 1 always covers bases [6i, 6i + 6): token
positions line up between the reference and the alternative window whatever Ns they hold.
"""

from __future__ import annotations

import numpy as np

_ACGT = frozenset("ACGT")


def collapse_n_kmers(sequence: str, *, k: int = 6) -> str:
    """The sequence as TraitGym feeds it to the tokenizer (upper case expected).

    Returns the first (len // k) k-mers, each kept if it is pure A/C/G/T and replaced by
    "N" otherwise; the len % k trailing bases are dropped.
    """
    n = len(sequence) // k
    kmers = (sequence[i * k : (i + 1) * k] for i in range(n))
    return "".join(s if set(s) <= _ACGT else "N" for s in kmers)


def collapsed_spans(n_bp: int, *, k: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """(starts, lengths) in the original window of the tokens of `collapse_n_kmers`.

    Token i + 1 (after CLS) covers bases [k i, k i + k) of the window, N token or not.
    """
    n = n_bp // k
    return np.arange(n, dtype=np.int64) * k, np.full(n, k, np.int64)


__all__ = ["collapse_n_kmers", "collapsed_spans"]

"""NT 6-mer tokenizer (numpy only): vocabularies v1/v2, vectorised encoding, reverse complement.

Typical use: `get_tokenizer("v2").encode_batch(["ACGTACGTA", "N"], length=8)` gives a [2, 8]
int32 batch, <cls> first, right-padded with <pad>.
"""

from ntscale.tokenizer.alphabet import reverse_complement
from ntscale.tokenizer.collapse import collapse_n_kmers, collapsed_spans
from ntscale.tokenizer.tokenizer import Tokenizer, get_tokenizer
from ntscale.tokenizer.vocab import VERSIONS

__all__ = [
    "VERSIONS",
    "Tokenizer",
    "collapse_n_kmers",
    "collapsed_spans",
    "get_tokenizer",
    "reverse_complement",
]

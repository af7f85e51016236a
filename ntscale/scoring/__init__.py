"""Zero-shot variant effect scores: pure functions over model outputs (no files, no Ray).

- `reduce`: on-device reductions (mean pooling, variant-token pooling, the SNV table of
  log-probabilities) that work on numpy and jax.numpy arrays alike.
- `scores`: distances (L2, cosine), the SNV log-likelihood ratio, score names.
"""

from ntscale.scoring.reduce import (
    BASES,
    ScoringReduction,
    WindowPooling,
    log_softmax,
    mean_pool,
    reduce_outputs,
    snv_table,
    weighted_pool,
)
from ntscale.scoring.scores import (
    SCORE_KINDS,
    complement,
    cosine_distance,
    flat_scores,
    l2_distance,
    parse_scores,
    score_names,
    snv_llr,
    token_at,
    token_weights,
)

__all__ = [
    "BASES",
    "SCORE_KINDS",
    "ScoringReduction",
    "WindowPooling",
    "complement",
    "cosine_distance",
    "flat_scores",
    "l2_distance",
    "log_softmax",
    "mean_pool",
    "parse_scores",
    "reduce_outputs",
    "score_names",
    "snv_llr",
    "snv_table",
    "token_at",
    "token_weights",
    "weighted_pool",
]

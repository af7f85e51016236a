"""Pure scoring functions: SNV table, pooling, distances, names (numpy and jax.numpy)."""

from __future__ import annotations

import itertools

import jax.numpy as jnp
import numpy as np
import pytest

from ntscale.errors import ConfigError
from ntscale.scoring import (
    cosine_distance,
    l2_distance,
    log_softmax,
    mean_pool,
    parse_scores,
    score_names,
    snv_llr,
    snv_table,
    token_at,
    token_weights,
    weighted_pool,
)
from ntscale.tokenizer import get_tokenizer

TOK = get_tokenizer("v2")


def _table_by_loop(logits: np.ndarray, tokens: np.ndarray) -> np.ndarray:
    """The SNV table the slow way: spell each token, substitute, look the id up."""
    logp = logits - np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1, keepdims=True))
    logp -= logits.max(-1, keepdims=True)
    out = np.full(tokens.shape + (6, 4), np.nan, np.float32)
    for b, t in itertools.product(range(tokens.shape[0]), range(tokens.shape[1])):
        word = TOK.id_to_token(int(tokens[b, t]))
        if len(word) == 6:
            for j, d in itertools.product(range(6), range(4)):
                new = word[:j] + "ACGT"[d] + word[j + 1 :]
                out[b, t, j, d] = logp[b, t, TOK.token_to_id(new)]
        elif word in "ACGT" and len(word) == 1:
            for d in range(4):
                out[b, t, 0, d] = logp[b, t, TOK.token_to_id("ACGT"[d])]
    return out


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(7)
    tokens = TOK.encode_batch(["ACGTACGGATTACANCGT", "TTTTTTGGGGGGA"], length=10)
    logits = rng.normal(size=tokens.shape + (TOK.vocab_size,)).astype(np.float32) * 3
    return tokens, logits


def test_snv_table_matches_a_plain_loop(batch):
    tokens, logits = batch
    got = snv_table(logits, tokens, kmer_offset=int(TOK.kmer_ids[0]), letter_ids=TOK.letter_ids)
    want = _table_by_loop(logits.astype(np.float64), tokens)
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)
    # CLS, N and pad rows are NaN; the ref token's own entry appears once per base
    assert np.isnan(got[:, 0]).all()
    assert np.isnan(got[1, -1]).all()


def test_snv_table_jnp_equals_numpy(batch):
    tokens, logits = batch
    kw = {"kmer_offset": int(TOK.kmer_ids[0]), "letter_ids": TOK.letter_ids}
    a = snv_table(logits, tokens, **kw)
    b = np.asarray(snv_table(jnp.asarray(logits), jnp.asarray(tokens), **kw))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5, equal_nan=True)


def test_table_entry_of_the_ref_base_is_the_ref_token_logprob(batch):
    tokens, logits = batch
    table = snv_table(logits, tokens, kmer_offset=int(TOK.kmer_ids[0]), letter_ids=TOK.letter_ids)
    lp = log_softmax(logits)
    word = TOK.id_to_token(int(tokens[0, 1]))  # "ACGTAC"
    for j, base in enumerate(word):
        assert table[0, 1, j, "ACGT".index(base)] == pytest.approx(lp[0, 1, tokens[0, 1]], abs=1e-5)
    # llr of a base to itself is 0; A->C at base 0 equals the log-prob difference of the ids
    assert snv_llr(table[0], 1, 0, "A", "A") == 0.0
    want = lp[0, 1, TOK.token_to_id("CCGTAC")] - lp[0, 1, TOK.token_to_id("ACGTAC")]
    assert snv_llr(table[0], 1, 0, "A", "C") == pytest.approx(float(want), abs=1e-5)


def test_mean_pool_skips_cls_and_pad():
    tokens = np.array([[3, 10, 11, 1, 1]])
    emb = np.arange(5 * 2, dtype=np.float32).reshape(1, 5, 2)
    np.testing.assert_allclose(mean_pool(emb, tokens, pad_id=1, cls_id=3), [[3.0, 4.0]])
    w = np.array([[[0, 0.5, 0.5, 0, 0], [0, 0, 1, 0, 0]]], np.float32)
    np.testing.assert_allclose(weighted_pool(emb, w), [[[3.0, 4.0], [4.0, 5.0]]])


def test_distances_pinned_and_symmetric():
    x, y = np.array([3.0, 0.0]), np.array([0.0, 4.0])
    assert l2_distance(x, y) == pytest.approx(5.0)
    assert cosine_distance(x, y) == pytest.approx(1.0)
    assert cosine_distance(x, 2 * x) == pytest.approx(0.0, abs=1e-7)
    assert cosine_distance(-x, x) == pytest.approx(2.0)
    assert np.isnan(cosine_distance(x, np.zeros(2)))
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(2, 5, 8))
    np.testing.assert_allclose(l2_distance(a, b), l2_distance(b, a))
    np.testing.assert_allclose(cosine_distance(a, b), cosine_distance(b, a), rtol=1e-6)


def test_token_weights_and_token_at():
    seq = "ACGTACGGNTTACAGG"  # tokens: ACGTAC GG(2 letters) N TTACAG G
    starts, lengths = TOK.token_spans(seq)
    assert token_at(starts, lengths, 3) == (1, 3)
    assert token_at(starts, lengths, 7) == (3, 0)  # second G single-letter token
    w = token_weights(starts, lengths, 5, 7)  # bases 5..6 -> tokens 1 and 2
    np.testing.assert_allclose(w[:4], [0, 0.5, 0.5, 0])
    assert w.sum() == pytest.approx(1.0)
    np.testing.assert_allclose(token_weights(starts, lengths, 10, 10)[5], 1.0)  # empty = base 10
    with pytest.raises(ValueError, match="not covered"):
        token_at(starts, lengths, 99)


def test_parse_scores_and_names():
    assert parse_scores(["llr", "l2"]) == ("llr_masked", "llr_wt", "l2")
    assert parse_scores(("COSINE", "llr_wt")) == ("llr_wt", "cosine")
    assert score_names(("llr_wt", "l2", "cosine"), (1, 2)) == (
        "llr_wt",
        "l2_mean_layer_1",
        "l2_variant_layer_1",
        "l2_mean_layer_2",
        "l2_variant_layer_2",
        "cosine_mean_layer_1",
        "cosine_variant_layer_1",
        "cosine_mean_layer_2",
        "cosine_variant_layer_2",
    )
    with pytest.raises(ConfigError, match="unknown score 'kl'; valid scores: llr"):
        parse_scores(["kl"])
    with pytest.raises(ConfigError, match="no scores requested"):
        parse_scores([])

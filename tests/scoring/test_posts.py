"""The post-functions of the one jitted forward path: `WindowPooling` and `ScoringReduction`."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.scoring import ScoringReduction, WindowPooling
from ntscale.tokenizer import get_tokenizer

PAD, CLS = 1, 3


def test_window_pooling_keeps_mean_cls_and_tokens_as_the_store_wants():
    # two rows: CLS + 3 tokens, CLS + 1 token, right-padded to T = 5
    tokens = np.array([[CLS, 10, 11, 12, PAD], [CLS, 20, PAD, PAD, PAD]])
    emb = np.arange(2 * 5 * 2, dtype=np.float32).reshape(2, 5, 2)  # [B, T, D]
    embeddings = {2: -emb, 4: emb}
    # layers stacked on axis 1 in the post's order: index 0 is layer 4, index 1 layer 2
    post = WindowPooling(layers=(4, 2), pad_id=PAD, cls_id=CLS, cls=True, per_token=True)
    out = post({"embeddings": embeddings}, tokens)
    assert sorted(out) == ["cls", "mean", "tokens"]
    # row 0: mean of positions 1-3 = ([2,3] + [4,5] + [6,7]) / 3; row 1: position 1 alone
    mean = np.array([[4.0, 5.0], [12.0, 13.0]])
    assert out["mean"].shape == (2, 2, 2) and out["mean"].dtype == np.float32  # [B, L, D]
    np.testing.assert_array_equal(out["mean"], np.stack([mean, -mean], axis=1))
    cls = np.array([[0.0, 1.0], [10.0, 11.0]])
    assert out["cls"].dtype == np.float32
    np.testing.assert_array_equal(out["cls"], np.stack([cls, -cls], axis=1))
    assert out["tokens"].shape == (2, 2, 5, 2) and out["tokens"].dtype == np.float16
    np.testing.assert_array_equal(out["tokens"], np.stack([emb, -emb], axis=1).astype(np.float16))
    plain = WindowPooling(layers=(4,), pad_id=PAD, cls_id=CLS)
    only_mean = plain({"embeddings": embeddings}, tokens)
    assert sorted(only_mean) == ["mean"]
    np.testing.assert_array_equal(only_mean["mean"], mean[:, None])  # L = 1


@pytest.mark.parametrize(("version", "kmer_offset", "letter_a"), [("v1", 4, 4100), ("v2", 6, 4102)])
def test_scoring_reduction_takes_each_versions_ids(version, kmer_offset, letter_a):
    """v1 and v2 vocabularies differ: AAAAAA is id 4 in v1 and 6 in v2."""
    tok = get_tokenizer(version)
    post = ScoringReduction.for_tokenizer(tok, table=True)
    assert tok.encode("AAAAAA")[1] == post.kmer_offset == kmer_offset
    assert dict(post.letter_ids)["A"] == letter_a
    assert (post.pad_id, post.cls_id, post.mask_id) == (1, 3, 2)


def test_equal_settings_are_equal_cache_keys():
    """Posts key the compiled programs: a new worker's equal post must find the old one."""
    tok = get_tokenizer("v2")
    a = ScoringReduction.for_tokenizer(tok, table=True)
    b = ScoringReduction.for_tokenizer(tok, table=True)
    assert a == b and hash(a) == hash(b)
    assert a != ScoringReduction.for_tokenizer(tok, table=False)
    assert a != ScoringReduction.for_tokenizer(tok, table=True, token_embeddings=True)
    p = WindowPooling(layers=(1, 2), pad_id=PAD, cls_id=CLS)
    assert p == WindowPooling(layers=(1, 2), pad_id=PAD, cls_id=CLS)
    assert len({p, WindowPooling(layers=(1, 2), pad_id=PAD, cls_id=CLS, cls=True)}) == 2


def test_scoring_reduction_reads_the_masked_row_and_pools():
    """On numpy outputs: the log-probabilities at the <mask> token and the weighted pools."""
    tok = get_tokenizer("v2")
    post = ScoringReduction.for_tokenizer(tok, table=True)
    V = tok.vocab_size
    tokens = np.array([[CLS, 100, tok.mask_id, 200]])
    logits = np.zeros((1, 4, V), np.float32)
    logits[0, 2, 7] = np.log(3.0)  # at the mask: id 7 three times as likely as each other id
    emb = np.array([[[0.0], [1.0], [2.0], [4.0]]], np.float32)
    weights = np.array([[[0, 0.5, 0.5, 0], [0, 0, 0, 1]]], np.float32)
    out = post({"embeddings": {1: emb}, "logits": logits}, tokens, weights, None)
    np.testing.assert_allclose(out["masked_logp"][0, 7], np.log(3.0 / (V + 2)), rtol=1e-6)
    np.testing.assert_allclose(out["masked_logp"][0, 8], np.log(1.0 / (V + 2)), rtol=1e-6)
    np.testing.assert_array_equal(out["pooled"][1], [[[1.5], [4.0]]])
    np.testing.assert_allclose(out["mean"][1], [[7.0 / 3]], rtol=1e-6)  # <mask> counts
    assert out["table"].shape == (1, 4, 6, 4)

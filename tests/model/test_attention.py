"""The blocked online-softmax attention, both schedules ("chunked": all rows and heads per
block; "headwise": one head of one row per block): equal to XLA's, any block sizes, any mask."""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntscale.model import attention as attention_mod
from ntscale.model import modules
from ntscale.model.attention import block_sizes, chunked_attention
from ntscale.model.forward import forward


def _qkv(b: int, t: int, h: int, k: int, seed: int = 0, dtype=np.float32):
    rng = np.random.default_rng(seed)
    return tuple(jnp.asarray(rng.standard_normal((b, t, h, k)).astype(dtype)) for _ in range(3))


def _xla(q, k, v, mask, scale):
    return jax.nn.dot_product_attention(
        q, k, v, mask=mask[:, None, None, :], scale=scale, implementation="xla"
    )


SCHEDULES = pytest.mark.parametrize("headwise", [False, True], ids=["chunked", "headwise"])


@SCHEDULES
@pytest.mark.parametrize(
    ("t", "qb", "kb"),
    [(16, 16, 16), (37, 8, 16), (64, 16, 8), (50, 7, 13), (33, 64, 64), (40, 40, 5)],
)
def test_chunked_equals_xla_attention_with_right_padding(t, qb, kb, headwise):
    """Right-padded rows (the tokenizer's padding), block sizes that do and do not divide T."""
    q, k, v = _qkv(3, t, 2, 8, seed=t)
    lengths = np.array([t, max(1, t // 3), t - 1])
    mask = jnp.asarray(np.arange(t)[None, :] < lengths[:, None])
    got = chunked_attention(
        q, k, v, key_mask=mask, scale=0.3, query_block=qb, key_block=kb, headwise=headwise
    )
    want = _xla(q, k, v, mask, 0.3)
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(np.asarray(got), np.asarray(want), rtol=2e-6, atol=2e-6)


@SCHEDULES
def test_a_first_key_block_wholly_masked_gives_no_nan(headwise):
    """Keys valid only in a late block: the online softmax must not produce inf - inf."""
    t = 32
    q, k, v = _qkv(2, t, 2, 4, seed=3)
    mask = np.zeros((2, t), bool)
    mask[0, 20:] = True  # the first two blocks of 8 hold no valid key
    mask[1, [3, 31]] = True
    mask = jnp.asarray(mask)
    got = chunked_attention(
        q, k, v, key_mask=mask, scale=0.5, query_block=8, key_block=8, headwise=headwise
    )
    assert np.isfinite(np.asarray(got)).all()
    np.testing.assert_allclose(
        np.asarray(got), np.asarray(_xla(q, k, v, mask, 0.5)), rtol=2e-6, atol=2e-6
    )


@SCHEDULES
def test_masked_keys_have_no_influence(headwise):
    """Changing the values and keys behind the mask leaves the output unchanged."""
    t = 24
    q, k, v = _qkv(1, t, 2, 4, seed=4)
    mask = jnp.asarray(np.arange(t)[None, :] < 10)
    run = functools.partial(
        chunked_attention, key_mask=mask, scale=0.5, query_block=8, key_block=4, headwise=headwise
    )
    base = np.asarray(run(q, k, v))
    k2 = k.at[:, 10:].set(100.0)
    v2 = v.at[:, 10:].set(-7.0)
    np.testing.assert_allclose(np.asarray(run(q, k2, v2)), base, rtol=1e-6, atol=1e-6)


@SCHEDULES
def test_bfloat16_inputs_stay_close_and_keep_their_dtype(headwise):
    q, k, v = _qkv(2, 48, 2, 8, seed=5)
    mask = jnp.asarray(np.arange(48)[None, :] < np.array([[48], [30]]))
    low = [x.astype(jnp.bfloat16) for x in (q, k, v)]
    got = chunked_attention(
        *low, key_mask=mask, scale=0.35, query_block=16, key_block=16, headwise=headwise
    )
    assert got.dtype == jnp.bfloat16
    want = _xla(q, k, v, mask, 0.35)
    np.testing.assert_allclose(
        np.asarray(got.astype(jnp.float32)), np.asarray(want), rtol=0.05, atol=0.05
    )


def test_block_sizes_never_exceed_the_tokens():
    assert block_sizes(2048) == (attention_mod.QUERY_BLOCK, attention_mod.KEY_BLOCK)
    assert block_sizes(100) == (100, 100)
    assert block_sizes(600, query_block=256, key_block=1024) == (256, 600)


def test_headwise_default_blocks_hold_about_a_million_scores(monkeypatch):
    """The head-wise schedule's query block is HEAD_SCORES over the key block (128-1,024
    rows), both evened out over T: seen through the block sizes it hands to the stacks."""
    seen = []
    real = attention_mod.block_sizes

    def spy(t, **kw):
        seen.append(real(t, **kw))
        return seen[-1]

    monkeypatch.setattr(attention_mod, "block_sizes", spy)
    for t in (512, 1000, 1024, 1500, 2048, 3000, 4096, 8192):
        q, k, v = _qkv(1, t, 1, 4, seed=1)
        chunked_attention(q, k, v, key_mask=jnp.ones((1, t), bool), scale=0.5, headwise=True)
    assert seen == [
        (512, 512),
        (1000, 1000),
        (1024, 1024),
        (500, 1500),  # 2^20 / 1,500 = 699 rows: 3 even blocks of 500, nothing padded
        (512, 2048),
        (600, 1500),  # keys in 2 even blocks of 1,500; queries in 5 of 600
        (512, 2048),
        (512, 2048),
    ]


def test_one_query_block_program_holds_no_full_score_tensor():
    """The compiled program at 1,024 tokens x 4 heads with 128-wide blocks is far smaller
    than one [B, H, T, T] float32 score tensor (what XLA's attention materialises); so is
    the head-wise schedule's at its default blocks (a few of one head's [T, T] blocks, not
    B x H of them)."""
    b, t, h, kd = 2, 1024, 4, 16
    spec = jax.ShapeDtypeStruct((b, t, h, kd), jnp.float32)
    mask = jax.ShapeDtypeStruct((b, t), jnp.bool_)

    def temp_bytes(fn) -> int:
        compiled = jax.jit(fn).lower(spec, spec, spec, mask).compile()
        return compiled.memory_analysis().temp_size_in_bytes

    chunked = temp_bytes(
        lambda q, k, v, m: chunked_attention(
            q, k, v, key_mask=m, scale=0.25, query_block=128, key_block=128
        )
    )
    headwise = temp_bytes(
        lambda q, k, v, m: chunked_attention(q, k, v, key_mask=m, scale=0.25, headwise=True)
    )
    full = temp_bytes(lambda q, k, v, m: _xla(q, k, v, m, 0.25))
    scores = b * h * t * t * 4
    assert full >= scores  # the comparison means something
    assert chunked < scores / 4, (chunked, scores)
    one_head = t * t * 4  # the head-wise block at 1,024 tokens: one head's [T, T] scores
    assert headwise < 3 * one_head < scores, (headwise, scores)


@pytest.mark.parametrize("impl", ["chunked", "headwise"])
@pytest.mark.parametrize("which", ["v1", "v2", "hf"])
def test_golden_parity_with_small_blocks(which, impl, models, expected, monkeypatch):
    """The reference fixtures at the parity tolerance with blocks far smaller than T, so
    the online softmax folds several key blocks and several query blocks run."""
    tokens, nonpad, logits, layers = expected(which)
    model = models(which)
    small = functools.partial(chunked_attention, query_block=8, key_block=16)
    monkeypatch.setattr(modules, "chunked_attention", small)
    assert tokens.shape[1] > 16
    out = forward(
        model.params,
        jnp.asarray(tokens),
        config=model.config,
        precision=model.precision,
        attention=impl,
        layers=tuple(layers),
        logits=True,
    )
    np.testing.assert_allclose(
        np.asarray(out["logits"])[nonpad], logits[nonpad], rtol=1e-4, atol=1e-4
    )
    for layer, want in layers.items():
        got = np.asarray(out["embeddings"][layer])
        np.testing.assert_allclose(got[nonpad], want[nonpad], rtol=1e-4, atol=1e-4)


def test_models_default_to_headwise_attention_on_cpu(models):
    assert jax.default_backend() == "cpu"
    assert models("v2").attention == "headwise"


@SCHEDULES
@pytest.mark.parametrize(("t", "qb", "kb"), [(128, 512, 1024), (256, 64, 64), (200, 64, 128)])
def test_a_rows_bits_do_not_depend_on_the_batch_size(t, qb, kb, headwise):
    """Short last batches (fewer rows) and dedup rely on a row's output being the same
    bits whatever else is in its batch: compare batches of 1..4 with the rows of 8."""
    b = 8
    q, k, v = _qkv(b, t, 4, 16, seed=t)
    rng = np.random.default_rng(t)
    mask = jnp.asarray(np.arange(t)[None, :] < rng.integers(t // 2, t + 1, b)[:, None])
    run = jax.jit(
        functools.partial(
            chunked_attention, scale=0.25, query_block=qb, key_block=kb, headwise=headwise
        )
    )
    full = np.asarray(run(q, k, v, key_mask=mask))
    for n in (1, 2, 3, 4):
        part = np.asarray(run(q[:n], k[:n], v[:n], key_mask=mask[:n]))
        np.testing.assert_array_equal(part, full[:n])


def test_model_rows_equal_across_batch_sizes(models):
    """The whole forward (CPU default: head-wise attention) gives a row the same bits in a
    batch of 8 and in batches of 2 and 4, as the store's dedup and short last batches need
    (batches of one row compile differently: `batch_rows` never makes them)."""
    model = models("v2")
    rng = np.random.default_rng(0)
    t = model.config.max_tokens
    tokens = rng.integers(6, model.config.vocab_size, (8, t)).astype(np.int32)
    tokens[:, 0] = 3
    tokens[:, t - 9 :] = model.config.pad_token_id
    fn = model.compiled((1, 2), False, post=None)
    full = fn(tokens)["embeddings"]
    for n in (2, 4):
        part = fn(tokens[:n])["embeddings"]
        for layer in (1, 2):
            np.testing.assert_array_equal(np.asarray(part[layer]), np.asarray(full[layer])[:n])

"""float32 parity with the reference outputs, bf16 closeness, padding invariance."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.tokenizer import get_tokenizer

WHICH = ["v1", "v2", "hf"]


@pytest.mark.parametrize("which", WHICH)
def test_float32_logits_and_every_layer_match_reference(which, models, expected):
    tokens, nonpad, logits, layers = expected(which)
    model = models(which)
    out = model.apply(tokens, layers=tuple(layers), logits=True)
    np.testing.assert_allclose(out["logits"][nonpad], logits[nonpad], rtol=1e-4, atol=1e-4)
    assert set(out["embeddings"]) == set(layers)
    for layer, want in layers.items():
        got = out["embeddings"][layer]
        assert got.dtype == np.float32 and got.shape == want.shape
        np.testing.assert_allclose(got[nonpad], want[nonpad], rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_logits_are_zero_at_pad_positions(which, models, expected):
    tokens, nonpad, _, _ = expected(which)
    out = models(which).apply(tokens, logits=True)
    assert (~nonpad).any()
    assert np.all(out["logits"][~nonpad] == 0.0)
    assert np.all(out["logits"][nonpad] != 0.0)


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_tokenizer_gives_the_fixture_token_ids(version, ref_meta, expected):
    meta = ref_meta[version]
    tokens = expected(version)[0]
    seqs = [s["sequence"] for s in meta["sequences"]]
    ids = get_tokenizer(version).encode_batch(seqs, length=meta["fixed_length"])
    edit = meta["mask_edit"]
    assert ids[edit["row"], edit["position"]] == edit["original_token_id"]
    ids[edit["row"], edit["position"]] = 2  # the fixture's deliberate <mask>
    np.testing.assert_array_equal(ids, tokens)


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


@pytest.mark.parametrize("which", WHICH)
def test_bfloat16_embeddings_close_to_float32(which, models, expected):
    tokens, nonpad, _, layers = expected(which)
    ref = models(which).apply(tokens, layers=tuple(layers), logits=True)
    low = models(which, "bf16").apply(tokens, layers=tuple(layers), logits=True)
    assert models(which, "bf16").dtype == "bfloat16"
    for layer in layers:
        assert not np.isnan(low["embeddings"][layer]).any()
        cos = _cosine(low["embeddings"][layer][nonpad], ref["embeddings"][layer][nonpad])
        assert cos.min() >= 0.999, (layer, cos.min())
    assert not np.isnan(low["logits"]).any()
    assert np.abs(low["logits"] - ref["logits"]).max() < 0.5


@pytest.mark.parametrize("which", WHICH)
@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
def test_all_pad_rows_give_no_nan(which, dtype, models, expected):
    tokens = expected(which)[0].copy()
    tokens[1] = 1  # a batch-filler row made only of <pad>
    out = models(which, dtype).apply(tokens, layers=(1, 2), logits=True)
    assert all(np.isfinite(v).all() for v in out["embeddings"].values())
    assert np.isfinite(out["logits"]).all()
    assert np.all(out["logits"][1] == 0.0)


@pytest.mark.parametrize("which", ["v1", "v2"])
def test_extra_padding_does_not_change_outputs(which, models, expected):
    """Bucketing pads rows further: results at real tokens must not move."""
    tokens, nonpad, _, _ = expected(which)
    model = models(which)
    short = tokens[1:3, :16]  # rows 1-2 have fewer than 16 real tokens
    base = model.apply(short, layers=(1, 2))
    longer = np.concatenate([short, np.ones((2, 40), np.int32)], axis=1)
    padded = model.apply(longer, layers=(1, 2))
    keep = nonpad[1:3, :16]
    for layer in (1, 2):
        np.testing.assert_allclose(
            padded["embeddings"][layer][:, :16][keep],
            base["embeddings"][layer][keep],
            rtol=1e-5,
            atol=1e-5,
        )
    np.testing.assert_allclose(
        padded["logits"][:, :16][keep], base["logits"][keep], rtol=1e-5, atol=1e-5
    )


def test_rows_are_independent_of_the_batch(models, expected):
    tokens, nonpad, _, _ = expected("v1")
    model = models("v1")
    batch = model.apply(tokens, layers=(2,), logits=False)["embeddings"][2]
    single = model.apply(tokens[3:4], layers=(2,), logits=False)["embeddings"][2]
    np.testing.assert_allclose(single[0][nonpad[3]], batch[3][nonpad[3]], rtol=1e-5, atol=1e-5)


def test_mask_token_changes_v1_rescaling(models, expected):
    """v1 token dropout: replacing <mask> by a normal token rescales every embedding."""
    tokens, nonpad, _, _ = expected("v1")
    model = models("v1")
    edited = tokens.copy()
    edited[3, 6] = 4100  # the mask position holds 'A' instead
    a = model.apply(tokens, layers=(1,), logits=False)["embeddings"][1]
    b = model.apply(edited, layers=(1,), logits=False)["embeddings"][1]
    np.testing.assert_allclose(a[:3], b[:3], rtol=1e-6, atol=1e-6)  # other rows untouched
    assert np.abs(a[3, 0] - b[3, 0]).max() > 1e-3  # CLS moved: the scale changed

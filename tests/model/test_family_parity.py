"""Parity of SegmentNT, AgroNT and Codon-NT with the reference (tests/data/nt_family).

float32 must match to 1e-4; bf16 stays within the bound stated in docs/model.md.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from ntscale.model import load
from ntscale.model.config import yarn_factor
from ntscale.model.ntmodel import NTModel
from ntscale.model.perbase import SegmentModel
from ntscale.tokenizer import get_tokenizer

FAMILY = Path(__file__).resolve().parents[1] / "data" / "nt_family"
BF16_PROB_BOUND = 0.02  # max |p_bf16 - p_ref| per base and element (measured ~2e-3)


@pytest.fixture(scope="module")
def family():
    cache: dict = {}

    def get(name: str, dtype: str = "float32"):
        if (name, dtype) not in cache:
            z = np.load(FAMILY / name / "forward.npz")
            meta = json.loads((FAMILY / name / "meta.json").read_text())
            cache[(name, dtype)] = (load(FAMILY / name / "model", dtype=dtype), z, meta)
        return cache[(name, dtype)]

    return get


@pytest.mark.parametrize("name", ["agro_nt", "codon_nt"])
def test_logits_and_layers_match_reference(family, name):
    model, z, _ = family(name)
    tokens = z["tokens"]
    nonpad = tokens != model.config.pad_token_id
    out = model.apply(tokens, layers=(1, 2), logits=True)
    assert out["logits"].shape == z["logits"].shape
    np.testing.assert_allclose(out["logits"][nonpad], z["logits"][nonpad], rtol=1e-4, atol=1e-4)
    for layer in (1, 2):
        got, want = out["embeddings"][layer][nonpad], z[f"embeddings_{layer}"][nonpad]
        np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("name", ["agro_nt", "codon_nt"])
def test_tokenizer_of_the_checkpoint_gives_the_fixture_tokens(family, name):
    model, z, meta = family(name)
    ids = model.tokenizer.encode_batch(meta["sequences"], length=meta["fixed_length"])
    if meta["mask_edit"]:
        row, pos = meta["mask_edit"]
        assert ids[row, pos] == int(z["original_token"])
        ids[row, pos] = model.config.mask_token_id
    np.testing.assert_array_equal(ids, z["tokens"])
    # the reference's v1 model drops the table's last two tokens (<eos>, <bos>)
    dropped = 2 if model.config.version == "v1" else 0
    assert model.tokenizer.vocab_size == model.config.vocab_size == meta["vocab_size"] - dropped


def test_agro_nt_reads_key_dim_and_the_v1_table(family):
    model, _, _ = family("agro_nt")
    c = model.config
    assert (c.version, c.positional, c.key_size, c.vocab_size) == ("v1", "learned", 8, 4105)
    assert c.num_heads * c.key_size != c.embed_dim


def test_codon_nt_is_a_3mer_v2_model(family):
    model, _, meta = family("codon_nt")
    assert model.config.k == model.tokenizer.k == meta["k"] == 3
    assert model.config.vocab_size == 6 + 4**3 + 5
    assert model.tokenizer.decode(model.tokenizer.encode("ACGTA"))[1:] == ["ACG", "T", "A"]


@pytest.mark.parametrize("call", ["checkpoint", "override"])
def test_segment_nt_probabilities_match_reference(family, call):
    model, z, _ = family("segment_nt")
    factor = float(z[f"{call}_rescaling_factor"])
    if call == "override":
        model = NTModel(model.config.replace(rescaling_factor=factor), model.params, digest="-")
    assert yarn_factor(model.config, z["tokens"].shape[1]) == pytest.approx(factor)
    rows = slice(0, 2)  # row 2 is padded: see PROVENANCE.md (pad positions)
    out = SegmentModel(model).forward_tokens(z["tokens"][rows])
    want = z[f"{call}_logits"][rows]
    assert out["logits"].shape == want.shape
    np.testing.assert_allclose(out["logits"], want, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        out["probabilities"], z[f"{call}_probabilities"][rows], rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(out["final"], z[f"{call}_embeddings_2"][rows], rtol=1e-4, atol=1e-4)


def test_segment_nt_rescaling_changes_the_output(family):
    """The two reference calls differ, so the test above can tell the factors apart."""
    _, z, _ = family("segment_nt")
    diff = np.abs(z["checkpoint_probabilities"] - z["override_probabilities"]).max()
    assert diff > 1e-3


def test_segment_nt_predict_from_sequences_equals_token_forward(family):
    model, z, meta = family("segment_nt")
    seg = SegmentModel(model)
    probs = seg.predict(meta["sequences"][:2])
    np.testing.assert_allclose(probs, z["checkpoint_probabilities"][:2], rtol=1e-4, atol=1e-4)
    assert seg.spec.track_names == tuple(model.config.features)
    assert len(seg.spec.track_names) == 14


def test_segment_nt_bf16_within_stated_bound(family):
    model, z, _ = family("segment_nt", "bfloat16")
    out = SegmentModel(model).forward_tokens(z["tokens"][:2])
    err = np.abs(out["probabilities"] - z["checkpoint_probabilities"][:2]).max()
    assert np.isfinite(out["probabilities"]).all()
    assert err < BF16_PROB_BOUND, err


@pytest.mark.parametrize("name", ["agro_nt", "codon_nt"])
def test_bf16_logits_close(family, name):
    model, z, _ = family(name, "bfloat16")
    nonpad = z["tokens"] != 1
    out = model.apply(z["tokens"], logits=True)
    assert np.abs(out["logits"][nonpad] - z["logits"][nonpad]).max() < 0.5


def test_v2_tokenizer_k3_table_order():
    tok = get_tokenizer("v2", 3)
    assert tok.vocab[:6] == ("<unk>", "<pad>", "<mask>", "<cls>", "<eos>", "<bos>")
    assert tok.vocab[6] == "AAA" and tok.vocab[6 + 63] == "GGG"
    assert tok.vocab[6 + 64 :] == ("A", "T", "C", "G", "N")

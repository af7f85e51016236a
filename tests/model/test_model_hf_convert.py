"""Hugging Face ESM state dicts -> the official layout (checkpoint_hf.convert_hf_state): names
written the way `transformers` writes an ESM model, torch's [out, in] weights, tied output
embeddings, old LayerNorm leaf names, the keys that are skipped and the ones refused."""

from __future__ import annotations

import re

import numpy as np
import pytest
from esm_names import HEAD, esm_state

from ntscale.errors import CheckpointError
from ntscale.model import init_official
from ntscale.model.checkpoint_hf import convert_hf_state


def _esm_state(flat: dict, n_layers: int) -> dict[str, np.ndarray]:
    """A v1 checkpoint as `EsmForMaskedLM.state_dict()` holds it, with its non-weights."""
    out = esm_state(flat, n_layers)
    out["esm.embeddings.position_ids"] = np.arange(66)[None]  # a buffer, not a weight
    out["esm.contact_head.regression.weight"] = np.zeros((1, 8), np.float32)  # unused head
    return out


def _assert_same(got: dict, want: dict) -> None:
    assert sorted(got) == sorted(want)
    for module, leaves in want.items():
        assert sorted(got[module]) == sorted(leaves), module
        for name, a in leaves.items():
            np.testing.assert_array_equal(got[module][name], a, err_msg=f"{module}:{name}")


@pytest.fixture
def v1(micro_cfg):
    config = micro_cfg["v1"].replace(name="micro_v1")
    return config, init_official(config, seed=21)


def test_esm_state_converts_to_the_official_parameters(v1) -> None:
    config, flat = v1
    got = convert_hf_state(_esm_state(flat, config.num_layers), config, where="hf")
    _assert_same(got, flat)
    assert got[HEAD + "lm_final_fc"]["w"].shape == (32, 4105)  # [in, out] again


def test_tied_output_embeddings_use_the_input_table(v1) -> None:
    config, flat = v1
    state = _esm_state(flat, config.num_layers)
    del state["lm_head.decoder.weight"]  # tie_word_embeddings: no stored decoder weight
    tied = convert_hf_state(state, config, tie_embeddings=True, where="hf")
    np.testing.assert_array_equal(
        tied[HEAD + "lm_final_fc"]["w"], flat["esm_transformer/~/embed"]["embeddings"].T
    )
    with pytest.raises(
        CheckpointError,
        match=re.escape(
            "hf: checkpoint does not match its hyperparameters (3 layers, dim 32, "
            f"vocab 4105): missing 1 parameter(s): {HEAD}lm_final_fc:w"
        ),  # fmt: skip
    ):
        convert_hf_state(state, config, tie_embeddings=False, where="hf")


def test_old_gamma_beta_layer_norm_names_are_read(v1) -> None:
    config, flat = v1
    state = {}
    for key, a in _esm_state(flat, config.num_layers).items():
        if "LayerNorm" in key or "layer_norm" in key:
            key = key.replace(".weight", ".gamma").replace(".bias", ".beta")
        state[key] = a
    assert any(k.endswith("LayerNorm.gamma") for k in state)
    _assert_same(convert_hf_state(state, config, where="hf"), flat)


def test_output_bias_under_the_decoder_is_read(v1) -> None:
    config, flat = v1
    state = _esm_state(flat, config.num_layers)
    state["lm_head.decoder.bias"] = state.pop("lm_head.bias")
    _assert_same(convert_hf_state(state, config, where="hf"), flat)


def test_keys_without_the_esm_prefix_are_read(v1) -> None:
    config, flat = v1
    state = {k.removeprefix("esm."): a for k, a in _esm_state(flat, config.num_layers).items()}
    _assert_same(convert_hf_state(state, config, where="hf"), flat)


def test_unknown_keys_are_refused_and_counted(v1) -> None:
    config, flat = v1
    state = _esm_state(flat, config.num_layers)
    extra = [f"classifier.dense{i}.weight" for i in range(8)]
    for key in extra:
        state[key] = np.zeros(2, np.float32)
    with pytest.raises(CheckpointError) as info:
        convert_hf_state(state, config, where="ckpt/")
    assert str(info.value) == (
        "ckpt/: unexpected 8 key(s): " + ", ".join(extra[:6]) + " ..."
    )  # six named, then "..."

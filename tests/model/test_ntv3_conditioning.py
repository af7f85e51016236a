"""Species conditioning is additive: with every modulation and gate at zero (the reference's
initialisation) a post-trained network computes exactly the pre-trained one, and each
modulation family changes the output on its own."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from ntscale.model.ntv3 import NTv3Model, init_ntv3
from ntscale.model.ntv3_config import NTv3Config

POST = NTv3Config(
    name="cond", num_downsamples=2, num_heads=2, key_size=4, token_embed_dim=4,
    conv_init_embed_dim=12, embed_dim=12, ffn_dim=16, num_layers=2, conditions_vocab_size=8,
    species_to_token_id={"x": 6, "y": 7}, bigwigs_per_species={"x": ("t",)},
    bed_elements_names=("e",),
)  # fmt: skip
PRE = dataclasses.replace(
    POST, name="cond_pre", conditions_vocab_size=None, species_to_token_id={},
    bigwigs_per_species={}, bed_elements_names=(),
)  # fmt: skip
MODULATION = ("_mod", "_gate")
TOKENS = np.random.default_rng(4).integers(6, 11, size=(2, 32)).astype(np.int32)


def _zeroed(params: dict, keep: str | None = None) -> dict:
    """Params with every modulation/gate set to zero, except modules ending in `keep`."""
    out = {}
    for module, ps in params.items():
        zero = module.endswith(MODULATION) and not (keep and module.endswith(keep))
        out[module] = {p: np.zeros_like(v) if zero else np.asarray(v) for p, v in ps.items()}
    return out


@pytest.fixture(scope="module")
def post_params():
    return init_ntv3(POST, seed=11).params


def test_zero_modulation_is_the_unconditioned_network(post_params):
    params = _zeroed(post_params)
    post = NTv3Model(POST, params)
    pre_modules = init_ntv3(PRE).params.keys()  # once: each init compiles and runs the net
    shared = {m: ps for m, ps in params.items() if m in pre_modules}
    assert shared.keys() == pre_modules  # every pre-trained module is in the post network
    pre = NTv3Model(PRE, shared)
    want = pre.apply(TOKENS, outputs=("logits", "embedding", "transformer"))
    for species in ("x", "y"):
        got = post.apply(TOKENS, species=species, outputs=("logits", "embedding", "transformer"))
        for key in want:
            np.testing.assert_allclose(got[key], want[key], atol=1e-5, err_msg=key)


@pytest.mark.parametrize("family", ["conv_ln_mod", "res_gate", "mha_ln_mod", "ffn_gate"])
def test_each_modulation_family_conditions_alone(post_params, family):
    model = NTv3Model(POST, _zeroed(post_params, keep=family))
    x = model.apply(TOKENS, species="x", outputs=("embedding",))["embedding"]
    y = model.apply(TOKENS, species="y", outputs=("embedding",))["embedding"]
    assert np.abs(x - y).max() > 1e-4, family


def test_species_without_a_head_index():
    c = dataclasses.replace(POST, species_to_token_id={"x": 6, "y": 7, "z": 30})
    assert c.head_index("x") == 0
    assert c.head_index("y") is None  # token 7 -> index 1: no such head
    assert c.head_index("z") is None and c.tracks_of("z") == ()

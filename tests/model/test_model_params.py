"""Parameter trees (model/params.py): the official shapes against the published sizes, the
official <-> stacked conversion, renamed reference paths, validation messages, random init
and the parameter digest."""

from __future__ import annotations

import hashlib
import math
import re

import numpy as np
import pytest

from ntscale.errors import CheckpointError
from ntscale.model import PRESETS, get_preset, init_official, params_digest
from ntscale.model import params as P


@pytest.mark.parametrize("name", list(PRESETS))
def test_official_shapes_add_up_to_the_parameter_count(name: str) -> None:
    config = get_preset(name)
    shapes = P.official_shapes(config)
    # the enumeration of every array and the closed formula of NTConfig.num_params agree
    assert sum(math.prod(s) for leaves in shapes.values() for s in leaves.values()) == (
        config.num_params
    )
    per_layer = [m for m in shapes if "/attention_layer_" in m]
    assert len(per_layer) == 8 * config.num_layers  # LN, q, k, v, out, LN, fc1, fc2
    has_pos = f"{P.PREFIX}/~/esm_learned_positional_embeddings/~/embed" in shapes
    assert has_pos == (config.version == "v1")  # v2 uses rotary positions: no table


def test_shapes_of_the_published_v2_50m_block() -> None:
    shapes = P.official_shapes(get_preset("50M_multi_species_v2"))
    # D 512, 16 heads of 32, SwiGLU FFN 2048 (fc1 has 2 x 2048 outputs), no FFN biases
    assert shapes[P.layer_path(0, "mha/query")] == {"w": (512, 512), "b": (512,)}
    assert shapes[P.layer_path(11, "fc1")] == {"w": (512, 4096)}
    assert shapes[P.layer_path(11, "fc2")] == {"w": (2048, 512)}
    assert shapes[f"{P.PREFIX}/~/embed"] == {"embeddings": (4107, 512)}
    assert shapes[f"{P.PREFIX}/~/esm_roberta_lm_head/~/lm_final_fc"] == {
        "w": (512, 4107), "b": (4107,)
    }  # fmt: skip
    v1 = P.official_shapes(get_preset("500M_human_ref"))
    # v1: GELU FFN with biases; positions 1000 + 2 (ESM's padding offset)
    assert v1[P.layer_path(23, "fc1")] == {"w": (1280, 5120), "b": (5120,)}
    assert v1[f"{P.PREFIX}/~/esm_learned_positional_embeddings/~/embed"] == {
        "embeddings": (1002, 1280)
    }


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_stack_and_unstack_round_trip_exactly(version: str, micro_cfg) -> None:
    config = micro_cfg[version]
    flat = init_official(config, seed=11)
    stacked = P.stack_official(flat, config)
    assert stacked[f"{P.LAYERS}/query"]["w"].shape == (3, 32, 32)  # [L, D, H*K]
    np.testing.assert_array_equal(
        stacked[f"{P.LAYERS}/fc2"]["w"][1], flat[P.layer_path(1, "fc2")]["w"]
    )
    back = P.unstack_to_official(stacked, config)
    assert sorted(back) == sorted(flat)
    for module, leaves in flat.items():
        assert sorted(back[module]) == sorted(leaves)
        for name, array in leaves.items():
            np.testing.assert_array_equal(back[module][name], array, err_msg=f"{module}:{name}")


def test_consuming_stack_empties_the_official_dict(micro_cfg) -> None:
    config = micro_cfg["v1"]
    flat = init_official(config, seed=1)
    want = P.stack_official(flat, config)
    consumed = P.stack_official(flat, config, consume=True)
    assert flat == {}  # no second full copy is kept
    for module, leaves in want.items():
        for name, array in leaves.items():
            np.testing.assert_array_equal(consumed[module][name], array)


def test_reference_loader_paths_are_renamed() -> None:
    raw = {
        "my_model/attention_layer_2/~/self_attention/query": {"w": [[1.0]]},
        "my_model/attention_layer_0/~/self_attention_layer_norm": {"scale": [1.0]},
        "my_model/~/roberta_lm_head/~/lm_final_fc": {"b": [0.5]},
        "esm_transformer/~/embed": {"embeddings": [[2.0]]},
    }
    out = P.normalize_official(raw)
    assert sorted(out) == [
        "esm_transformer/attention_layer_0/~/mha_layer_norm",
        "esm_transformer/attention_layer_2/~/mha/query",
        "esm_transformer/~/embed",
        "esm_transformer/~/esm_roberta_lm_head/~/lm_final_fc",
    ]
    assert isinstance(out["esm_transformer/~/embed"]["embeddings"], np.ndarray)


def test_validation_lists_a_few_names_and_counts_the_rest(micro_cfg) -> None:
    config = micro_cfg["v2"]
    flat = init_official(config, seed=0)
    for i in range(3):
        del flat[P.layer_path(i, "mha/key")]  # 2 leaves each: 6 missing
        flat[P.layer_path(i, "fc1")]["b"] = np.zeros(96, np.float32)  # 3 unexpected
    del flat[f"{P.PREFIX}/~/embed"]  # the 7th missing
    with pytest.raises(CheckpointError) as info:
        P.validate_official(flat, config, where="ckpt/jax_model")
    message = str(info.value)
    shown = ", ".join(
        f"esm_transformer/attention_layer_{i}/~/mha/key:{leaf}" for i in range(3) for leaf in "bw"
    )
    assert message.startswith(
        "ckpt/jax_model: checkpoint does not match its hyperparameters "
        f"(3 layers, dim 32, vocab 4107): missing 7 parameter(s): {shown}, ... (1 more); "
        "unexpected 3 parameter(s): esm_transformer/attention_layer_0/~/fc1:b, "
    )  # names sorted: the 7th, esm_transformer/~/embed, is only counted
    assert message.endswith("esm_transformer/attention_layer_2/~/fc1:b")


def test_more_than_five_wrong_shapes_are_cut_short(micro_cfg) -> None:
    config = micro_cfg["v1"]
    flat = init_official(config, seed=0)
    for i in range(3):
        for proj in ("query", "value"):
            flat[P.layer_path(i, f"mha/{proj}")]["b"] = np.zeros(31, np.float32)
    with pytest.raises(CheckpointError) as info:
        P.validate_official(flat, config, where="w")
    wrong = str(info.value).split("wrong shape: ")[1]
    assert wrong.count("has shape (31,), expected (32,)") == 5 and wrong.endswith(" ...")


def test_random_init_is_seeded_and_scaled(micro_cfg) -> None:
    config = micro_cfg["v2"]
    a, b, c = (init_official(config, seed=s) for s in (4, 4, 5))
    assert params_digest(a) == params_digest(b) != params_digest(c)
    emb = a[f"{P.PREFIX}/~/embed"]["embeddings"]  # 4107 x 32 draws of N(0, 1)
    assert emb.dtype == np.float32
    assert abs(emb.mean()) < 0.02 and abs(emb.std() - 1) < 0.02
    final = a[f"{P.PREFIX}/~/esm_roberta_lm_head/~/lm_final_fc"]["w"]  # N(0, 1/32)
    assert abs(final.std() * math.sqrt(32) - 1) < 0.03
    scales = np.concatenate([a[P.layer_path(i, "mha_layer_norm")]["scale"] for i in range(3)])
    assert abs(scales.mean() - 1) < 0.15 and scales.std() > 0.1  # 1 + 0.3 N(0, 1): not trivial


def test_params_digest_definition_and_sensitivity() -> None:
    w = np.arange(4, dtype=np.float32).reshape(2, 2)
    flat = {"m2": {"w": w}, "m1": {"b": np.zeros(2, np.float32), "a": np.ones(1, np.float32)}}
    h = hashlib.sha256()  # sorted by module, then by leaf: name, dtype, shape, bytes
    for path, name, arr in (("m1", "a", flat["m1"]["a"]), ("m1", "b", flat["m1"]["b"]),
                            ("m2", "w", w)):  # fmt: skip
        h.update(f"{path}:{name}:{arr.dtype.str}:{arr.shape}\n".encode() + arr.tobytes())
    assert params_digest(flat) == h.hexdigest()
    reordered = {"m1": dict(reversed(list(flat["m1"].items()))), "m2": flat["m2"]}
    assert params_digest(reordered) == h.hexdigest()
    changed = [
        {**flat, "m2": {"w": w.astype(np.float64)}},
        {**flat, "m2": {"w": w.reshape(4, 1)}},
        {**flat, "m2": {"w": np.where(w == 3, np.nextafter(w, 4), w)}},  # one ulp
        {"m1": flat["m1"], "m3": flat["m2"]},
    ]
    assert len({params_digest(c) for c in changed} | {h.hexdigest()}) == 5
    assert re.fullmatch(r"[0-9a-f]{64}", h.hexdigest())

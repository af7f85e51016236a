"""Writing a model in the published HF layout and loading it back gives the same model:
the inverse of the name mapping is written here by hand from the layout rules (core.
prefix, Linear [out, in], Conv1d [out, in, k], transposed conv [in, out, k], cond_tables,
bigWig heads numbered by head with no names for a species without tracks), including a
sharded checkpoint (model.safetensors.index.json)."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from ntscale.model.ntv3 import init_ntv3, load_ntv3
from ntscale.model.ntv3_config import NTv3Config

POST = NTv3Config(
    name="rt", num_downsamples=2, num_heads=2, key_size=4, token_embed_dim=4,
    conv_init_embed_dim=12, embed_dim=12, ffn_dim=16, num_layers=2, conditions_vocab_size=9,
    species_to_token_id={"<unk>": 0, "a": 6, "b": 7, "c": 8},
    bigwigs_per_species={"a": ("t0", "t1"), "b": (), "c": ("u0", "u1", "u2")},
    bed_elements_names=("e0",), keep_target_center_fraction=0.5,
)  # fmt: skip
PRE = dataclasses.replace(
    POST, name="rt_pre", conditions_vocab_size=None, species_to_token_id={},
    bigwigs_per_species={}, bed_elements_names=(), keep_target_center_fraction=1.0,
    conv_init_embed_dim=8, num_hidden_layers_head=1,
)  # fmt: skip

BLOCK = {
    "conv": "conv.conv", "conv_ln": "conv.layer_norm",
    "conv_ln_mod": "conv.layer_norm.modulation_layers.0", "res": "res_conv.conv_block.conv",
    "res_ln": "res_conv.conv_block.layer_norm",
    "res_ln_mod": "res_conv.conv_block.layer_norm.modulation_layers.0",
    "res_gate": "res_conv.modulation_layers.0",
}  # fmt: skip
LAYER = {
    "mha_ln": "self_attention_layer_norm",
    "mha_ln_mod": "self_attention_layer_norm.modulation_layers.0",
    "ffn_ln": "final_layer_norm", "ffn_ln_mod": "final_layer_norm.modulation_layers.0",
    "ffn_gate": "modulation_layers.0", "query": "sa_layer.query_head.linear",
    "key": "sa_layer.key_head.linear", "value": "sa_layer.value_head.linear",
    "mha_output": "sa_layer.mha_output", "fc1": "fc1", "fc2": "fc2",
}  # fmt: skip
TOP = {
    "embed": "embed_layer", "stem": "stem.conv", "lm_head/head": "lm_head.head",
    "species_embed": "cond_tables.0", "species_head": "conditions_heads.0",
    "bed/ln": "bed_head.layer_norm", "bed/head": "bed_head.head",
}  # fmt: skip


def hf_name(module: str) -> str:
    m = re.fullmatch(r"(down|up)_(\d+)/(\w+)", module)
    if m:
        tower = "conv_tower_blocks" if m.group(1) == "down" else "deconv_tower_blocks"
        return f"{tower}.{m.group(2)}.{BLOCK[m.group(3)]}"
    m = re.fullmatch(r"layer_(\d+)/(\w+)", module)
    if m:
        return f"transformer_blocks.{m.group(1)}.{LAYER[m.group(2)]}"
    m = re.fullmatch(r"bigwig_(\d+)/(ln|head)", module)
    if m:
        part = "layer_norm" if m.group(2) == "ln" else "head"
        return f"bigwig_head.species_heads.{m.group(1)}.{part}"
    m = re.fullmatch(r"lm_head/hidden_(\d+)", module)
    if m:
        return f"lm_head.hidden_layers.{m.group(1)}"
    return TOP[module]


def to_hf(params: dict) -> dict[str, np.ndarray]:
    out = {}
    for module, ps in params.items():
        for p, v in ps.items():
            v = np.asarray(v, np.float32)
            leaf = {"scale": "weight", "offset": "bias", "b": "bias"}.get(p, "weight")
            if p == "w":
                v = v.transpose(2, 1, 0) if v.ndim == 3 else v.T
            out[f"core.{hf_name(module)}.{leaf}"] = np.ascontiguousarray(v)
    return out


def hf_config(c: NTv3Config) -> dict:
    d = {
        "alphabet_size": c.vocab_size, "num_downsamples": c.num_downsamples,
        "attention_heads": c.num_heads, "key_size": c.key_size,
        "token_embed_dim": c.token_embed_dim, "conv_init_embed_dim": c.conv_init_embed_dim,
        "embed_dim": c.embed_dim, "ffn_embed_dim": c.ffn_dim, "num_layers": c.num_layers,
        "num_hidden_layers_head": c.num_hidden_layers_head,
    }  # fmt: skip
    if c.post_trained:
        d.update(
            conditions_vocab_size=[c.conditions_vocab_size],
            species_to_token_id=dict(c.species_to_token_id),
            bigwigs_per_species={k: list(v) for k, v in c.bigwigs_per_species.items()},
            bed_elements_names=list(c.bed_elements_names),
            keep_target_center_fraction=c.keep_target_center_fraction,
        )
    return d


def _write(folder: Path, config: NTv3Config, tensors: dict, shards: int = 1) -> Path:
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps(hf_config(config)))
    if shards == 1:
        save_file(tensors, str(folder / "model.safetensors"))
        return folder
    names = sorted(tensors)
    weight_map = {}
    for s in range(shards):
        file = f"model-{s + 1:05d}-of-{shards:05d}.safetensors"
        part = {n: tensors[n] for n in names[s::shards]}
        save_file(part, str(folder / file))
        weight_map.update({n: file for n in part})
    index = {"metadata": {}, "weight_map": weight_map}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    return folder


@pytest.mark.parametrize("shards", [1, 3])
def test_post_round_trip(tmp_path, shards):
    model = init_ntv3(POST, seed=7)
    tensors = to_hf(model.params)
    assert "core.bigwig_head.species_heads.1.head.weight" not in tensors  # b: no tracks
    assert tensors["core.deconv_tower_blocks.0.conv.conv.weight"].shape == (12, 12, 5)
    loaded = load_ntv3(_write(tmp_path / "m", POST, tensors, shards))
    tokens = np.random.default_rng(1).integers(6, 11, size=(2, 32)).astype(np.int32)
    for species in ("a", "c"):
        want = model.apply(tokens, species=species, outputs=("logits", "bigwig", "bed"))
        got = loaded.apply(tokens, species=species, outputs=("logits", "bigwig", "bed"))
        for key in want:
            np.testing.assert_array_equal(got[key], want[key])
    assert got["bigwig"].shape == (2, 16, 3)


def test_pre_round_trip_with_a_hidden_lm_layer(tmp_path):
    model = init_ntv3(PRE, seed=8)
    tensors = to_hf(model.params)
    assert "core.lm_head.hidden_layers.0.weight" in tensors
    assert tensors["core.stem.conv.weight"].shape == (8, 4, 15)  # Conv1d [out, in, k]
    loaded = load_ntv3(_write(tmp_path / "p", PRE, tensors))
    tokens = np.random.default_rng(2).integers(6, 11, size=(1, 64)).astype(np.int32)
    np.testing.assert_array_equal(loaded.apply(tokens)["logits"], model.apply(tokens)["logits"])
    assert len(loaded.digest) == 64

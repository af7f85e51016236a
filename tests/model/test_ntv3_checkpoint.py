"""NTv3 HF-layout loading: the name mapping, layout conversion, and clear errors for
missing, unknown or misshapen tensors, non-NTv3 folders and unreachable hub names."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from ntscale.errors import CheckpointError
from ntscale.model.ntv3 import init_ntv3, load_ntv3, param_shapes, read_ntv3_checkpoint
from ntscale.model.ntv3_checkpoint import convert_ntv3_state, hf_module, read_ntv3_config

DATA = Path(__file__).resolve().parents[1] / "data" / "ntv3_reference"


@pytest.mark.parametrize(
    "key,module,leaf",
    [
        ("core.embed_layer.weight", "embed", "weight"),
        ("core.stem.conv.bias", "stem", "bias"),
        ("core.conv_tower_blocks.2.conv.conv.weight", "down_2/conv", "weight"),
        ("core.conv_tower_blocks.0.conv.layer_norm.modulation_layers.0.bias",
         "down_0/conv_ln_mod", "bias"),
        ("core.deconv_tower_blocks.1.res_conv.modulation_layers.0.weight",
         "up_1/res_gate", "weight"),
        ("core.deconv_tower_blocks.1.res_conv.conv_block.layer_norm.weight",
         "up_1/res_ln", "weight"),
        ("core.transformer_blocks.11.sa_layer.query_head.linear.weight",
         "layer_11/query", "weight"),
        ("core.transformer_blocks.0.modulation_layers.0.weight", "layer_0/ffn_gate", "weight"),
        ("core.transformer_blocks.0.final_layer_norm.modulation_layers.0.weight",
         "layer_0/ffn_ln_mod", "weight"),
        ("core.cond_tables.0.weight", "species_embed", "weight"),
        ("core.bigwig_head.species_heads.12.head.bias", "bigwig_12/head", "bias"),
        ("core.bed_head.layer_norm.bias", "bed/ln", "bias"),
    ],
)  # fmt: skip
def test_hf_names_map_to_modules(key, module, leaf):
    assert hf_module(key) == (module, leaf)


@pytest.mark.parametrize(
    "key",
    ["embed_layer.weight", "core.transformer_blocks.0.sa_layer.rotary.weight",
     "core.conv_tower_blocks.0.pool.weight", "core.something.weight"],
)  # fmt: skip
def test_unknown_names(key):
    assert hf_module(key) is None


def test_layouts_are_converted():
    state = load_file(str(DATA / "pre" / "model.safetensors"))
    model = load_ntv3(DATA / "pre")
    stem = state["core.stem.conv.weight"]  # Conv1d [out, in, k]
    np.testing.assert_array_equal(model.params["stem"]["w"], stem.transpose(2, 1, 0))
    up = state["core.deconv_tower_blocks.0.conv.conv.weight"]  # ConvTranspose1d [in, out, k]
    np.testing.assert_array_equal(model.params["up_0/conv"]["w"], up.transpose(2, 1, 0))
    q = state["core.transformer_blocks.1.sa_layer.query_head.linear.weight"]  # [out, in]
    np.testing.assert_array_equal(model.params["layer_1/query"]["w"], q.T)
    ln = state["core.transformer_blocks.1.final_layer_norm.bias"]
    np.testing.assert_array_equal(model.params["layer_1/ffn_ln"]["offset"], ln)


@pytest.mark.parametrize("kind", ["pre", "post"])
def test_random_init_has_the_checkpoint_tree(kind):
    config, params, digest = read_ntv3_checkpoint(DATA / kind, name=kind)
    model = init_ntv3(config, seed=3)
    got = {m: {p: tuple(v.shape) for p, v in ps.items()} for m, ps in model.params.items()}
    want = {m: {p: v.shape for p, v in ps.items()} for m, ps in params.items()}
    assert got == want == param_shapes(config)
    assert len(digest) == 64 and model.digest != digest


def _copy(tmp_path: Path, kind: str = "post") -> Path:
    folder = tmp_path / kind
    shutil.copytree(DATA / kind, folder)
    return folder


def _edit(folder: Path, edit) -> None:
    path = folder / "model.safetensors"
    state = load_file(str(path))
    edit(state)
    save_file(state, str(path))


def test_missing_tensor_is_named(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder, lambda s: s.pop("core.transformer_blocks.1.modulation_layers.0.weight"))
    with pytest.raises(CheckpointError, match="missing: layer_1/ffn_gate/w"):
        load_ntv3(folder)


def test_unknown_tensor_is_named(tmp_path):
    folder = _copy(tmp_path)
    _edit(folder, lambda s: s.update({"core.extra_head.weight": np.zeros(3, np.float32)}))
    with pytest.raises(CheckpointError, match="unexpected NTv3 key.*core.extra_head.weight"):
        load_ntv3(folder)


def test_wrong_shape_is_named(tmp_path):
    folder = _copy(tmp_path, "pre")

    def shrink(state):
        state["core.lm_head.head.bias"] = state["core.lm_head.head.bias"][:5]

    _edit(folder, shrink)
    with pytest.raises(CheckpointError, match="lm_head/head/b \\(5,\\) != \\(11,\\)"):
        load_ntv3(folder)


def test_head_the_config_does_not_use(tmp_path):
    folder = _copy(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["bed_elements_names"] = []
    (folder / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(CheckpointError, match="does not use: \\['bed/"):
        load_ntv3(folder)


def test_convert_checks_against_expected_shapes():
    with pytest.raises(CheckpointError, match="where: 1 NTv3 parameter\\(s\\) missing: a/w"):
        convert_ntv3_state({}, {"a": {"w": (2, 2)}}, where="where")


def test_non_ntv3_folder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "esm", "hidden_size": 8}))
    assert read_ntv3_config(tmp_path, name="x") is None
    with pytest.raises(CheckpointError, match="not an NTv3 config"):
        load_ntv3(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read config"):
        load_ntv3(tmp_path)


def test_folder_without_safetensors(tmp_path):
    shutil.copy(DATA / "pre" / "config.json", tmp_path / "config.json")
    with pytest.raises(CheckpointError):
        load_ntv3(tmp_path)


def test_published_name_offline_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CheckpointError, match="NTv3_8M_pre.*InstaDeepAI/NTv3_8M_pre"):
        load_ntv3("NTv3_8M_pre")


def test_unknown_source():
    with pytest.raises(CheckpointError, match="not an NTv3 checkpoint folder"):
        load_ntv3("no_such_model_or_folder")


def test_bad_dtype():
    from ntscale.errors import ConfigError

    with pytest.raises(ConfigError, match="dtype"):
        load_ntv3(DATA / "pre", dtype="fp8")


def test_hub_repo_id_offline_not_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(CheckpointError, match="someone/NTv3_custom"):
        load_ntv3("someone/NTv3_custom")


def test_loaded_model_records_where_it_came_from():
    model = load_ntv3(DATA / "pre", attention="xla")
    assert model.attention == "xla" and model.source == str(DATA / "pre")
    assert model.name == "pre" and model.precision.name == "float32"
    files_digest = read_ntv3_checkpoint(DATA / "pre", name="pre")[2]
    assert model.digest == files_digest  # the weight files' sha256, as describe() records


def test_bf16_outputs_are_float32():
    model = load_ntv3(DATA / "pre", dtype="bf16")
    out = model.apply(np.full((1, 16), 6, np.int32), outputs=("logits", "embedding"))
    assert {v.dtype for v in out.values()} == {np.dtype(np.float32)}
    assert np.isfinite(out["logits"]).all()


def test_species_order_decides_head_names(tmp_path):
    """Heads follow the species tokens, not the order of bigwigs_per_species in the file."""
    folder = _copy(tmp_path)
    cfg = json.loads((folder / "config.json").read_text())
    cfg["bigwigs_per_species"] = dict(reversed(list(cfg["bigwigs_per_species"].items())))
    (folder / "config.json").write_text(json.dumps(cfg))
    model = load_ntv3(folder)
    assert model.config.track_heads == ("human", "mouse", "fly")
    assert model.params["bigwig_0/head"]["w"].shape[1] == 3  # human's 3 tracks


@pytest.mark.parametrize("kind", ["pre", "post"])
def test_every_published_name_of_the_fixtures_maps(kind):
    state = load_file(str(DATA / kind / "model.safetensors"))
    modules = {hf_module(k) for k in state}
    assert None not in modules
    assert len(modules) == len(state)  # one (module, leaf) per tensor: no collisions


def test_missing_shard_is_named(tmp_path):
    folder = tmp_path / "sharded"
    folder.mkdir()
    shutil.copy(DATA / "pre" / "config.json", folder / "config.json")
    index = {"weight_map": {"core.embed_layer.weight": "model-00001-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(CheckpointError, match="model-00001-of-00002.safetensors"):
        load_ntv3(folder)


def test_digest_follows_names_and_values():
    from ntscale.model.ntv3 import params_digest

    params = {"a": {"w": np.ones((2, 2), np.float32)}}
    renamed = {"b": {"w": np.ones((2, 2), np.float32)}}
    changed = {"a": {"w": np.full((2, 2), 2, np.float32)}}
    digests = {params_digest(p) for p in (params, renamed, changed)}
    assert len(digests) == 3 and params_digest(params) == params_digest(dict(params))


def test_bf16_plan_keeps_float32_outputs_and_params():
    from ntscale.model.ntv3 import forward_memory_bytes

    fp32 = forward_memory_bytes(load_ntv3(DATA / "pre"), batch=2, length=512)
    bf16 = forward_memory_bytes(load_ntv3(DATA / "pre", dtype="bf16"), batch=2, length=512)
    assert bf16["params"] == fp32["params"]  # parameters stay float32 on the host side
    assert bf16["output"] == fp32["output"]  # outputs are float32
    assert bf16["temp"] > 0  # on CPU not smaller: XLA keeps float32 copies around converts

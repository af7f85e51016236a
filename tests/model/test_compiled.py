"""The runner's fast path: compiled(), post-processing on device, caching, scans."""

from __future__ import annotations

import ast
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntscale.model import init_model


def mean_pool(outputs, tokens):
    keep = (tokens != 1)[..., None].astype(jnp.float32)
    return {layer: (e * keep).sum(1) / keep.sum(1) for layer, e in outputs["embeddings"].items()}


@pytest.fixture(scope="module")
def micro_model(micro_cfg):
    return init_model(micro_cfg["v2"], seed=11)


def _tokens(b: int, t: int, lengths: list[int]) -> np.ndarray:
    rng = np.random.default_rng(0)
    tok = np.ones((b, t), np.int32)
    for i, n in enumerate(lengths):
        tok[i, 0] = 3
        tok[i, 1:n] = rng.integers(6, 4107, n - 1)
    return tok


def test_post_runs_on_device_and_matches_apply(micro_model):
    tokens = _tokens(3, 32, [32, 10, 5])
    fast = micro_model.compiled((1, 3), logits=False, post=mean_pool)
    pooled = fast(tokens)
    full = micro_model.apply(tokens, layers=(1, 3), logits=False)
    for layer in (1, 3):
        assert isinstance(pooled[layer], np.ndarray) and pooled[layer].shape == (3, 32)
        e = full["embeddings"][layer]
        want = np.stack([e[i, :n].mean(0) for i, n in enumerate([32, 10, 5])])
        np.testing.assert_allclose(pooled[layer], want, rtol=1e-5, atol=1e-5)


def test_compiled_is_cached_and_dispatch_returns_device_arrays(micro_model):
    a = micro_model.compiled((2,), logits=True, post=mean_pool)
    assert micro_model.compiled((2,), True, mean_pool) is a
    assert micro_model.compiled((2,), False, mean_pool) is not a
    out = a.dispatch(_tokens(2, 16, [16, 4]))
    assert isinstance(out[2], jax.Array)
    assert a.compile_seconds(2, 32) > 0


def test_middle_layers_match_a_truncated_model(micro_cfg):
    """Layer l of an L-layer model equals the residual stream of its first l blocks."""
    cfg = micro_cfg["v2"]
    model = init_model(cfg, seed=2)
    tokens = _tokens(2, 24, [24, 9])
    out = model.apply(tokens, layers=(1, 2, 3), logits=True)
    short = init_model(cfg.replace(num_layers=2), seed=2)
    # copy the first two blocks of `model` into `short`
    short.params = {
        k: ({n: a[:2] for n, a in v.items()} if k.startswith("nt/layers/") else v)
        for k, v in model.params.items()
    }
    two = short.apply(tokens, layers=(1,), logits=False)
    np.testing.assert_allclose(two["embeddings"][1], out["embeddings"][1], rtol=1e-6, atol=1e-6)
    assert not np.allclose(out["embeddings"][2], out["embeddings"][3])


def test_bfloat16_model_keeps_matrices_in_bf16(micro_cfg):
    model = init_model(micro_cfg["v2"], seed=0, dtype="bf16")
    assert model.params["nt/layers/query"]["w"].dtype == jnp.bfloat16
    assert model.params["nt/layers/mha_ln"]["scale"].dtype == jnp.float32
    assert model.params["nt/layers/query"]["w"].shape == (3, 32, 32)


def test_random_init_is_deterministic(micro_cfg):
    a, b = init_model(micro_cfg["v1"], seed=4), init_model(micro_cfg["v1"], seed=4)
    assert a.digest == b.digest != init_model(micro_cfg["v1"], seed=5).digest


def test_tokenizer_matches_version(models):
    assert models("v1").tokenizer.encode("AAAAAA").tolist() == [3, 4]
    assert models("v2").tokenizer.encode("AAAAAA").tolist() == [3, 6]


def test_only_checkpoint_modules_touch_files():
    """Model code is pure: file and network access live in checkpoint*.py and hub.py."""
    pkg = Path(__file__).resolve().parents[2] / "ntscale" / "model"
    io_modules = {"joblib", "safetensors", "huggingface_hub", "json", "pickle", "os", "shutil"}
    allowed = {
        "checkpoint.py",
        "checkpoint_digest.py",
        "checkpoint_hf.py",
        "checkpoint_torch.py",
        "hub.py",
        "ntv3_checkpoint.py",  # NTv3's checkpoint reader (config.json)
    }
    bad = []
    for f in sorted(pkg.glob("*.py")):
        if f.name in allowed:
            continue
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            bad += [f"{f.name}: import {n}" for n in names if n.split(".")[0] in io_modules]
            if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "open":
                bad.append(f"{f.name}: open()")
            if isinstance(node, ast.Attribute) and node.attr in (
                "read_text",
                "read_bytes",
                "write_text",
                "write_bytes",
            ):
                bad.append(f"{f.name}: .{node.attr}")
    assert not bad, bad


def test_unknown_attention_backend(micro_cfg):
    from ntscale.errors import ConfigError

    with pytest.raises(
        ConfigError,
        match=r"attention must be one of 'xla', 'cudnn', 'chunked', 'headwise', got 'flash'",
    ):
        init_model(micro_cfg["v2"], attention="flash")


@pytest.mark.gpu
def test_cudnn_bf16_close_to_float32_with_padding(models, expected):
    """On a GPU, bf16 uses cuDNN fused attention; it must stay close to float32 XLA."""
    from ntscale.model import load

    tokens, nonpad, _, _ = expected("v2")
    ref = models("v2").apply(tokens, layers=(1, 2))
    fast = load(models("v2").source, dtype="bf16")
    assert fast.attention == "cudnn"
    padded = np.concatenate([tokens, np.ones((4, 72), np.int32)], axis=1)  # T = 128
    low = fast.apply(padded, layers=(1, 2))
    for layer in (1, 2):
        a, b = low["embeddings"][layer][:, :56][nonpad], ref["embeddings"][layer][nonpad]
        cos = (a * b).sum(-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
        assert cos.min() >= 0.999
    assert np.isfinite(low["logits"]).all()


def _scoring_inputs(model, lengths: list[int], t: int):
    """Tokens [B, T], pooling weights [B, 2, T] and table tokens [B, T] as scoring sends."""
    tokens = _tokens(len(lengths), t, lengths)
    weights = np.zeros((len(lengths), 2, t), np.float32)
    for i, n in enumerate(lengths):
        weights[i, 0, 1:n] = 1.0 / (n - 1)  # every sequence token: the mean
        weights[i, 1, 1] = 1.0  # the first sequence token alone
    masked = tokens.copy()
    masked[:, 2] = model.tokenizer.mask_id
    return masked, weights, tokens


def test_cudnn_failure_falls_back_to_chunked_for_a_scoring_post(micro_cfg):
    """A model asked for cuDNN attention on a machine (or dtype) where cuDNN cannot compile
    runs the scoring reduction with the chunked attention, with the outputs of such a
    model (not XLA's, which would materialise the whole score tensor)."""
    from ntscale.scoring import ScoringReduction

    cudnn = init_model(micro_cfg["v2"], seed=5, attention="cudnn")
    xla = init_model(micro_cfg["v2"], seed=5, attention="chunked")
    post = ScoringReduction.for_tokenizer(cudnn.tokenizer, table=True)
    fast = cudnn.compiled((2,), True, post=post)
    assert fast.attention == "cudnn"
    masked, weights, table_tokens = _scoring_inputs(cudnn, [16, 9], 16)
    got = fast(masked, weights, table_tokens)  # float32 on CPU: cuDNN refuses to compile
    assert fast.attention == "chunked"
    want = xla.compiled((2,), True, post=post)(masked, weights, table_tokens)
    np.testing.assert_array_equal(got["table"], want["table"])
    np.testing.assert_array_equal(got["pooled"][2], want["pooled"][2])
    # the pooled sets are the weighted means of the layer's embeddings (another path)
    emb = xla.apply(masked, layers=(2,), logits=False)["embeddings"][2]
    np.testing.assert_allclose(got["pooled"][2][1, 0], emb[1, 1:9].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(got["pooled"][2][0, 1], emb[0, 1], rtol=1e-6, atol=1e-6)
    # the masked row scores any 6-mer: log-probabilities over the vocabulary sum to 1
    np.testing.assert_allclose(np.exp(got["masked_logp"]).sum(-1), 1.0, rtol=1e-5)
    # the next shape compiles with XLA directly
    fast(*_scoring_inputs(cudnn, [8], 8))
    assert fast.attention == "chunked"


def test_a_second_model_reuses_the_compiled_program_not_the_params(micro_cfg):
    """Programs are cached per model shape, with the parameters as an argument: a second
    worker's model (other weights) compiles nothing and gets its own outputs, and the
    cache does not keep a dropped model's parameters alive."""
    import gc
    import weakref

    from ntscale.scoring import WindowPooling

    cfg = micro_cfg["v2"].replace(name="reuse-test")  # a shape no other test compiles
    first, second = init_model(cfg, seed=1), init_model(cfg, seed=2)
    pool = WindowPooling(layers=(1, 3), pad_id=1, cls_id=3, cls=True)
    a = first.compiled((1, 3), False, post=pool)
    # an equal post-function (a new object, as a new worker builds it) shares the program
    equal = WindowPooling(layers=(1, 3), pad_id=1, cls_id=3, cls=True)
    b = second.compiled((3, 1), False, post=equal)
    assert a.program is b.program
    tokens = _tokens(2, 24, [24, 7])
    out_a = a(tokens)
    traces = a.program.traces
    out_b = b(tokens)
    assert b.program.traces == traces  # nothing compiled for the second model
    want = second.apply(tokens, layers=(1,), logits=False)["embeddings"][1]
    # layers stacked in the post's order (1, 3), whatever order the forward was asked for
    np.testing.assert_allclose(out_b["mean"][1, 0], want[1, 1:7].mean(0), rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(out_b["cls"][:, 0], want[:, 0])
    assert not np.allclose(out_a["mean"], out_b["mean"])
    b(_tokens(2, 32, [32, 3]))  # a new shape is a new compilation
    assert b.program.traces == traces + 1

    params = weakref.ref(second.params["nt/layers/query"]["w"])
    del second, b
    gc.collect()
    assert params() is None
    assert first.compiled((1, 3), False, post=pool).program is a.program

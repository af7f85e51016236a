"""The Haiku module tree: parameter names/shapes are the stacked checkpoint layout."""

from __future__ import annotations

import haiku as hk
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from ntscale.model import build_forward, init_official, precision_policy
from ntscale.model.forward import forward
from ntscale.model.params import stack_official


def _shapes(tree) -> dict:
    return {m: {n: tuple(a.shape) for n, a in leaves.items()} for m, leaves in tree.items()}


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_haiku_tree_is_the_stacked_layout(version, micro_cfg):
    """No renaming: hk.transform's init creates exactly the names/shapes checkpoints fill."""
    cfg = micro_cfg[version]
    net = build_forward(
        cfg, precision=precision_policy("float32"), attention="xla", layers=(1,), logits=True
    )
    tokens = jax.ShapeDtypeStruct((2, 16), jnp.int32)
    haiku_shapes = _shapes(jax.eval_shape(net.init, jax.random.PRNGKey(0), tokens))
    assert haiku_shapes == _shapes(stack_official(init_official(cfg, seed=0), cfg))
    assert "nt/layers/query" in haiku_shapes and "nt/lm_head/final_fc" in haiku_shapes
    assert ("nt/pos_embed" in haiku_shapes) == (version == "v1")


def test_haiku_init_params_run(micro_cfg):
    """Parameters from hk.transform's own init run through the same forward."""
    cfg = micro_cfg["v2"]
    prec = precision_policy("float32")
    net = build_forward(cfg, precision=prec, attention="xla", layers=(2, 3), logits=True)
    tokens = jnp.asarray(np.r_[[3], np.arange(6, 20), [1]][None, :], jnp.int32)  # [1, 16]
    params = jax.jit(net.init)(jax.random.PRNGKey(1), tokens)
    out = jax.jit(net.apply)(params, tokens)
    again = jax.jit(
        lambda p, t: forward(
            p, t, config=cfg, precision=prec, attention="xla", layers=(2, 3), logits=True
        )
    )(params, tokens)
    assert out["logits"].shape == (1, 16, cfg.vocab_size)
    assert np.isfinite(out["logits"]).all() and float(out["logits"][0, -1].max()) == 0.0
    np.testing.assert_array_equal(out["embeddings"][2], again["embeddings"][2])
    assert not np.allclose(out["embeddings"][2], out["embeddings"][3])


def test_one_scanned_block_whatever_the_depth(micro_cfg):
    """hk.layer_stack lowers to one scan: the program does not grow with depth."""
    prec = precision_policy("float32")
    tokens = jax.ShapeDtypeStruct((1, 16), jnp.int32)

    def n_eqns(layers: int) -> int:
        cfg = micro_cfg["v2"].replace(num_layers=layers)
        net = build_forward(cfg, precision=prec, attention="xla", layers=(1,), logits=False)
        params = stack_official(init_official(cfg, seed=0), cfg)
        jaxpr = jax.make_jaxpr(net.apply)(params, tokens)
        assert sum(e.primitive.name == "scan" for e in jaxpr.eqns) == 1
        return len(jaxpr.eqns)

    assert n_eqns(2) == n_eqns(12)


def test_no_global_mixed_precision_policy(micro_cfg):
    """Importing and running the model sets no Haiku mixed-precision policy."""
    from ntscale.model import init_model
    from ntscale.model.modules import Dense, NucleotideTransformer, TransformerBlock

    init_model(micro_cfg["v2"], dtype="bf16").apply(np.full((1, 8), 6, np.int32))
    for cls in (hk.LayerNorm, hk.Embed, Dense, NucleotideTransformer, TransformerBlock):
        assert hk.mixed_precision.get_policy(cls) is None

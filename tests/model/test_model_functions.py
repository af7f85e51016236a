"""The small functions of model/modules.py against their definitions: activations, rotary
position tables and rotation, and the float32 LayerNorm."""

from __future__ import annotations

import math

import haiku as hk
import jax.numpy as jnp
import numpy as np
import pytest

from ntscale.model.modules import activation, apply_rotary, layer_norm, rotary_tables

X = np.linspace(-4.0, 4.0, 33, dtype=np.float32)


@pytest.mark.parametrize(
    ("name", "definition"),
    [
        ("gelu-no-approx", lambda x: x * 0.5 * (1 + math.erf(x / math.sqrt(2)))),
        (
            "gelu",
            lambda x: 0.5 * x * (1 + math.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3))),
        ),
        ("swish", lambda x: x / (1 + math.exp(-x))),
        ("silu", lambda x: x / (1 + math.exp(-x))),
        ("relu", lambda x: max(x, 0.0)),
    ],
)
def test_activations_follow_their_definitions(name: str, definition) -> None:
    want = np.array([definition(float(x)) for x in X])
    np.testing.assert_allclose(np.asarray(activation(name, jnp.asarray(X))), want, atol=2e-6)


def test_exact_and_tanh_gelu_differ() -> None:
    # the v1 checkpoints were trained with the exact (erf) GELU: the two must not be mixed up
    exact = np.asarray(activation("gelu-no-approx", jnp.asarray(X)))
    approx = np.asarray(activation("gelu", jnp.asarray(X)))
    assert np.abs(exact - approx).max() > 1e-4


def test_rotary_tables_by_hand() -> None:
    cos, sin = rotary_tables(3, 4, 10000.0)
    # K = 4: inverse frequencies 1 and 10000^(-1/2) = 0.01, each used for two dims
    angles = np.array([[0, 0, 0, 0], [1, 0.01, 1, 0.01], [2, 0.02, 2, 0.02]], np.float32)
    np.testing.assert_allclose(np.asarray(cos), np.cos(angles), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(sin), np.sin(angles), rtol=1e-6)


def test_rotation_keeps_norms_and_makes_scores_relative() -> None:
    rng = np.random.default_rng(0)
    t, k = 12, 8
    cos, sin = rotary_tables(t, k, 10000.0)
    q = np.broadcast_to(rng.standard_normal(k, dtype=np.float32), (1, t, 1, k))
    key = np.broadcast_to(rng.standard_normal(k, dtype=np.float32), (1, t, 1, k))
    rq = np.asarray(apply_rotary(jnp.asarray(q), cos, sin))[0, :, 0]  # [T, K]
    rk = np.asarray(apply_rotary(jnp.asarray(key), cos, sin))[0, :, 0]
    np.testing.assert_allclose(rq[0], q[0, 0, 0], rtol=1e-6)  # position 0: no rotation
    np.testing.assert_allclose(np.linalg.norm(rq, axis=1), np.linalg.norm(q[0, :, 0], axis=1),
                               rtol=1e-5)  # fmt: skip
    # the same vectors two positions apart give the same score wherever they sit
    scores = [float(rq[m] @ rk[m + 2]) for m in (0, 3, 9)]
    np.testing.assert_allclose(scores, scores[0], rtol=1e-4)
    assert abs(float(rq[0] @ rk[1]) - scores[0]) > 1e-3  # another offset: another score


def test_layer_norm_uses_float32_statistics() -> None:
    fn = hk.without_apply_rng(hk.transform(lambda x: layer_norm(x, eps=1e-5, name="ln")))
    x = jnp.asarray(np.array([[1.0, 2.0, 3.0, 6.0]]), jnp.bfloat16)
    params = fn.init(None, x)
    assert params["ln"]["scale"].dtype == jnp.float32
    out = np.asarray(fn.apply(params, x))
    assert out.dtype == np.float32
    v = np.array([1.0, 2.0, 3.0, 6.0])  # mean 3, variance 3.5
    np.testing.assert_allclose(out[0], (v - 3) / np.sqrt(3.5 + 1e-5), rtol=1e-6)

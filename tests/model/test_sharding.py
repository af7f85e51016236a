"""One program over several devices (ntscale.model.sharding): equal to the one-device path.

The multi-device checks run in a child process with 4 forced CPU devices
(tests/forced_devices.py); the helpers that need no mesh run here, on this session's one
device.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from forced_devices import run_forced

from ntscale.errors import ConfigError
from ntscale.model import init_model
from ntscale.model.sharding import (
    BatchSharding,
    batch_sharding,
    cut_rows,
    local_devices,
    pad_rows,
    padded_rows,
)

# Runs in a child with 4 CPU devices: the tiny bundled model (fp32) on batches of 8, 6, 5
# and 1 rows, one device vs the 4-device mesh, raw outputs and a post-function with extras.
SHARDED_VS_ONE = r"""
import json
import jax, jax.numpy as jnp, numpy as np
from ntscale.model import load
from ntscale.model.sharding import BatchSharding, local_devices

def pooled(outputs, tokens, weights):  # [B, T] weights: a per-row extra, split like tokens
    return {k: jnp.einsum("bt,btd->bd", weights, e) for k, e in outputs["embeddings"].items()}

model = load("examples/checkpoints/nt-v2-tiny")
mesh = BatchSharding(local_devices(4))
rng = np.random.default_rng(7)
report = {"devices": len(jax.devices()), "cases": []}
for rows in (8, 6, 5, 1):
    tokens = np.ones((rows, 128), np.int32)
    for i in range(rows):
        n = int(rng.integers(5, 128))
        tokens[i, 0] = 3
        tokens[i, 1:n] = rng.integers(6, 4000, n - 1)
    if rows > 2:
        tokens[2, 1:] = 1  # a row of CLS and padding only
    weights = rng.random((rows, 128)).astype(np.float32)
    case = {"rows": rows}
    for name, args, fwd in (
        ("raw", (tokens,), model.compiled((1, 2), True)),
        ("post", (tokens, weights), model.compiled((1, 2), False, post=pooled)),
    ):
        one, many = fwd(*args), mesh.wrap(fwd)(*args)
        a, b = jax.tree_util.tree_leaves(one), jax.tree_util.tree_leaves(many)
        case[name] = {
            "shapes_equal": [x.shape for x in a] == [y.shape for y in b],
            "max_abs": max(float(np.max(np.abs(x - y))) for x, y in zip(a, b)),
            "identical": all(np.array_equal(x, y) for x, y in zip(a, b)),
            "finite": all(bool(np.isfinite(y).all()) for y in b),
        }
    out, kept = mesh.wrap(model.compiled((1,), False)).dispatch(tokens)
    leaf = out["embeddings"][1]
    case["padded_rows"] = int(leaf.shape[0])
    case["kept"] = kept
    case["spread_over"] = len(leaf.sharding.device_set)
    case["spec"] = str(leaf.sharding.spec)
    report["cases"].append(case)
print(json.dumps(report))
"""


@pytest.fixture(scope="module")
def sharded_report() -> dict:
    return run_forced(SHARDED_VS_ONE, n_devices=4)


def test_child_has_four_devices(sharded_report):
    assert sharded_report["devices"] == 4


@pytest.mark.parametrize("kind", ["raw", "post"])
def test_sharded_forward_equals_one_device_fp32(sharded_report, kind):
    for case in sharded_report["cases"]:
        got = case[kind]
        assert got["shapes_equal"], case  # padding rows cut back: same rows as given
        assert got["max_abs"] <= 1e-6, case
        assert got["finite"], case  # the all-pad row and the padded copies make no NaN


def test_sharded_forward_is_bitwise_on_cpu(sharded_report):
    """On XLA:CPU each device runs the rows with the same kernels: same bits (recorded in
    docs/scaling.md; other backends are held to the dtype's rounding instead)."""
    assert all(c[k]["identical"] for c in sharded_report["cases"] for k in ("raw", "post"))


def test_batches_that_do_not_divide_are_padded_then_cut_back(sharded_report):
    by_rows = {c["rows"]: c for c in sharded_report["cases"]}
    assert {r: c["padded_rows"] for r, c in by_rows.items()} == {8: 8, 6: 8, 5: 8, 1: 4}
    assert all(c["kept"] == r for r, c in by_rows.items())


def test_outputs_stay_split_over_the_mesh(sharded_report):
    for case in sharded_report["cases"]:
        assert case["spread_over"] == 4 and "batch" in case["spec"], case


@pytest.mark.parametrize(
    ("rows", "n", "want"), [(8, 4, 8), (6, 4, 8), (1, 4, 4), (9, 8, 16), (3, 1, 3)]
)
def test_padded_rows_is_the_next_multiple(rows, n, want):
    assert padded_rows(rows, n) == want


def test_pad_rows_repeats_the_last_row_and_cut_rows_drops_it():
    x = np.arange(12).reshape(3, 4)
    padded = pad_rows(x, 4)
    assert padded.shape == (4, 4) and (padded[3] == x[2]).all() and (padded[:3] == x).all()
    assert pad_rows(x, 3) is x
    tree = {"a": padded, "b": {"c": np.zeros((4, 2, 5))}}
    cut = cut_rows(tree, 3)
    assert cut["a"].shape == (3, 4) and cut["b"]["c"].shape == (3, 2, 5)


def test_one_device_keeps_the_plain_path():
    assert batch_sharding(1) is None


def test_more_devices_than_the_process_has_is_a_clear_error():
    n = len(jax.local_devices()) + 1
    with pytest.raises(ConfigError, match=rf"devices_per_actor {n} does not fit the"):
        local_devices(n)
    with pytest.raises(ConfigError, match="between 1 and"):
        local_devices(0)


def test_a_mesh_is_keyed_by_its_devices():
    a, b = BatchSharding(local_devices(1)), BatchSharding(local_devices(1))
    assert a == b and hash(a) == hash(b) and a.n_devices == 1
    assert "BatchSharding" in repr(a)
    with pytest.raises(ValueError, match="at least one device"):
        BatchSharding([])


def test_a_one_device_mesh_gives_the_same_outputs_and_caches(micro_cfg):
    model = init_model(micro_cfg["v2"], seed=3)
    mesh = BatchSharding(local_devices(1))
    fwd = model.compiled((1,), False)
    assert mesh.wrap(fwd) is mesh.wrap(fwd)
    assert mesh.params(model) is mesh.params(model)  # replicated once per model
    assert mesh.wrap(fwd).attention == fwd.attention
    tokens = np.full((3, 16), 1, np.int32)
    tokens[:, 0] = 3
    tokens[:, 1:9] = np.arange(6, 14)
    one = fwd(tokens)["embeddings"][1]
    via = mesh.wrap(fwd)(tokens)["embeddings"][1]
    np.testing.assert_array_equal(one, via)


def test_place_refuses_rows_that_do_not_divide(micro_cfg):
    model = init_model(micro_cfg["v2"], seed=3)
    mesh = BatchSharding(local_devices(1))
    params, tokens, extras = mesh.place(model, np.ones((2, 8), np.int32), (None,))
    assert extras == (None,) and tokens.shape == (2, 8)
    assert jax.tree_util.tree_structure(params) == jax.tree_util.tree_structure(model.params)

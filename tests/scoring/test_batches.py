"""Fixed-shape batches of planned passes (`ntscale.scoring.batches`) and their unpacking."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.scoring.batches import Flavour, pack_passes, pool_slots, unpack_batch
from ntscale.scoring.passes import PassPlan

PAD = 1


def _ids(n: int, first: int = 10) -> np.ndarray:
    return np.arange(first, first + n, dtype=np.int32)


@pytest.mark.parametrize(("n", "slots"), [(0, 1), (1, 1), (2, 2), (3, 4), (4, 4), (5, 8)])
def test_pool_slots_are_powers_of_two(n, slots):
    assert pool_slots(n) == slots


def test_passes_are_grouped_by_flavour_sorted_and_padded():
    plan = PassPlan(by_content=False)
    long_ref = plan.add("a", _ids(200))  # embed + table
    plan.pool(long_ref, np.full(200, 0.5, np.float32))
    plan.read_table(long_ref, 3)
    short_ref = plan.add("b", _ids(5))  # embed + table, 3 pools
    for k in range(3):
        plan.pool(short_ref, np.eye(5, dtype=np.float32)[k])
    plan.read_table(short_ref, 1)
    alt = plan.add("c", _ids(7))  # embed only
    plan.pool(alt, np.ones(7, np.float32))
    masked_tokens = _ids(9)
    masked_tokens[4] = 2
    masked = plan.add("d", masked_tokens, table_tokens=_ids(9))  # table only
    plan.read_table(masked, 4)

    batches = list(pack_passes(plan.passes, batch_size=2, pad_id=PAD, max_tokens=256))
    # first group first (by first use), shortest pass first inside a group
    assert [(b.flavour, b.members) for b in batches] == [
        (Flavour(embed=True, table=True, token_embeddings=False), (short_ref, long_ref)),
        (Flavour(embed=True, table=False, token_embeddings=False), (alt,)),
        (Flavour(embed=False, table=True, token_embeddings=False), (masked,)),
    ]
    both, embed, table = batches
    # tokens: T is the bucket of the longest member (200 -> 256), rows right-padded
    assert both.tokens.shape == (2, 256)
    np.testing.assert_array_equal(both.tokens[0, :5], _ids(5))
    assert (both.tokens[0, 5:] == PAD).all() and (both.tokens[1, 200:] == PAD).all()
    # weights: 3 pools on the short pass -> 4 slots; unused slots and padding are zero
    assert both.weights.shape == (2, 4, 256)
    np.testing.assert_array_equal(both.weights[0, 2, :5], [0, 0, 1, 0, 0])
    assert both.weights[0, 3].sum() == 0 and both.weights[1, 1:].sum() == 0
    assert both.weights[1, 0].sum() == pytest.approx(100.0)
    # the table substitutes into the pass's own tokens unless it is a masked pass
    np.testing.assert_array_equal(both.table_tokens, both.tokens)
    assert embed.table_tokens is None and embed.weights.shape == (2, 1, 128)
    assert (embed.tokens[1] == PAD).all()  # the last batch is padded with <pad> rows
    assert table.weights is None
    np.testing.assert_array_equal(table.tokens[0, :9], masked_tokens)
    np.testing.assert_array_equal(table.table_tokens[0, :9], _ids(9))


def test_batches_never_exceed_the_batch_size():
    plan = PassPlan(by_content=False)
    for k in range(7):
        plan.read_table(plan.add(k, _ids(3 + k)), 1)
    batches = list(pack_passes(plan.passes, batch_size=3, pad_id=PAD, max_tokens=512))
    assert [b.members for b in batches] == [(0, 1, 2), (3, 4, 5), (6,)]
    assert all(b.tokens.shape == (3, 128) for b in batches)


def test_unpack_keeps_what_each_pass_asked_for():
    plan = PassPlan(by_content=False)
    a = plan.add("a", _ids(4))
    plan.pool(a, np.ones(4, np.float32))
    plan.keep_tokens(a)
    b = plan.add("b", _ids(6))
    plan.pool(b, np.ones(6, np.float32))
    plan.pool(b, np.zeros(6, np.float32) + 0.5)
    plan.keep_tokens(b)
    (batch,) = pack_passes(plan.passes, batch_size=2, pad_id=PAD, max_tokens=128)
    B, G, T, D = 2, 2, 128, 3
    rng = np.random.default_rng(0)
    out = {
        "mean": {6: rng.normal(size=(B, D))},
        "pooled": {6: rng.normal(size=(B, G, D))},
        "tokens": {6: rng.normal(size=(B, T, D))},
    }
    res = dict(zip(batch.members, unpack_batch(batch, out, plan.passes), strict=True))
    np.testing.assert_array_equal(res[a].mean[6], out["mean"][6][0])
    assert res[a].pooled[6].shape == (1, D)  # its one pool, not the batch's two slots
    assert res[b].pooled[6].shape == (2, D)
    np.testing.assert_array_equal(res[a].tokens[6], out["tokens"][6][0, :4])
    np.testing.assert_array_equal(res[b].tokens[6], out["tokens"][6][1, :6])
    assert res[a].table == {} and res[a].full_table is None


def test_unpack_tables_rows_masked_and_full():
    plan = PassPlan(by_content=False)
    ref = plan.add("ref", _ids(5))
    plan.read_table(ref, 2)
    plan.keep_table(ref)
    masked = plan.add("m", _ids(5), table_tokens=_ids(5))
    plan.read_table(masked, 3)
    (batch,) = pack_passes(plan.passes, batch_size=2, pad_id=PAD, max_tokens=64)
    table = np.arange(2 * 64 * 6 * 4, dtype=np.float32).reshape(2, 64, 6, 4)
    logp = np.arange(2 * 10, dtype=np.float32).reshape(2, 10)
    out = {"mean": {}, "pooled": {}, "tokens": {}, "table": table, "masked_logp": logp}
    r_ref, r_masked = unpack_batch(batch, out, plan.passes)
    assert sorted(r_ref.table) == [2] and r_ref.masked_logp is None
    np.testing.assert_array_equal(r_ref.full_table, table[0, :5])
    assert sorted(r_masked.table) == [3] and r_masked.full_table is None
    np.testing.assert_array_equal(r_masked.table[3], table[1, 3])
    np.testing.assert_array_equal(r_masked.masked_logp, logp[1])

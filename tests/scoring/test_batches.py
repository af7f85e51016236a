"""Fixed-shape batches of planned passes (`ntscale.scoring.batches`) and their unpacking."""

from __future__ import annotations

import numpy as np
import pytest

from ntscale.scoring.batches import Flavour, batch_rows, pack_passes, pool_slots, unpack_batch
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
    # a last batch of one pass runs 2 device rows (never 1: see batch_rows), not batch_size
    assert embed.table_tokens is None and embed.weights.shape == (2, 1, 128)
    assert embed.device_rows == 2 and (embed.tokens[1] == PAD).all()
    assert table.weights is None
    np.testing.assert_array_equal(table.tokens[0, :9], masked_tokens)
    np.testing.assert_array_equal(table.table_tokens[0, :9], _ids(9))


def test_batches_never_exceed_the_batch_size():
    plan = PassPlan(by_content=False)
    for k in range(7):
        plan.read_table(plan.add(k, _ids(3 + k)), 1)
    batches = list(pack_passes(plan.passes, batch_size=3, pad_id=PAD, max_tokens=512))
    assert [b.members for b in batches] == [(0, 1, 2), (3, 4, 5), (6,)]
    assert [b.tokens.shape for b in batches] == [(3, 128), (3, 128), (2, 128)]


@pytest.mark.parametrize(
    ("n", "size", "rows"),
    [(1, 8, 2), (2, 8, 2), (3, 8, 4), (5, 8, 8), (8, 8, 8), (5, 6, 6), (3, 3, 3), (1, 1, 1)],
)
def test_batch_rows_are_powers_of_two_capped_at_the_batch_size(n, size, rows):
    assert batch_rows(n, size) == rows


@pytest.mark.parametrize("n", [0, 9])
def test_batch_rows_rejects_counts_outside_the_batch(n):
    with pytest.raises(ValueError, match=r"n_rows must be in 1\.\.8, got " + str(n)):
        batch_rows(n, 8)


def test_padding_rows_of_an_odd_number_of_passes_stay_under_half_a_batch():
    """13 passes at batch 8 still run 8 + 8 rows (5 left round up to 8), but 11 passes run
    8 + 4 rows, not 16: a last batch's padding rows are fewer than its used rows."""
    plan = PassPlan(by_content=False)
    for k in range(13):
        plan.read_table(plan.add(k, _ids(4)), 1)
    batches = list(pack_passes(plan.passes, batch_size=8, pad_id=PAD, max_tokens=128))
    assert [len(b.members) for b in batches] == [8, 5]
    assert [b.device_rows for b in batches] == [8, 8]
    plan = PassPlan(by_content=False)
    for k in range(11):
        plan.read_table(plan.add(k, _ids(4)), 1)
    batches = list(pack_passes(plan.passes, batch_size=8, pad_id=PAD, max_tokens=128))
    assert [b.device_rows for b in batches] == [8, 4]  # 12 rows for 11 passes, not 16
    last = batches[-1]
    assert (last.tokens[3] == PAD).all() and (last.tokens[2, :4] == _ids(4)).all()


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

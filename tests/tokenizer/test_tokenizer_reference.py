"""Parity with the published NT tokenizer: every fixture case and the forward-batch tokens."""

from __future__ import annotations

import json

import numpy as np
import pytest

from ntscale.errors import TokenizerError
from ntscale.tokenizer import VERSIONS, get_tokenizer

STRICT = {"case": "strict", "iupac": "raise"}

# Rejected fixture inputs: the letter and 0-based position our strict policy must name.
REJECTED = {
    "acgtac": ("lowercase letter 'a' at position 0", "ACGTAC"),
    "ACGTACgtacgt": ("lowercase letter 'g' at position 6", "ACGTACGTACGT"),
    "ACGTRYACGTAC": ("IUPAC ambiguity letter 'R' at position 4", "ACGTNNACGTAC"),
    "ACGTAR": ("IUPAC ambiguity letter 'R' at position 5", "ACGTAN"),
    "ACGT ACGTAC": ("invalid letter ' ' at position 4", None),
}


@pytest.fixture(scope="module")
def fixture_dir(shared_dir):
    return shared_dir / "fixtures" / "nt_reference"


@pytest.fixture(scope="module")
def cases(fixture_dir):
    return json.loads((fixture_dir / "tokenizer_cases.json").read_text())


def test_fixture_header(cases):
    assert cases["k_mers"] == 6 and cases["prepend_cls"] is True


@pytest.mark.parametrize("version", VERSIONS)
def test_every_accepted_case(cases, version):
    tok = get_tokenizer(version)
    accepted = [c for c in cases["cases"] if "error" not in c]
    assert len(accepted) >= 15
    for case in accepted:
        for policy in (STRICT, {}):
            ids = tok.encode(case["sequence"], **policy)
            assert ids.dtype == np.int32
            assert ids.tolist() == case[f"ids_{version}"], case["sequence"]
            assert tok.decode(ids) == case["tokens"]
            assert tok.count_tokens(case["sequence"]) == len(case["tokens"])
            assert tok.encode(case["sequence"].encode("ascii"), **policy).tolist() == ids.tolist()
    # all of them at once, padded to the longest
    batch = tok.encode_batch([c["sequence"] for c in accepted])
    for row, case in zip(batch, accepted, strict=True):
        n = len(case["tokens"])
        assert row[:n].tolist() == case[f"ids_{version}"]
        assert (row[n:] == tok.pad_id).all()


@pytest.mark.parametrize("version", VERSIONS)
def test_every_rejected_case_raises_under_strict_policy(cases, version):
    tok = get_tokenizer(version)
    rejected = [c for c in cases["cases"] if "error" in c]
    assert {c["sequence"] for c in rejected} == set(REJECTED)
    for case in rejected:
        assert case["error"] == "KeyError"  # the reference's own failure
        expected, _ = REJECTED[case["sequence"]]
        with pytest.raises(TokenizerError, match=expected):
            tok.encode(case["sequence"], **STRICT)


@pytest.mark.parametrize("version", VERSIONS)
def test_rejected_cases_under_default_policy(cases, version):
    """Defaults upper-case soft-masked bases and turn IUPAC letters into N; space still fails."""
    tok = get_tokenizer(version)
    for case in (c for c in cases["cases"] if "error" in c):
        _, normalised = REJECTED[case["sequence"]]
        if normalised is None:
            with pytest.raises(TokenizerError, match="invalid letter ' ' at position 4"):
                tok.encode(case["sequence"])
        else:
            assert tok.encode(case["sequence"]).tolist() == tok.encode(normalised).tolist()


def test_fixed_size_padding(cases):
    spec = cases["fixed_size_padding"]
    v2 = get_tokenizer("v2")
    got = v2.encode_batch(spec["batch"], spec["fixed_length"])
    assert got.dtype == np.int32 and got.shape == (2, spec["fixed_length"])
    assert got.tolist() == spec["padded_ids_v2"]
    # v1: same tokens, v1 ids
    v1 = get_tokenizer("v1")
    expected_v1 = [
        [v1.token_to_id(v2.id_to_token(i)) for i in row] for row in spec["padded_ids_v2"]
    ]
    assert v1.encode_batch(spec["batch"], spec["fixed_length"]).tolist() == expected_v1


def test_too_long_for_fixed_length(cases):
    spec = cases["fixed_size_padding"]["too_long"]
    assert spec["error"] == "ValueError" and "length 9" in spec["message"]
    with pytest.raises(TokenizerError, match=r"sequence 0 has 9 tokens .* fixed length is 8"):
        get_tokenizer("v2").encode_batch([spec["sequence"]], 8)
    with pytest.raises(ValueError):  # TokenizerError is a ValueError, like the reference's
        get_tokenizer("v1").encode_batch([spec["sequence"]], 8)


@pytest.mark.parametrize("version", VERSIONS)
def test_forward_batch_tokens(fixture_dir, version):
    meta = json.loads((fixture_dir / "meta.json").read_text())[version]
    expected = np.load(fixture_dir / f"{version}_forward.npz")["tokens"]
    tok = get_tokenizer(version)
    seqs = [s["sequence"] for s in meta["sequences"]]
    got = tok.encode_batch(seqs, meta["fixed_length"])
    assert got.shape == expected.shape == (4, 56)
    edit = meta["mask_edit"]
    row, col = edit["row"], edit["position"]
    assert expected[row, col] == tok.mask_id
    assert got[row, col] == edit["original_token_id"]
    got[row, col] = tok.mask_id
    np.testing.assert_array_equal(got, expected)
    # the first row fills the whole length: exactly as long as the model allows
    assert tok.count_tokens(seqs[0]) == 56

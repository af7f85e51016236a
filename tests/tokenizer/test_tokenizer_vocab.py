"""Vocabularies v1/v2 built in code equal the published ones; id/token look-ups."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from ntscale.errors import ConfigError, TokenizerError
from ntscale.tokenizer import VERSIONS, get_tokenizer


@pytest.fixture(scope="module")
def fixture_dir(shared_dir):
    return shared_dir / "fixtures" / "nt_reference"


@pytest.mark.parametrize("version", VERSIONS)
def test_vocab_matches_published_json(fixture_dir, version):
    published = json.loads((fixture_dir / f"vocab_{version}.json").read_text())
    expected = tuple(published[str(i)] for i in range(len(published)))
    tok = get_tokenizer(version)
    assert len(tok.vocab) == 4107
    assert tok.vocab == expected


@pytest.mark.parametrize(
    ("version", "first_kmer", "first_letter", "model_rows"),
    [("v1", 4, 4100, 4105), ("v2", 6, 4102, 4107)],
)
def test_layout_and_specials(version, first_kmer, first_letter, model_rows):
    tok = get_tokenizer(version)
    assert tok.version == version
    assert (tok.k, tok.unk_id, tok.pad_id, tok.mask_id, tok.cls_id) == (6, 0, 1, 2, 3)
    assert tok.vocab_size == model_rows
    assert [tok.vocab[i] for i in (0, 1, 2, 3)] == ["<unk>", "<pad>", "<mask>", "<cls>"]
    assert tok.kmer_ids.dtype == np.int32 and tok.kmer_ids.shape == (4096,)
    kmers = ["".join(p) for p in itertools.product("ATCG", repeat=6)]
    assert [tok.vocab[i] for i in tok.kmer_ids] == kmers
    assert tok.kmer_ids[0] == first_kmer and tok.kmer_ids[-1] == first_kmer + 4095
    assert tok.letter_ids == {ch: first_letter + i for i, ch in enumerate("ATCGN")}
    # every id the tokenizer can emit is a row of the model
    assert max(tok.letter_ids.values()) == model_rows - 1
    with pytest.raises(ValueError):
        tok.kmer_ids[0] = 7  # shared, read-only


@pytest.mark.parametrize("version", VERSIONS)
def test_token_id_round_trip(version):
    tok = get_tokenizer(version)
    for i, token in enumerate(tok.vocab):
        assert tok.token_to_id(token) == i
        assert tok.id_to_token(i) == token
    assert tok.decode(np.array([3, tok.token_to_id("ACGTAC"), 1])) == ["<cls>", "ACGTAC", "<pad>"]


def test_pinned_ids():
    v1, v2 = get_tokenizer("v1"), get_tokenizer("v2")
    assert v1.token_to_id("ACGTAC") == 726 and v2.token_to_id("ACGTAC") == 728
    assert v1.token_to_id("<eos>") == 4105 and v2.token_to_id("<eos>") == 4
    assert v1.token_to_id("GGGGGG") == 4099 and v2.token_to_id("GGGGGG") == 4101


def test_unknown_token_and_id_errors():
    tok = get_tokenizer("v2")
    with pytest.raises(TokenizerError, match=r"token 'ACGTA' is not in the v2 vocabulary"):
        tok.token_to_id("ACGTA")
    with pytest.raises(TokenizerError, match=r"token id 4107 is out of range .*\(0\.\.4106\)"):
        tok.id_to_token(4107)
    with pytest.raises(TokenizerError, match=r"token id -1 is out of range"):
        tok.id_to_token(-1)


def test_unknown_version_lists_valid_ones():
    with pytest.raises(
        ConfigError, match=r"unknown tokenizer version 'v3'; valid versions: 'v1', 'v2'"
    ):
        get_tokenizer("v3")
    with pytest.raises(ValueError):  # ConfigError is also a ValueError
        get_tokenizer("V2")


def test_get_tokenizer_is_cached():
    assert get_tokenizer("v1") is get_tokenizer("v1")
    assert get_tokenizer("v1") is not get_tokenizer("v2")


def test_pickles_as_its_version_and_has_short_repr():
    import pickle

    tok = get_tokenizer("v1")
    data = pickle.dumps(tok)
    assert len(data) < 200
    assert pickle.loads(data) is tok
    assert "AAAAAA" not in repr(tok) and "version='v1'" in repr(tok)

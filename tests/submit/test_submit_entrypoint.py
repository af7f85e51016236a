"""The job's entrypoint: `ntscale WORDS --ray auto`, shell-quoted so the job sees the words."""

from __future__ import annotations

import shlex
import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ntscale.errors import ConfigError
from ntscale.submit.entrypoint import RAY_COMMANDS, build_entrypoint, ray_values


def test_embed_gets_ray_auto_appended():
    ep = build_entrypoint(["embed", "--fasta", "/data/hg 38.fa", "--out", "s3://b/x.zarr"])
    assert ep == "ntscale embed --fasta '/data/hg 38.fa' --out s3://b/x.zarr --ray auto"


@pytest.mark.parametrize("command", sorted(RAY_COMMANDS))
def test_every_ray_command_joins_the_jobs_cluster(command):
    assert build_entrypoint([command]) == f"ntscale {command} --ray auto"
    assert build_entrypoint([command], ray_address="10.0.0.1:6379").endswith("--ray 10.0.0.1:6379")


@pytest.mark.parametrize("words", [["--ray", "10.0.0.1:6379"], ["--ray=auto"]])
def test_existing_ray_option_is_kept(words):
    assert build_entrypoint(["score", *words]) == "ntscale score " + " ".join(words)


@pytest.mark.parametrize(
    "words",
    [
        ["--ray", "local"],
        ["--ray=local"],
        ["--ray"],  # bare --ray means local, as on the CLI
        ["--ray", "--batch-size", "8"],
    ],
)
def test_ray_local_is_refused_in_a_job(words):
    with pytest.raises(ConfigError, match="`--ray local` in a submitted job would start"):
        build_entrypoint(["embed", *words])


@pytest.mark.parametrize(
    ("words", "values"),
    [
        ([], []),
        (["embed", "--out", "x"], []),
        (["embed", "--ray", "auto"], ["auto"]),
        (["embed", "--ray=h:6379", "--ray", "auto"], ["h:6379", "auto"]),
        (["embed", "--ray"], ["local"]),
        (["embed", "--ray", "-v"], ["local"]),
        (["embed", "--ray="], [""]),
        (["embed", "--rays", "x"], []),  # another option, not --ray
    ],
)
def test_ray_values(words, values):
    assert ray_values(words) == values


def test_other_commands_and_raw_are_left_alone():
    assert build_entrypoint(["--version"]) == "ntscale --version"
    assert build_entrypoint(["-v", "embed"]) == "ntscale -v embed --ray auto"
    assert build_entrypoint(["report", "/s.zarr"]) == "ntscale report /s.zarr"
    assert build_entrypoint(["nvidia-smi", "-L"], raw=True) == "nvidia-smi -L"
    # A raw command is not ntscale: no --ray added, no check of its words.
    assert build_entrypoint(["embed", "--ray", "local"], raw=True) == "embed --ray local"


def test_empty_and_recursive_submissions_are_refused():
    with pytest.raises(ConfigError, match="nothing to submit: give the ntscale command"):
        build_entrypoint([])
    with pytest.raises(ConfigError, match="nothing to submit"):
        build_entrypoint([], raw=True)
    with pytest.raises(ConfigError, match="`ntscale submit` cannot run inside a Ray job"):
        build_entrypoint(["submit", "--", "embed"])
    with pytest.raises(ConfigError, match="`ntscale jobs` cannot run inside a Ray job"):
        build_entrypoint(["-v", "jobs", "list"])


def test_quoting_survives_the_shell():
    words = ["embed", "--fasta", "/d/it's here.fa", "--out", "/o/$HOME;rm -rf x", "--x", ""]
    assert shlex.split(build_entrypoint(words)) == ["ntscale", *words, "--ray", "auto"]


# Shell-significant characters included: quotes, $, ;, spaces, backslashes, newlines.
_WORD = st.text(alphabet=string.printable, max_size=12)


@given(st.lists(_WORD, min_size=1, max_size=6))
def test_raw_entrypoint_splits_back_into_the_same_words(words):
    assert shlex.split(build_entrypoint(words, raw=True)) == words


@given(
    st.sampled_from(sorted(RAY_COMMANDS | {"report", "models"})),
    st.lists(_WORD.filter(lambda w: not w.startswith("-")), max_size=5),
)
def test_ntscale_entrypoint_is_the_words_plus_ray_auto_for_ray_commands(command, rest):
    got = shlex.split(build_entrypoint([command, *rest]))
    extra = ["--ray", "auto"] if command in RAY_COMMANDS else []
    assert got == ["ntscale", command, *rest, *extra]

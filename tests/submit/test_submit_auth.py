"""Token auth: where the token comes from (env, file, Ray's default file) and refusals."""

from __future__ import annotations

import pytest

from ntscale.submit.auth import auth_error, auth_headers


@pytest.fixture()
def clean_env(monkeypatch, tmp_path):
    """No token anywhere: HOME is empty, no RAY_AUTH_* variable."""
    for key in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_no_token_sends_no_header(clean_env):
    assert auth_headers() == {}


def test_token_from_the_environment_is_stripped(clean_env):
    clean_env.setenv("RAY_AUTH_TOKEN", "  abc123\n")
    assert auth_headers() == {"Authorization": "Bearer abc123"}


def test_token_from_the_named_file(clean_env, tmp_path):
    path = tmp_path / "token"
    path.write_text("from-file\n")
    clean_env.setenv("RAY_AUTH_TOKEN_PATH", str(path))
    assert auth_headers() == {"Authorization": "Bearer from-file"}
    clean_env.setenv("RAY_AUTH_TOKEN", "from-env")  # the variable wins over the file
    assert auth_headers() == {"Authorization": "Bearer from-env"}


def test_token_from_rays_default_file(clean_env, tmp_path):
    folder = tmp_path / "home" / ".ray"
    folder.mkdir(parents=True)
    (folder / "auth_token").write_text("default-file")
    assert auth_headers() == {"Authorization": "Bearer default-file"}


def test_missing_or_empty_token_file_sends_no_header(clean_env, tmp_path):
    clean_env.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    assert auth_headers() == {}
    (tmp_path / "empty").write_text("\n")
    clean_env.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "empty"))
    assert auth_headers() == {}


def test_disabled_auth_sends_nothing_even_with_a_token(clean_env):
    clean_env.setenv("RAY_AUTH_TOKEN", "abc")
    clean_env.setenv("RAY_AUTH_MODE", "DISABLED")
    assert auth_headers() == {}


class AuthenticationError(RuntimeError):
    """Named like the SDK's own: a refusal is recognised by its class name."""


@pytest.mark.parametrize(
    "err",
    [
        RuntimeError("Request failed with status code 401: Unauthorized\nmore detail"),
        RuntimeError("Request failed with status code 403: Forbidden"),
        AuthenticationError("token mismatch"),
        AuthenticationError(""),
    ],
)
def test_refused_credentials_say_how_to_get_the_token(err):
    refused = auth_error("http://h:8265", err)
    assert refused is not None
    text = str(refused)
    assert text.startswith("the Ray cluster at http://h:8265 refused this machine's credentials")
    assert "`ray get-auth-token` on the head" in text and "RAY_AUTH_TOKEN_PATH" in text
    assert "more detail" not in text  # only the first line of the SDK's message
    first = str(err).splitlines()[0] if str(err) else type(err).__name__
    assert f"({first})" in text


@pytest.mark.parametrize(
    "err",
    [
        RuntimeError("Request failed with status code 500: No available agent"),
        ConnectionError("connection refused"),
        ValueError(""),
    ],
)
def test_other_errors_are_not_auth_errors(err):
    assert auth_error("http://h:8265", err) is None

"""Checkpoint digests hashed once: keyed by (path, size, mtime_ns, inode), in the process
and in a small cache file; a worker reuses the driver's digest for the same files."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ntscale.model import checkpoint_digest as digest_cache
from ntscale.model.checkpoint import file_digest


@pytest.fixture
def fresh(tmp_path, monkeypatch):
    """An empty cache folder and an empty in-process cache; yields a hash counter."""
    monkeypatch.setenv("NTSCALE_CACHE_DIR", str(tmp_path / "cache"))
    digest_cache.forget()

    def hashes() -> int:
        return digest_cache.hash_count

    yield hashes
    digest_cache.forget()


def _write(path, data: bytes):
    path.write_bytes(data)
    return path


def test_digest_is_sha256_of_the_concatenated_files_and_hashed_once(tmp_path, fresh):
    a = _write(tmp_path / "a.bin", b"x" * 5000)
    b = _write(tmp_path / "b.bin", b"yz" * 300)
    n0 = fresh()
    got = file_digest([a, b])
    assert got == hashlib.sha256(a.read_bytes() + b.read_bytes()).hexdigest()
    assert fresh() == n0 + 1
    assert file_digest([a, b]) == got and fresh() == n0 + 1  # in-process hit
    digest_cache.forget()
    assert file_digest([a, b]) == got and fresh() == n0 + 1  # the cache file's hit
    assert file_digest([b, a]) != got and fresh() == n0 + 2  # order is part of the key


def test_a_changed_file_is_hashed_again(tmp_path, fresh):
    a = _write(tmp_path / "a.bin", b"1" * 100)
    first = file_digest([a])
    n = fresh()
    _write(a, b"2" * 100)  # same size, rewritten in place
    os.utime(a, ns=(10**18, 10**18 + 1))  # a different mtime whatever the clock's tick
    assert file_digest([a]) == hashlib.sha256(b"2" * 100).hexdigest() != first
    assert fresh() == n + 1
    b = _write(tmp_path / "b.bin", b"3" * 100)
    st = os.stat(a)
    os.replace(b, a)  # another file (another inode) at the same path
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))  # even with the old mtime
    assert file_digest([a]) == hashlib.sha256(b"3" * 100).hexdigest()
    assert fresh() == n + 2


def test_the_key_names_path_size_mtime_and_inode(tmp_path):
    a = _write(tmp_path / "a.bin", b"abc")
    st = os.stat(a)
    ((path, size, mtime, inode),) = digest_cache.digest_key([a])
    assert (path, size, mtime, inode) == (str(a.resolve()), 3, st.st_mtime_ns, st.st_ino)


def test_a_corrupt_or_unwritable_cache_file_is_ignored(tmp_path, fresh, monkeypatch):
    a = _write(tmp_path / "a.bin", b"q" * 64)
    folder = digest_cache.cache_dir()
    folder.mkdir(parents=True)
    (folder / digest_cache.CACHE_FILE).write_text("{not json")
    n = fresh()
    assert file_digest([a]) == hashlib.sha256(b"q" * 64).hexdigest()
    assert fresh() == n + 1
    assert len(json.loads((folder / digest_cache.CACHE_FILE).read_text())) == 1  # rewritten
    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    monkeypatch.setenv("NTSCALE_CACHE_DIR", str(blocked))  # mkdir fails: no error
    digest_cache.forget()
    assert file_digest([a]) == hashlib.sha256(b"q" * 64).hexdigest()


def test_the_cache_file_keeps_the_newest_entries(tmp_path, fresh, monkeypatch):
    monkeypatch.setattr(digest_cache, "MAX_ENTRIES", 3)
    files = [_write(tmp_path / f"{i}.bin", bytes([i]) * 10) for i in range(5)]
    for f in files:
        file_digest([f])
    kept = json.loads((digest_cache.cache_dir() / digest_cache.CACHE_FILE).read_text())
    assert [json.loads(k)[0][0] for k in kept] == [str(f.resolve()) for f in files[2:]]


def test_remembered_digest_is_reused_for_the_same_files_only(tmp_path, fresh):
    a = _write(tmp_path / "a.bin", b"w" * 10)
    key = digest_cache.digest_key([a])
    digest_cache.remember(key, "from-the-driver")
    n = fresh()
    assert file_digest([a]) == "from-the-driver" and fresh() == n
    os.utime(a, ns=(1, 2))  # not the driver's file any more
    assert file_digest([a]) == hashlib.sha256(b"w" * 10).hexdigest() and fresh() == n + 1


def test_cache_dir_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("NTSCALE_CACHE_DIR", str(tmp_path / "x"))
    assert digest_cache.cache_dir() == tmp_path / "x"
    monkeypatch.delenv("NTSCALE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert digest_cache.cache_dir() == tmp_path / "xdg" / "ntscale"

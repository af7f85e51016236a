"""Checkpoint digests computed once: cached by file identity, in the process and on disk.

A 2.5B float32 checkpoint is ~10 GB; sha256 at 160-345 MB/s is 30-60 s per read. A run
needs the digest when it is planned (`describe`) and when each worker loads the model, and
a dry run needs it again. The digest of a list of files is cached under its *key*: for each
file, (resolved path, size, mtime_ns, inode). A file rewritten in place changes its mtime
(and usually its size); a file replaced changes its inode: either misses the cache.

Two levels: a dict in this process, and a small JSON file in the user cache folder
(``$NTSCALE_CACHE_DIR``, else ``$XDG_CACHE_HOME/ntscale``, else ``~/.cache/ntscale``) so a
dry run, or the next command, does not hash again. The file is advisory: unreadable,
corrupt or unwritable, it is ignored and the digest computed. A driver passes its
(key, digest) to the workers (`remember`), so a worker that sees the same file reuses it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Sequence
from pathlib import Path

from ntscale.usercache import cache_dir

log = logging.getLogger(__name__)

FileKey = tuple[str, int, int, int]
"""(resolved path, size in bytes, mtime_ns, inode) of one file."""
DigestKey = tuple[FileKey, ...]

CACHE_FILE = "checkpoint_digests.json"
MAX_ENTRIES = 64  # the oldest entries of the on-disk cache are dropped past this

_MEMORY: dict[DigestKey, str] = {}
_LOCK = threading.Lock()
hash_count = 0
"""Times this process hashed parameter files (for tests and logs: a cache miss each)."""


def digest_key(paths: Sequence[Path]) -> DigestKey:
    """The identity of a list of files: (path, size, mtime_ns, inode) each, in order."""
    out = []
    for path in paths:
        st = os.stat(path)
        out.append((str(Path(path).resolve()), st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def _encode(key: DigestKey) -> str:
    return json.dumps([list(k) for k in key])


def _read_file_cache() -> dict[str, str]:
    path = cache_dir() / CACHE_FILE
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)}


def _write_file_cache(key: DigestKey, digest: str) -> None:
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        data = _read_file_cache()
        data.pop(_encode(key), None)
        data[_encode(key)] = digest  # newest last
        kept = dict(list(data.items())[-MAX_ENTRIES:])
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".digests-")
        with os.fdopen(fd, "w") as f:
            json.dump(kept, f)
        os.replace(tmp, folder / CACHE_FILE)  # atomic: concurrent writers never tear it
    except OSError as e:
        log.debug("checkpoint digest cache %s not written: %s", folder, e)


def _sha256(paths: Sequence[Path]) -> str:
    global hash_count
    h = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 22), b""):
                h.update(block)
    with _LOCK:
        hash_count += 1
    return h.hexdigest()


def remember(key: DigestKey, digest: str) -> None:
    """Record a digest computed elsewhere (the driver's) for files with this key."""
    with _LOCK:
        _MEMORY[tuple(tuple(k) for k in key)] = digest  # type: ignore[misc]


def cached_file_digest(paths: Sequence[Path]) -> tuple[str, DigestKey]:
    """sha256 of the files' bytes (concatenated in order) and their key, hashing only when
    neither this process nor the on-disk cache has the digest of files with that key."""
    key = digest_key(paths)
    with _LOCK:
        hit = _MEMORY.get(key)
    if hit is not None:
        return hit, key
    hit = _read_file_cache().get(_encode(key))
    if hit is None:
        log.info("hashing checkpoint %s", ", ".join(str(p) for p in paths))
        hit = _sha256(paths)
        _write_file_cache(key, hit)
    with _LOCK:
        _MEMORY[key] = hit
    return hit, key


def forget() -> None:
    """Empty this process's cache (the on-disk one stays): tests, or a long-lived process."""
    with _LOCK:
        _MEMORY.clear()


__all__ = ["cache_dir", "cached_file_digest", "digest_key", "forget", "remember"]

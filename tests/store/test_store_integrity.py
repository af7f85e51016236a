"""Damage `verify` must survive: a garbled completion mark, a flipped byte in a string
chunk (memory stays bounded), and chunks swapped between units (checksums included)."""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from store_workers import (
    ATTRS,
    CONTIGS,
    FINGERPRINT,
    LAYOUT,
    write_variant_units,
    write_window_units,
)

import ntscale.store as st
from ntscale.store.checksum import unit_keys

MEMORY_LIMIT = 2 << 30  # address space of the verifying process: 2 GiB


@pytest.fixture
def full(tmp_path: Path) -> Path:
    url = tmp_path / "v.zarr"
    writer = st.create_or_open(
        str(url), LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS
    )
    write_window_units(writer, list(range(LAYOUT.n_window_units)))
    write_variant_units(writer, list(range(LAYOUT.n_variant_units)))
    st.finalize(str(url))
    return url


@pytest.mark.parametrize("mark", ["window_units", "window_checksums"])
def test_a_truncated_completion_mark_is_a_damaged_unit_that_repair_redoes(
    full: Path, mark: str
) -> None:
    chunk = full / "completion" / mark / "c" / "3"
    with open(chunk, "r+b") as f:  # truncate -s 3: the 1- or 8-byte chunk becomes 3 bytes
        f.truncate(3)
    report = st.verify(str(full))
    assert report["ok"] is False
    [damaged] = report["windows"]["damaged"]
    assert damaged["unit"] == 3 and damaged["rows"] == [15, 20]
    assert damaged["reason"].startswith(f"damaged completion mark (completion/{mark} chunk 3")
    if mark == "window_units":  # resume: a damaged done mark counts as not done
        assert st.open_writer(str(full)).done_units().tolist() == [True] * 3 + [False, True]
    assert st.verify(str(full), repair=True)["repaired"] == 1
    writer = st.open_writer(str(full))
    assert writer.done_units().tolist() == [True] * 3 + [False, True]
    write_window_units(writer, [3])  # the resume redoes it
    assert st.verify(str(full))["ok"] is True


def _flip(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    for i in (offset, offset + 1):  # two bytes flipped
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def _verify_limited(url: Path) -> tuple[subprocess.CompletedProcess, float, int]:
    """`ntscale verify --json` under an address-space limit; (result, seconds, peak KiB)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))

    # The child reports its own peak: VmHWM of its address space. Not ru_maxrss, of this
    # process's children or the child's own: Linux carries the parent's peak across fork
    # and exec, so a grown test process (4.5 GB in the full suite) would be measured.
    code = (
        "import atexit, sys\n"
        "def peak():\n"
        "    lines = open('/proc/self/status').read().splitlines()\n"
        "    kib = [line.split()[1] for line in lines if line.startswith('VmHWM:')]\n"
        "    sys.stderr.write(f'\\nPEAK_KIB {kib[0]}\\n')\n"
        "atexit.register(peak)\n"
        "from ntscale.cli.main import main\n"
        "sys.argv = ['ntscale', 'verify', sys.argv[1], '--json']\n"
        "main()\n"
    )
    t0 = time.monotonic()
    proc = subprocess.run(
        [sys.executable, "-c", code, str(url)],
        capture_output=True, text=True, timeout=300, preexec_fn=limit,
    )  # fmt: skip
    seconds = time.monotonic() - t0
    lines = proc.stderr.splitlines()
    peaks = [int(line.split()[1]) for line in lines if line.startswith("PEAK_KIB")]
    assert len(peaks) == 1, proc.stderr
    return proc, seconds, peaks[0]


def _flip_item_count(path: Path) -> None:
    """Two bytes of a vlen-utf8 chunk's item count flipped inside a valid zstd frame: the
    decoder, trusting the count, would allocate billions of items."""
    import numcodecs

    zstd = numcodecs.Zstd(level=0)
    data = bytearray(zstd.decode(path.read_bytes()))
    data[2] ^= 0xFF
    data[3] ^= 0x7F
    path.write_bytes(zstd.encode(bytes(data)))


@pytest.mark.slow
@pytest.mark.parametrize("where", ["count", 0, 9])
def test_a_flipped_string_chunk_is_found_in_bounded_memory_and_time(
    full: Path, where: str | int
) -> None:
    chunk = full / "status" / "c" / "2"
    if where == "count":
        _flip_item_count(chunk)
    else:
        _flip(chunk, min(int(where), chunk.stat().st_size - 2))
    proc, seconds, peak_kib = _verify_limited(full)
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    assert [d["unit"] for d in report["windows"]["damaged"]] == [2]
    assert "MemoryError" not in proc.stdout + proc.stderr
    assert seconds < 60 and peak_kib < MEMORY_LIMIT // 1024


def _swap(a: Path, b: Path) -> None:
    tmp = a.with_name(a.name + ".swap")
    a.rename(tmp)
    b.rename(a)
    tmp.rename(b)


@pytest.mark.parametrize(("part", "u", "v"), [("windows", 1, 2), ("variants", 0, 1)])
def test_swapping_every_chunk_of_two_units_checksums_included_is_found(
    full: Path, part: str, u: int, v: int
) -> None:
    import zarr

    group = zarr.open_group(str(full), mode="r")
    for a, b in zip(unit_keys(group, LAYOUT, part, u), unit_keys(group, LAYOUT, part, v),
                    strict=True):  # fmt: skip
        _swap(full / a, full / b)
    prefix = "window" if part == "windows" else "variant"
    for mark in ("units", "checksums"):
        _swap(full / "completion" / f"{prefix}_{mark}" / "c" / str(u),
              full / "completion" / f"{prefix}_{mark}" / "c" / str(v))  # fmt: skip
    report = st.verify(str(full))
    assert sorted(d["unit"] for d in report[part]["damaged"]) == [u, v]
    assert report["ok"] is False


def test_the_same_unit_written_twice_has_the_same_checksum(tmp_path: Path) -> None:
    """Object digests need the same bytes for the same unit: a redone unit must match."""
    one, two = tmp_path / "one.zarr", tmp_path / "two.zarr"
    for url in (one, two):
        writer = st.create_or_open(
            str(url), LAYOUT, fingerprint=FINGERPRINT, attrs=ATTRS, contigs=CONTIGS
        )
        write_window_units(writer, [0, 4])
        st.finalize(str(url))
    sums = [st.open_writer(str(u)).checksums() for u in (one, two)]
    np.testing.assert_array_equal(sums[0], sums[1])
    shutil.rmtree(two)
    assert st.verify(str(one))["windows"]["damaged"] == []

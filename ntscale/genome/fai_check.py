"""Does a .fai still describe its FASTA? Checks the bytes at the offsets it records.

A .fai left over from an earlier version of a FASTA (contigs reordered, one edited) makes
htslib return the wrong contig's sequence without any error. For every contig the bytes
between the end of the previous contig (computed from the .fai's length, line bases and
line width) and the contig's recorded sequence offset must be exactly its header line,
`>NAME[ description]`. That single read checks the name at the offset, the previous
contig's length and the line layout, and finds the records htslib skipped as duplicates.
BGZF files are read block by block through their .gzi index (no full decompression).
"""

from __future__ import annotations

import bisect
import os
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path

from ntscale.errors import InputError

# Contigs checked in one FASTA (evenly spaced, first and last included): a genome with
# 100,000 scaffolds is checked in a second, not a minute.
MAX_CHECKED = 5000
_MAX_HEADER = 1 << 16


@dataclass(frozen=True, slots=True)
class FaiEntry:
    """One .fai line: where a contig's sequence starts and how its lines are laid out."""

    name: str
    length: int
    offset: int
    line_bases: int
    line_width: int

    def last_base_span(self) -> tuple[int, int]:
        """Byte range of the contig's last base."""
        full, rest = divmod(self.length - 1, self.line_bases)
        pos = self.offset + full * self.line_width + rest
        return pos, pos + 1

    def end_offset(self) -> int:
        """Byte just past the contig's sequence (and its last newline)."""
        full, rest = divmod(self.length, self.line_bases)
        end = self.offset + full * self.line_width
        return end + rest + (self.line_width - self.line_bases) if rest else end


def read_fai_entries(fai: Path) -> list[FaiEntry]:
    """Every line of a .fai (5 columns) as FaiEntry; InputError naming the bad line."""
    out = []
    with open(fai) as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            f = line.rstrip("\r\n").split("\t")
            try:
                out.append(FaiEntry(f[0], int(f[1]), int(f[2]), int(f[3]), int(f[4])))
            except (IndexError, ValueError) as e:
                raise InputError(
                    "malformed .fai line (expected NAME, LENGTH, OFFSET, LINEBASES, LINEWIDTH); "
                    "delete the .fai and let ntscale rebuild it",
                    path=fai,
                    record=f"line {lineno}",
                ) from e
            if out[-1].line_bases <= 0 or out[-1].line_width < out[-1].line_bases:
                raise InputError(
                    "malformed .fai line (line width below line bases); delete the .fai",
                    path=fai,
                    record=f"line {lineno}",
                )
    return out


class _Reader:
    """Reads uncompressed byte ranges of a plain or BGZF file (BGZF through its .gzi)."""

    def __init__(self, path: Path, gzi: Path | None) -> None:
        self._fh = open(path, "rb")  # noqa: SIM115 (closed by close())
        self._blocks: list[tuple[int, int]] | None = None  # (uncompressed, compressed) starts
        self._cache: dict[int, bytes] = {}
        if gzi is not None:
            data = gzi.read_bytes()
            (n,) = struct.unpack_from("<Q", data, 0)
            pairs = struct.unpack_from(f"<{2 * n}Q", data, 8)
            self._blocks = [(0, 0)] + [(pairs[2 * i + 1], pairs[2 * i]) for i in range(n)]

    def close(self) -> None:
        self._fh.close()

    def read(self, start: int, end: int) -> bytes:
        if self._blocks is None:
            self._fh.seek(start)
            return self._fh.read(end - start)
        out = bytearray()
        i = bisect.bisect_right(self._blocks, (start, float("inf"))) - 1
        pos = self._blocks[i][0]
        while pos < end and i < len(self._blocks):
            block = self._block(i)
            if not block:
                break
            out += block[max(0, start - pos) : end - pos]
            pos += len(block)
            i += 1
        return bytes(out)

    def _block(self, i: int) -> bytes:
        if i not in self._cache:
            self._fh.seek(self._blocks[i][1])
            raw = self._fh.read(1 << 17)
            self._cache[i] = zlib.decompressobj(31).decompress(raw) if raw else b""
        return self._cache[i]


def check_fai(fasta: Path, fai: Path, gzi: Path | None) -> list[FaiEntry]:
    """Verify that `fai` describes `fasta`; return its entries.

    Raises:
        InputError: a contig's header is not where the .fai says (stale .fai: names the
            contig, the .fai line and what is there instead), or the FASTA holds two
            records with one name (names both).
    """
    entries = read_fai_entries(fai)
    stale = os.stat(fai).st_mtime < os.stat(fasta).st_mtime
    fix = f"delete {fai}{' and ' + str(gzi) if gzi else ''} and run again (ntscale rebuilds it)"
    if stale:
        fix = f"the .fai is older than the FASTA; {fix}"
    n = len(entries)
    step = (n - 1) / (MAX_CHECKED - 1) if n > MAX_CHECKED else 1
    idx = sorted({round(k * step) for k in range(min(n, MAX_CHECKED))})
    names = {e.name: i for i, e in enumerate(entries)}
    reader = _Reader(fasta, gzi)
    try:
        for i in idx:
            e = entries[i]
            begin = entries[i - 1].end_offset() if i > 0 else 0
            if not 0 <= begin < e.offset or e.offset - begin > _MAX_HEADER:
                head = reader.read(max(0, begin), max(0, begin) + 256)
                _refuse(fasta, fai, i, entries, begin=begin, head=head, names=names, fix=fix)
            head = reader.read(begin, e.offset)
            if not _is_header(head.lstrip(b"\r\n"), e.name):
                _refuse(fasta, fai, i, entries, begin=begin, head=head, names=names, fix=fix)
        last = entries[-1] if entries else None
        if last is not None and last.length > 0 and not reader.read(*last.last_base_span()):
            raise InputError(
                f"the FASTA ends before the last base of contig {last.name!r} "
                f"({last.length:,} bp in the .fai): it is truncated (an interrupted copy or "
                "download?); fetch it again",
                path=fasta,
                record=f".fai line {n}",
            )
        tail = reader.read(last.end_offset(), last.end_offset() + 256) if last else b""
        if tail.strip():
            if tail.lstrip().startswith(b">"):  # a record htslib skipped: a repeated name?
                _refuse(
                    fasta, fai, n, entries, begin=last.end_offset(), head=tail, names=names, fix=fix
                )
            raise InputError(
                f"the FASTA has more data after the last indexed contig {last.name!r} "
                f"({last.length:,} bp in the .fai); {fix}",
                path=fasta,
                record=f".fai line {n}",
            )
    finally:
        reader.close()
    return entries


def _is_header(text: bytes, name: str) -> bool:
    if not text.startswith(b">") or not text.endswith(b"\n") or text.count(b"\n") != 1:
        return False
    first = text[1:].rstrip(b"\r\n").split(None, 1)
    return bool(first) and first[0].decode("utf-8", "replace") == name


def _refuse(
    fasta: Path,
    fai: Path,
    i: int,
    entries: list[FaiEntry],
    *,
    begin: int,
    head: bytes,
    names: dict[str, int],
    fix: str,
) -> None:
    """Raise the InputError for a contig whose header is not where the .fai says.

    `i == len(entries)` stands for the data after the last indexed contig.
    """
    prev = entries[i - 1].name if i > 0 else None
    line = head.lstrip(b"\r\n").split(b"\n", 1)[0]
    found = line[1:].split(None, 1)[0].decode("utf-8", "replace") if line.startswith(b">") else ""
    expected = entries[i].name if i < len(entries) else None
    if found and found != expected and found in names and names[found] < i:
        after = f" after contig {prev!r}" if prev else ""
        raise InputError(
            f"duplicate contig name {found!r}: a second record >{found} follows the first "
            f"(.fai line {names[found] + 1}){after}; htslib keeps only the first and would "
            "drop the second silently; rename or remove one of them",
            path=fasta,
            record=f">{found} (2nd record, byte {begin:,})",
        )
    what = (
        f"header {line[:80].decode('utf-8', 'replace')!r}"
        if line
        else "no data (the file is truncated?)"
        if not head
        else "no header"
    )
    if i == len(entries):
        raise InputError(
            f"the FASTA has a record after the last indexed contig {prev!r} ({what}); {fix}",
            path=fai,
            record=f"byte {begin:,}",
        )
    e = entries[i]
    raise InputError(
        f"the .fai does not match the FASTA: contig {e.name!r} (.fai line {i + 1}) should "
        f"start after its header line, but the file has {what} there; {fix}",
        path=fai,
        record=f"{e.name} at byte {e.offset:,}",
    )

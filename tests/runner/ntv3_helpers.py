"""Inputs of the NTv3 job tests: the tiny post-trained fixture, the bundled chr20 FASTA and
a VCF of SNVs and indels read from it (so every REF matches)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
POST = ROOT / "tests" / "data" / "ntv3_reference" / "post"
FASTA = ROOT / "examples" / "data" / "chr20_2mb.fa.gz"


def chr20_vcf(tmp_path: Path, *, n: int = 12, indel_every: int = 4) -> Path:
    """`n` rows from 20:1,000,001 on, 25 bp apart: SNVs, every `indel_every`-th a 2-base
    deletion (REF = 3 bases from the FASTA, ALT = its first base)."""
    from ntscale.genome import FastaSource

    seq = FastaSource(str(FASTA)).fetch("20", 1_000_000, 1_000_000 + 25 * n + 10).upper()
    alt = {"A": "C", "C": "G", "G": "T", "T": "A"}
    lines = ["##fileformat=VCFv4.2", "##contig=<ID=20,length=2000000>",
             "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO"]  # fmt: skip
    for k in range(n):
        off = 3 + 25 * k
        ref = seq[off : off + 3] if k % indel_every == 0 else seq[off]
        allele = ref[0] if k % indel_every == 0 else alt[ref]
        lines.append(f"20\t{1_000_001 + off}\tv{k}\t{ref}\t{allele}\t.\tPASS\t.")
    path = tmp_path / "v.vcf"
    path.write_text("\n".join(lines) + "\n")
    return path


def units_done(store: Path, part: str) -> int:
    """Units marked done in a store (0 while it is not created yet)."""
    import numpy as np

    from ntscale.store import open_writer

    try:
        return int(np.asarray(open_writer(str(store)).done_units(part)).sum())
    except Exception:  # noqa: BLE001 -- metadata still being created
        return 0


def kill_resume_compare(cmd: Callable[[Path], list[str]], tmp_path: Path, *, part: str,
                        total: int) -> None:  # fmt: skip
    """Run `cmd(store)` with a delay per unit, kill its process group once a unit is done,
    rerun it to the end, and assert the store's bytes equal an uninterrupted run's."""
    import os
    import signal
    import subprocess
    import time

    from storecmp import assert_same_bytes

    out = tmp_path / "killed.zarr"
    env = dict(os.environ, NTSCALE_FAULT_UNIT_DELAY="0.5")
    proc = subprocess.Popen(cmd(out), env=env, start_new_session=True)
    deadline = time.monotonic() + 120
    while units_done(out, part) < 1 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.1)
    assert proc.poll() is None, "the run finished before it could be interrupted"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert 1 <= units_done(out, part) < total
    r = subprocess.run(cmd(out), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert units_done(out, part) == total
    ref = tmp_path / "ref.zarr"
    r = subprocess.run(cmd(ref), capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert_same_bytes(ref, out)

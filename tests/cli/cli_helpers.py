"""Helpers of the command-line tests: the bundled inputs, and the CLI run in this process.

The CLI runs in-process through `ntscale.cli.main.main` (the console script's entry point,
error handling and exit codes included), which is much faster than a subprocess per test.
"""

from __future__ import annotations

import contextlib
import io
import sys
from dataclasses import dataclass
from pathlib import Path

from ntscale.cli.main import main

REPO = Path(__file__).resolve().parents[2]
FASTA = REPO / "examples" / "data" / "chr20_2mb.fa.gz"
TINY_MODEL = REPO / "examples" / "checkpoints" / "nt-v2-tiny"

# 2,400 bp of plain sequence (no N) on the bundled chr20 slice: 4 windows of 600 bp.
REGION = ("20", 1_000_000, 1_002_400)
# Hand-made variants at the region's start. The reference there reads TGGGAGAGAACTGGAACAAGAACC
# (0-based 1,000,000-1,000,024): s1 and s2 (two ALTs) are SNVs matching the reference, d1 a
# 5 bp deletion, m1 an SNV whose REF (A) is not the reference base (G).
VCF_TEXT = """\
##fileformat=VCFv4.2
##contig=<ID=20,length=2000000>
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO
20\t1000001\ts1\tT\tC\t.\tPASS\t.
20\t1000003\ts2\tG\tA,T\t.\tPASS\t.
20\t1000008\td1\tGAACTG\tG\t.\tPASS\t.
20\t1000020\tm1\tA\tG\t.\tPASS\t.
"""
N_ALTS = 5  # one row per ALT allele


@dataclass(frozen=True)
class CliResult:
    """What one `ntscale ...` call left: its exit code, stdout and stderr."""

    code: int
    out: str
    err: str

    def error_line(self) -> str:
        """The single `error: ...` line of stderr (asserting it is one line, no traceback)."""
        lines = [x for x in self.err.splitlines() if x.startswith("error: ")]
        assert len(lines) == 1 and "Traceback" not in self.err, self.err
        return lines[0]


def invoke(*args: str | Path) -> CliResult:
    """Run `ntscale ARGS` in this process, as the console script does; capture its output."""
    argv = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    saved = sys.argv
    # sys.argv as the console script sees it: a store records the command line that made it
    sys.argv = ["ntscale", *argv]
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            main()
        code = 0
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    finally:
        sys.argv = saved
    return CliResult(code, out.getvalue(), err.getvalue())


def embed_args(out: Path, bed: Path, *extra: str) -> list[str]:
    """`ntscale embed` of REGION: 4 windows of 600 bp in units of 2, layers 1 and 2."""
    return [
        "embed", "--fasta", str(FASTA), "--model", str(TINY_MODEL), "--out", str(out),
        "--regions", str(bed), "--window", "600", "--unit-windows", "2", "--layers", "1,2",
        "--batch-size", "2", "--dtype", "fp32", "--no-progress", *extra,
    ]  # fmt: skip


def score_args(out: Path, vcf: Path, *extra: str | Path) -> list[str]:
    """`ntscale score` of VCF_TEXT: llr and l2 at layer 2, 600 bp windows centred on each."""
    return [
        "score", "--fasta", str(FASTA), "--vcf", str(vcf), "--model", str(TINY_MODEL),
        "--out", str(out), "--scores", "llr,l2", "--layers", "2", "--window", "600",
        "--batch-size", "4", "--dtype", "fp32", "--no-progress", *map(str, extra),
    ]  # fmt: skip

"""cyvcf2 against pysam on the VCF work ntscale does: which reader each path needs.

ntscale reads VCFs in two ways (docs/dependencies.md):

- genotypes for haplotypes (`genome/vcf.py` `VariantReader.query`, `genome/hap_budget.py`
  `insertion_sites`): per region, every record with the chosen samples' GT decoded into an
  [S, 3] (allele 0, allele 1, phased) array; cyvcf2 today.
- sites for scoring (`genome/variant_table.py`, `genome/variant_stream.py`): contig, start,
  REF, ALT and ID of every record, samples ignored; pysam today (`drop_samples=True`).

Each case below does the same work with both readers on the same file and checks that both
give the same result before timing it. Cases:

1. genotypes, all samples, whole file (default: the 300-sample 1000 Genomes slice in
   tests/data/dedup; `--vcf` the full 300-sample chr20 file, 1 Mbp, 24,990 records);
2. genotypes, region queries of 12,282 bp over the file's span (what `VariantReader.query`
   does once per reference window), all samples and a 4-sample subset;
3. sites only, whole file (what `read_variant_table` and `scan_variant_units` do); pysam
   drops the samples, cyvcf2 cannot (it parses all of them, or a one-sample subset);
4. sites of a VCF whose genotype column htslib cannot parse (scoring ignores samples):
   which reader reads them at all.

    .venv/bin/python benchmarks/bench_vcf_readers.py [--vcf PATH] [--repeat 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import cyvcf2
import numpy as np
import pysam

REPO = Path(__file__).resolve().parents[1]
VCF = REPO / "tests" / "data" / "dedup" / "chr20_300.vcf.gz"  # 300 samples, 194 records
# htslib's own test file: GT values ("2,4") htslib cannot parse, in 3 of 4 records
BAD_GT = REPO / "tests" / "data" / "htslib_bad_vcf" / "noroundtrip-out.vcf"
WINDOW_BP = 12_282


def cy_genotypes(path: Path, regions: Sequence[str], samples: list[str] | None) -> np.ndarray:
    """[R, S, 3] int16 (allele 0, allele 1, phased) with cyvcf2, as VariantReader reads it."""
    vcf = cyvcf2.VCF(str(path), samples=samples, lazy=True, gts012=False)
    out = [rec.genotype.array() for region in regions for rec in vcf(region)]
    vcf.close()
    return np.stack(out).astype(np.int16)


def ps_genotypes(path: Path, regions: Sequence[str], samples: list[str] | None) -> np.ndarray:
    """The same [R, S, 3] array with pysam (per-sample GT tuples and phase flags)."""
    vf = pysam.VariantFile(str(path))
    if samples is not None:
        vf.subset_samples(samples)
    out = []
    for region in regions:
        for rec in vf.fetch(region=region):
            rows = []
            for call in rec.samples.values():
                a, b = call["GT"]
                rows.append((-1 if a is None else a, -1 if b is None else b, int(call.phased)))
            out.append(rows)
    vf.close()
    return np.array(out, dtype=np.int16)


def cy_sites(path: Path, samples: list[str] | None = None) -> list[tuple]:
    """(contig, start, REF, ALTs, ID) of every record with cyvcf2 (GT never asked for).

    cyvcf2 has no drop-samples mode: htslib still parses each record's sample columns, or
    those of `samples` when a subset is given.
    """
    vcf = cyvcf2.VCF(str(path), samples=samples, lazy=True)
    out = [(r.CHROM, r.start, r.REF, tuple(r.ALT), r.ID) for r in vcf]
    vcf.close()
    return out


def ps_sites(path: Path, samples: list[str] | None = None) -> list[tuple]:
    """The same tuples with pysam, samples dropped (as variant_table.open_vcf opens it)."""
    with pysam.VariantFile(str(path), drop_samples=True) as vf:
        return [(r.contig, r.start, r.ref, tuple(r.alts or ()), r.id) for r in vf]


def sites_despite_bad_genotypes(path: Path) -> dict[str, str]:
    """Whether each reader gets the sites of a VCF with unparseable GT values."""
    out = {}
    for name, read in (("cyvcf2", cy_sites), ("cyvcf2, 1 sample", None), ("pysam", ps_sites)):
        try:
            if read is None:
                rows = cy_sites(path, list(cyvcf2.VCF(str(path)).samples[:1]))
            else:
                rows = read(path)
            out[name] = f"{len(rows)} records"
        except Exception as e:  # noqa: BLE001 - cyvcf2 raises bare Exception
            out[name] = f"fails: {str(e).splitlines()[0][:70]}"
    return out


def best_median(fn: Callable[[], object], repeat: int) -> tuple[float, float, object]:
    times, result = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
    return min(times), statistics.median(times), result


def windows(path: Path) -> list[str]:
    """12,282 bp region strings tiling the records' span on the file's first contig."""
    with pysam.VariantFile(str(path), drop_samples=True) as vf:
        recs = [(r.contig, r.start) for r in vf]
    contig = recs[0][0]
    starts = [s for c, s in recs if c == contig]
    lo, hi = min(starts), max(starts) + 1
    return [f"{contig}:{a + 1}-{min(a + WINDOW_BP, hi)}" for a in range(lo, hi, WINDOW_BP)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--vcf", type=Path, default=VCF)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    path: Path = args.vcf
    all_samples = list(cyvcf2.VCF(str(path)).samples)
    contig = cyvcf2.VCF(str(path)).seqnames[0]
    wins = windows(path)
    one = all_samples[:1]
    subset = all_samples[:: max(1, len(all_samples) // 4)][:4]
    print(f"{platform.processor() or platform.machine()}, python {platform.python_version()}, "
          f"cyvcf2 {cyvcf2.__version__}, pysam {pysam.__version__}")  # fmt: skip
    print(f"{path.name}: {len(all_samples)} samples, {len(wins)} windows of {WINDOW_BP} bp")
    cases = [
        ("genotypes, all samples, whole contig", cy_genotypes, ps_genotypes, ([contig], None)),
        ("genotypes, all samples, per window", cy_genotypes, ps_genotypes, (wins, None)),
        ("genotypes, 4 samples, per window", cy_genotypes, ps_genotypes, (wins, subset)),
        ("sites only, whole file (cyvcf2: all samples parsed)", cy_sites, ps_sites, ()),
        ("sites only, whole file (cyvcf2: 1-sample subset)", cy_sites, ps_sites, (one,)),
    ]
    print("| work | records | cyvcf2 s (best / median) | pysam s (best / median) | pysam/cyvcf2 |")
    print("|---|---|---|---|---|")
    for label, cy, ps, extra in cases:
        cb, cm, cres = best_median(lambda cy=cy, extra=extra: cy(path, *extra), args.repeat)
        pb, pm, pres = best_median(lambda ps=ps, extra=extra: ps(path, *extra), args.repeat)
        if isinstance(cres, np.ndarray):
            same = cres.shape == pres.shape and bool(np.array_equal(cres, pres))
        else:
            same = cres == pres
        if not same:
            raise SystemExit(f"{label}: the two readers disagree")
        n = len(cres)
        print(f"| {label} | {n:,} | {cb:.3f} / {cm:.3f} ({n / cb:,.0f}/s) | "
              f"{pb:.3f} / {pm:.3f} ({n / pb:,.0f}/s) | {pb / cb:.2f}x |")  # fmt: skip
    print(f"\nsites of {BAD_GT.name} (unparseable GT values):")
    for name, what in sites_despite_bad_genotypes(BAD_GT).items():
        print(f"- {name}: {what}")


if __name__ == "__main__":
    main()

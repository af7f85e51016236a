"""Simulate a human cohort with msprime and write it as phased VCF, BCF and VCF Zarr.

The cohort the issue asks for (issue 22): 3,202 diploid genomes (the size of the 1000
Genomes high-coverage set) under the three-population out-of-Africa model of Gutenkunst
et al. 2009 (PLoS Genet 5:e1000695, Table 1 / the `OutOfAfrica_3G09` model of stdpopsim),
mutation rate 1.29e-8 and recombination rate 1e-8 per bp per generation, on a stretch of a
real chromosome whose bases become the REF alleles.

How simulated sites become VCF records:
- The genome is discrete (msprime's default): simulated position p (0-based) is the real
  base `start + p` of the FASTA contig, so no two records share a position; several
  mutations at one position make one multi-allelic record (ALT=X,Y), as in real callsets.
- A site whose real base is not A/C/G/T (N, IUPAC) is dropped (counted in the summary).
- The site's ancestral state becomes the real base: the simulated nucleotides are rotated
  on A,C,G,T so that ancestral -> REF, which keeps every ALT != REF and distinct.
- ALT alleles no sample carries (a mutation reverted on every lineage) are dropped and the
  genotypes re-indexed; a site left with no ALT is dropped (counted).
- Samples are named SIM00001 ...; their populations are shuffled (seeded) so any prefix of
  the sample list is a mixed subset (`--samples 300` of a 3,202 cohort keeps the mix). The
  population of each sample is written to `<out>.samples.tsv`.

Outputs: `<out>.vcf.gz` (+ `.csi`), `<out>.bcf` (+ `.csi`), `<out>.vcz` (bio2zarr), a JSON
summary `<out>.json`. Usage:

    python scripts/simulate_cohort.py --fasta 20.fa.gz --contig 20 --start 60000 \\
        --length 5000000 --samples 3202 --seed 22 --out /tmp/cohort/sim
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

# Gutenkunst et al. 2009, best-fit parameters (generation time 25 years).
GENERATION_YEARS = 25.0
N_A, N_AF, N_B = 7_300, 12_300, 2_100
N_EU0, N_AS0 = 1_000, 510
R_EU, R_AS = 0.004, 0.0055  # growth per generation since the EU/AS split
T_AF = 220e3 / GENERATION_YEARS  # African expansion
T_B = 140e3 / GENERATION_YEARS  # out-of-Africa split
T_EU_AS = 21.2e3 / GENERATION_YEARS  # Europe / East Asia split
M_AF_B, M_AF_EU, M_AF_AS, M_EU_AS = 25e-5, 3e-5, 1.9e-5, 9.6e-5

# 1000 Genomes (3,202 samples) by super-population: AFR 893, EAS 585; EUR 633, SAS 601 and
# AMR 490 have no population of their own in the 3-population model and are drawn from CEU.
COHORT_SHARES = {"YRI": 893, "CEU": 633 + 601 + 490, "CHB": 585}
BASES = "ACGT"


@dataclass(frozen=True, kw_only=True)
class CohortSpec:
    """What to simulate (all of it goes to the JSON summary)."""

    fasta: str
    contig: str
    start: int  # 0-based first real base of the simulated stretch
    length: int  # bp
    samples: int  # diploid individuals
    mutation_rate: float
    recombination_rate: float
    seed: int


def ooa_demography():  # noqa: ANN201 - msprime.Demography
    """The Gutenkunst 2009 three-population out-of-Africa model as an msprime Demography."""
    import msprime

    n_eu = N_EU0 * math.exp(R_EU * T_EU_AS)  # present-day sizes after exponential growth
    n_as = N_AS0 * math.exp(R_AS * T_EU_AS)
    d = msprime.Demography()
    d.add_population(name="YRI", initial_size=N_AF)
    d.add_population(name="CEU", initial_size=n_eu, growth_rate=R_EU)
    d.add_population(name="CHB", initial_size=n_as, growth_rate=R_AS)
    d.add_population(name="OOA", initial_size=N_B)
    d.add_population(name="AMH", initial_size=N_AF)
    d.add_population(name="ANC", initial_size=N_A)
    d.set_symmetric_migration_rate(["YRI", "CEU"], M_AF_EU)
    d.set_symmetric_migration_rate(["YRI", "CHB"], M_AF_AS)
    d.set_symmetric_migration_rate(["CEU", "CHB"], M_EU_AS)
    d.add_population_split(time=T_EU_AS, derived=["CEU", "CHB"], ancestral="OOA")
    d.add_symmetric_migration_rate_change(time=T_EU_AS, populations=["YRI", "OOA"], rate=M_AF_B)
    d.add_population_split(time=T_B, derived=["YRI", "OOA"], ancestral="AMH")
    d.add_population_split(time=T_AF, derived=["AMH"], ancestral="ANC")
    return d


def population_sizes(n: int) -> dict[str, int]:
    """Split n samples over YRI/CEU/CHB in the 1000 Genomes proportions (largest remainder)."""
    total = sum(COHORT_SHARES.values())
    exact = {k: n * v / total for k, v in COHORT_SHARES.items()}
    out = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: exact[k] - out[k], reverse=True)[: n - sum(out.values())]:
        out[k] += 1
    return out


def simulate(spec: CohortSpec):  # noqa: ANN201 - tskit.TreeSequence
    """Ancestry and mutations (JC69 on a discrete genome) for the spec."""
    import msprime

    ts = msprime.sim_ancestry(
        samples={k: v for k, v in population_sizes(spec.samples).items() if v},
        demography=ooa_demography(),
        sequence_length=spec.length,
        recombination_rate=spec.recombination_rate,
        ploidy=2,
        random_seed=spec.seed,
    )
    return msprime.sim_mutations(ts, rate=spec.mutation_rate, random_seed=spec.seed + 1)


def rotate_alleles(alleles: tuple[str, ...], ref: str) -> list[str]:
    """Rotate simulated nucleotides on A,C,G,T so alleles[0] becomes `ref` (keeps them distinct)."""
    shift = BASES.index(ref) - BASES.index(alleles[0])
    return [BASES[(BASES.index(a) + shift) % 4] for a in alleles]


def _gt_line_bytes(g: np.ndarray) -> bytes:
    """Genotypes [S, 2] (allele indices < 10) as the '\\ta|b' sample columns of a VCF line."""
    cols = np.empty((g.shape[0], 4), dtype="S1")
    cols[:, 0] = b"\t"
    cols[:, 1] = (g[:, 0] + ord("0")).astype(np.uint8).view("S1")
    cols[:, 2] = b"|"
    cols[:, 3] = (g[:, 1] + ord("0")).astype(np.uint8).view("S1")
    return cols.tobytes()


def write_vcf(ts, spec: CohortSpec, path: Path, *, contig_length: int) -> dict[str, int]:  # noqa: ANN001
    """Write the phased VCF (BGZF) with REF from the real FASTA, index it (CSI); return counts."""
    import pysam

    fa = pysam.FastaFile(spec.fasta)
    seq = fa.fetch(spec.contig, spec.start, spec.start + spec.length).upper()
    fa.close()
    rng = np.random.default_rng(spec.seed + 2)
    n_ind = ts.num_individuals
    order = rng.permutation(n_ind)  # column j holds individual order[j]
    names = [f"SIM{j + 1:05d}" for j in range(n_ind)]
    pops = [ts.population(ts.individual(int(i)).population).metadata["name"] for i in order]
    path.with_name(path.name.replace(".vcf.gz", ".samples.tsv")).write_text(
        "sample\tpopulation\n" + "".join(f"{s}\t{p}\n" for s, p in zip(names, pops, strict=True))
    )
    node_cols = np.array([ts.individual(int(i)).nodes for i in order], np.int64)  # [S, 2]
    sample_pos = {int(n): k for k, n in enumerate(ts.samples())}
    hap_index = np.vectorize(sample_pos.__getitem__)(node_cols)  # [S, 2] column of genotypes
    counts = {"sites": 0, "records": 0, "multiallelic": 0, "not_acgt": 0, "no_alt": 0}
    header = (
        "##fileformat=VCFv4.2\n"
        f"##source=ntscale scripts/simulate_cohort.py (msprime OOA 3G09, seed {spec.seed})\n"
        f"##contig=<ID={spec.contig},length={contig_length}>\n"
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">\n'
        "#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + "\t".join(names) + "\n"
    )
    with pysam.BGZFile(str(path), "wb") as out:
        out.write(header.encode())
        for var in ts.variants():
            counts["sites"] += 1
            p = int(var.site.position)
            ref = seq[p]
            if ref not in BASES:
                counts["not_acgt"] += 1
                continue
            g = var.genotypes[hap_index]  # [S, 2] simulated allele indices
            present = np.bincount(g.ravel(), minlength=len(var.alleles))
            keep = [0] + [a for a in range(1, len(var.alleles)) if present[a]]
            if len(keep) == 1:
                counts["no_alt"] += 1
                continue
            remap = np.zeros(len(var.alleles), np.int64)
            remap[keep] = np.arange(len(keep))
            alleles = rotate_alleles(tuple(var.alleles[a] for a in keep), ref)
            counts["records"] += 1
            counts["multiallelic"] += len(keep) > 2
            line = (
                f"{spec.contig}\t{spec.start + p + 1}\t.\t{alleles[0]}\t{','.join(alleles[1:])}"
                "\t.\tPASS\t.\tGT"
            )
            out.write(line.encode() + _gt_line_bytes(remap[g]) + b"\n")
    pysam.tabix_index(str(path), preset="vcf", csi=True, force=True)
    return counts


def write_bcf(vcf: Path, bcf: Path) -> None:
    """Re-encode the VCF as an indexed BCF (pysam/htslib)."""
    import pysam

    with (
        pysam.VariantFile(str(vcf)) as src,
        pysam.VariantFile(str(bcf), "wb", header=src.header) as out,
    ):
        for rec in src:
            out.write(rec)
    pysam.tabix_index(str(bcf), preset="bcf", csi=True, force=True)


def write_vcz(vcf: Path, vcz: Path, *, workers: int, variants_chunk: int) -> None:
    """Convert the VCF to VCF Zarr with bio2zarr (`vcf2zarr convert`)."""
    import shutil

    import bio2zarr.vcf as b2z

    if vcz.exists():
        shutil.rmtree(vcz)
    b2z.convert([str(vcf)], str(vcz), worker_processes=workers, variants_chunk_size=variants_chunk)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fasta", required=True, help="FASTA whose bases become REF (faidx-able)")
    ap.add_argument("--contig", default="20")
    ap.add_argument(
        "--start",
        type=int,
        default=60_000,
        help="0-based first base (default: chr20's first non-N)",
    )
    ap.add_argument("--length", type=int, default=5_000_000, help="bp to simulate")
    ap.add_argument("--samples", type=int, default=3_202, help="diploid individuals")
    ap.add_argument("--mutation-rate", type=float, default=1.29e-8)
    ap.add_argument("--recombination-rate", type=float, default=1e-8)
    ap.add_argument("--seed", type=int, default=22)
    ap.add_argument("--out", required=True, help="output prefix: <out>.vcf.gz, .bcf, .vcz, .json")
    ap.add_argument("--formats", default="vcf,bcf,vcz", help="comma list of vcf, bcf, vcz")
    ap.add_argument("--vcz-variants-chunk", type=int, default=1_000)
    ap.add_argument(
        "--workers", type=int, default=0, help="bio2zarr worker processes (0: in-process)"
    )
    args = ap.parse_args(argv)
    import pysam

    fa = pysam.FastaFile(args.fasta)
    if args.contig not in fa.references:
        ap.error(f"contig {args.contig!r} not in {args.fasta} (has {', '.join(fa.references[:5])})")
    contig_length = fa.get_reference_length(args.contig)
    fa.close()
    if args.start < 0 or args.length < 1 or args.start + args.length > contig_length:
        ap.error(
            f"{args.contig}:{args.start}-{args.start + args.length} is outside the contig "
            f"({contig_length:,} bp in {args.fasta})"
        )
    formats = set(args.formats.split(","))
    if not formats <= {"vcf", "bcf", "vcz"}:
        ap.error(f"--formats: unknown {sorted(formats - {'vcf', 'bcf', 'vcz'})}")
    spec = CohortSpec(
        fasta=args.fasta,
        contig=args.contig,
        start=args.start,
        length=args.length,
        samples=args.samples,
        mutation_rate=args.mutation_rate,
        recombination_rate=args.recombination_rate,
        seed=args.seed,
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    seconds: dict[str, float] = {}
    t = time.perf_counter()
    ts = simulate(spec)
    seconds["simulate"] = time.perf_counter() - t
    vcf = out.with_name(out.name + ".vcf.gz")
    t = time.perf_counter()
    counts = write_vcf(ts, spec, vcf, contig_length=contig_length)
    seconds["vcf"] = time.perf_counter() - t
    if "bcf" in formats:
        t = time.perf_counter()
        write_bcf(vcf, out.with_name(out.name + ".bcf"))
        seconds["bcf"] = time.perf_counter() - t
    if "vcz" in formats:
        t = time.perf_counter()
        write_vcz(
            vcf,
            out.with_name(out.name + ".vcz"),
            workers=args.workers,
            variants_chunk=args.vcz_variants_chunk,
        )
        seconds["vcz"] = time.perf_counter() - t
    summary = {
        "spec": asdict(spec),
        "populations": population_sizes(spec.samples),
        "demography": "Gutenkunst et al. 2009 OOA (3 populations)",
        "trees": ts.num_trees,
        **counts,
        "seconds": {k: round(v, 2) for k, v in seconds.items()},
    }
    out.with_name(out.name + ".json").write_text(json.dumps(summary, indent=2) + "\n")
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())

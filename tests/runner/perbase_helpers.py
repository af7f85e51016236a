"""Shared helpers of the per-base tests: a tiny SegmentNT checkpoint, configs, the centre rule."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ntscale.config import PerBaseConfig, build_config
from ntscale.model import get_preset, init_model

CHR20 = (
    Path(__file__).resolve().parents[1] / "data" / "shared" / "data" / "human_chr20" / "20.fa.gz"
)


def tiny_segment_checkpoint(folder: Path, *, seed: int = 7) -> Path:
    """A 1-layer SegmentNT of the published layout (D 16, the 14 features), saved."""
    cfg = get_preset("segment_nt").replace(
        name="segtiny", num_layers=1, embed_dim=16, num_heads=2, key_size=8, ffn_dim=32
    )
    init_model(cfg, seed=seed).save(folder)
    return folder


def perbase_config(model: Path, out: Path, **overrides) -> PerBaseConfig:
    values = {
        "fasta": str(CHR20),
        "model": str(model),
        "out": str(out),
        "window_bp": 480,
        "unit_windows": 4,
        "batch_size": 4,
        "progress": False,
    }
    values.update(overrides)
    return build_config(PerBaseConfig, values, source="test")


def owning_window(starts: np.ndarray, ends: np.ndarray, pos: int) -> int:
    """Index of the window whose centre is nearest to `pos` among those holding it (ties:
    the left one): the stitching rule, written independently of the planner."""
    holds = np.flatnonzero((starts <= pos) & (pos < ends))
    centres = (starts[holds] + ends[holds]) / 2.0
    dist = np.abs(pos + 0.5 - centres)
    return int(holds[np.argmin(dist)])


def write_haplotype_vcf(folder: Path, start: int = 1_000_000) -> Path:
    """A phased 4-sample VCF on chr20 (REF read from the slice): SNVs, a 3 bp deletion, a
    5 bp insertion and a 2 bp deletion, with genotypes that several haplotypes share."""
    import pysam

    fa = pysam.FastaFile(str(CHR20))

    def ref(pos1: int, n: int = 1) -> str:
        return fa.fetch("20", pos1 - 1, pos1 - 1 + n).upper()

    def other(base: str) -> str:
        return "G" if base != "G" else "T"

    p = start
    records = [
        (p + 101, ref(p + 101), other(ref(p + 101)), ["0|1", "1|1", "0|0", "0|1"]),
        (p + 230, ref(p + 230), other(ref(p + 230)), ["0|0", "1|0", "0|0", "0|1"]),
        (p + 501, ref(p + 501, 4), ref(p + 501), ["1|0", "0|0", "0|1", "0|0"]),
        (p + 777, ref(p + 777), other(ref(p + 777)), ["1|1", "1|1", "1|1", "1|1"]),
        (p + 901, ref(p + 901), ref(p + 901) + "ACGTA", ["0|0", "1|0", "0|1", "1|0"]),
        (p + 1333, ref(p + 1333, 3), ref(p + 1333), ["0|1", "0|0", "0|0", "0|1"]),
    ]
    lines = [
        "##fileformat=VCFv4.2",
        "##contig=<ID=20,length=4020000>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "\t".join(
            ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"]
            + ["S1", "S2", "S3", "S4"]
        ),
    ]
    for pos, r, a, gts in records:
        lines.append("\t".join(["20", str(pos), ".", r, a, ".", "PASS", ".", "GT", *gts]))
    plain = folder / "haps.vcf"
    plain.write_text("\n".join(lines) + "\n")
    gz = folder / "haps.vcf.gz"
    pysam.tabix_compress(str(plain), str(gz), force=True)
    pysam.tabix_index(str(gz), preset="vcf", force=True)
    return gz


def haplotype_expectations(job, model, positions, haplotypes):  # noqa: ANN001, ANN201
    """Direct forwards: the value of each (reference position, haplotype) from the owning
    window's haplotype sequence, fitted to the model's lengths and read at the haplotype
    base mapped to that position (NaN where the haplotype does not carry it). Independent
    of the job's worker: every haplotype built alone, no grouping, no lifting helper."""
    from ntscale.genome import HaplotypePolicy, WindowSource

    plan, spec = job.plan, job.spec
    src = WindowSource(job.config.fasta, tokenizer="v2", max_tokens=2**62,
                       vcf_path=job.config.vcf, policy=HaplotypePolicy())  # fmt: skip
    out = {}
    for pos in positions:
        w = owning_window(plan.win_start, plan.win_end, int(pos))
        ws, we = int(plan.win_start[w]), int(plan.win_end[w])
        i = int(np.searchsorted(plan.start, pos, side="right")) - 1
        last = int(plan.end[i]) <= we  # the window reaches its interval's end
        for h in haplotypes:
            hap = src.fetch_window("20", ws, we, haplotype=h)
            seq, cmap = hap.sequence, hap.coord_map
            n = len(seq) // spec.multiple_bp * spec.multiple_bp
            cut = slice(len(seq) - n, None) if last else slice(0, n)
            seq, cmap = seq[cut], cmap[cut]
            hit = np.flatnonzero(cmap == pos)
            if not hit.size:
                out[pos, h] = np.full(len(spec.track_names), np.nan, np.float32)
                continue
            out[pos, h] = model.predict([seq.upper()])[0, int(hit[0])]
    return out


def window_sequence_sets(job, windows):  # noqa: ANN001, ANN201
    """Per window: (reference sequence, the set of distinct sequences: reference and every
    fitted haplotype), each haplotype built alone, no grouping (independent of the worker)."""
    from ntscale.genome import WindowSource

    plan, m = job.plan, job.spec.multiple_bp
    src = WindowSource(job.config.fasta, tokenizer="v2", max_tokens=2**62, vcf_path=job.config.vcf)
    out = []
    for w in windows:
        ws, we = int(plan.win_start[w]), int(plan.win_end[w])
        i = int(np.searchsorted(plan.start, ws, side="right")) - 1
        last = int(plan.end[i]) <= we
        ref = src.fetch_window("20", ws, we).sequence.upper()
        seqs = {ref}
        for h in range(len(src.haplotype_names)):
            s = src.fetch_window("20", ws, we, haplotype=h).sequence.upper()
            n = len(s) // m * m
            seqs.add(s[len(s) - n :] if last else s[:n])
        out.append((ref, seqs))
    return out


def distinct_window_sequences(job, windows) -> int:  # noqa: ANN001
    """Distinct sequences (reference and every fitted haplotype) summed over `windows`
    (the count a `--vcf` per-base run must forward)."""
    return sum(len(seqs) for _, seqs in window_sequence_sets(job, windows))


def stored_haplotype_rows(job) -> int:  # noqa: ANN001
    """Rows the store must hold on `hap_row`: per unit and window, the distinct
    non-reference sequences x the rows of the unit that window keeps."""
    plan, total = job.plan, 0
    for u in range(job.n_units()):
        a, b = job.unit_range(u)
        wins = plan.windows_for_rows(a, b)
        for w, (_, seqs) in zip(wins, window_sequence_sets(job, wins), strict=True):
            kept = min(int(plan.keep_hi[w]), b) - max(int(plan.keep_lo[w]), a)
            total += (len(seqs) - 1) * kept
    return total

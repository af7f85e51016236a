"""Inputs the GPU proof makes for itself: a genome with N runs, a phased cohort VCF, a
random-weight checkpoint of a published model's shape, and the checks' small maths.

Everything is generated from seeds, under a folder the caller owns (nothing is downloaded:
the device machine reaches nothing outside it).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# (offset, length) of the N runs of each generated contig, as fractions of its length:
# a telomere-like leading run, one in the middle (a centromere gap) and a few short ones.
N_RUNS = ((0.0, 0.004), (0.47, 0.02), (0.71, 0.0005), (0.9, 0.0001))


def write_genome(path: Path, total_bp: int, *, contigs: int = 3, seed: int = 7) -> list:
    """A FASTA of `contigs` random contigs (`total_bp` together) with real N runs, and its .fai.

    Returns:
        [(name, length)] of the contigs written.
    """
    import pysam

    rng = np.random.default_rng(seed)
    sizes = [total_bp // contigs] * contigs
    sizes[-1] += total_bp - sum(sizes)
    out = []
    with path.open("w") as fh:
        for i, n in enumerate(sizes):
            seq = np.frombuffer(b"ACGT", np.uint8)[rng.integers(0, 4, n)].copy()
            for start, length in N_RUNS:
                a = int(start * n)
                seq[a : a + max(1, int(length * n))] = ord("N")
            name = f"chr{i + 1}"
            fh.write(f">{name}\n")
            text = seq.tobytes().decode()
            fh.writelines(text[k : k + 60] + "\n" for k in range(0, n, 60))
            out.append((name, n))
    pysam.faidx(str(path))
    return out


def write_cohort(
    path: Path,
    fasta: Path,
    *,
    contig: str,
    start: int,
    end: int,
    samples: int,
    sites: int,
    seed: int = 11,
) -> Path:
    """A phased, bgzipped and indexed VCF of random SNVs and 1-3 bp deletions over
    `contig:start-end` (0-based), with a rare-variant-heavy allele frequency spectrum.

    Returns:
        The .vcf.gz path (with its .tbi beside it).
    """
    import pysam

    rng = np.random.default_rng(seed)
    ref = pysam.FastaFile(str(fasta))
    seq = ref.fetch(contig, start, end + 4).upper()
    positions = np.sort(rng.choice(np.arange(1, end - start), size=sites, replace=False))
    plain = path.with_suffix("")
    lines = [
        "##fileformat=VCFv4.2",
        f"##contig=<ID={contig},length={ref.get_reference_length(contig)}>",
        '##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">',
        "#"
        + "\t".join(["CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO", "FORMAT"])
        + "".join(f"\tS{i:04d}" for i in range(samples)),
    ]
    last_end = -1
    for k, off in enumerate(positions):
        base = seq[off]
        if base not in "ACGT" or off <= last_end:
            continue
        if rng.random() < 0.1:  # a deletion of 1-3 bp after the anchor base
            n = int(rng.integers(1, 4))
            ref_allele, alt = seq[off : off + n + 1], base
            if "N" in ref_allele:
                continue
        else:
            ref_allele, alt = base, "ACGT"[("ACGT".index(base) + int(rng.integers(1, 4))) % 4]
        last_end = off + len(ref_allele) - 1
        freq = min(0.5, rng.beta(0.3, 3.0))
        gts = rng.random((samples, 2)) < freq
        calls = "\t".join(f"{int(a)}|{int(b)}" for a, b in gts)
        lines.append(
            f"{contig}\t{start + off + 1}\tv{k}\t{ref_allele}\t{alt}\t.\tPASS\t.\tGT\t{calls}"
        )
    plain.write_text("\n".join(lines) + "\n")
    return Path(pysam.tabix_index(str(plain), preset="vcf", force=True))


def write_checkpoint(directory: Path, preset: str, *, tiny: bool, seed: int = 5) -> Path:
    """A random-weight checkpoint of a published model's shape (`tiny`: 2 layers, dim 64)."""
    from ntscale.model import init_official, save_checkpoint

    cfg = shape(preset, tiny=tiny)
    save_checkpoint(init_official(cfg, seed=seed), cfg, directory)
    return directory


def shape(preset: str, *, tiny: bool):
    """The preset's `NTConfig`, or with `tiny` the same family at 2 layers and width 64."""
    from ntscale.model import get_preset

    cfg = get_preset(preset)
    if tiny:
        cfg = cfg.replace(
            name=f"{preset}-tiny",
            num_layers=2,
            embed_dim=64,
            num_heads=4,
            key_size=16,
            ffn_dim=128,
        )
    return cfg


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cosine similarity of matching rows (last axis)."""
    num = (a * b).sum(-1)
    return num / np.maximum(np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1), 1e-30)


def rank_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation of two 1-D arrays (ties broken by order)."""
    ra = np.argsort(np.argsort(a)).astype(np.float64)
    rb = np.argsort(np.argsort(b)).astype(np.float64)
    return float(np.corrcoef(ra, rb)[0, 1])


def llr_table(logits: np.ndarray, tokens: np.ndarray, nonpad: np.ndarray, *, seed: int = 3):
    """log p(alt) - log p(ref) at every real token for 16 random alternative tokens each
    (the wild-type marginal of the design's LLR score), one flat array."""
    x = logits.astype(np.float64)
    logp = (
        x
        - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True))
        - x.max(-1, keepdims=True)
    )
    rows, cols = np.nonzero(nonpad)
    rng = np.random.default_rng(seed)
    alts = rng.integers(6, logits.shape[-1], (len(rows), 16))
    ref = logp[rows, cols, tokens[rows, cols]][:, None]
    return (logp[rows[:, None], cols[:, None], alts] - ref).ravel()


def gpu_sampler(period_ms: int = 200):
    """A started `nvidia-smi` sampling GPU utilisation (None when there is no nvidia-smi)."""
    import shutil
    import subprocess

    exe = shutil.which("nvidia-smi")
    if exe is None:
        return None
    cmd = [
        exe,
        "--query-gpu=utilization.gpu,memory.used",
        "--format=csv,noheader,nounits",
        f"-lms={period_ms}",
    ]
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def stop_sampler(proc) -> dict | None:
    """Stop a `gpu_sampler` (by its pid) and summarise its samples."""
    if proc is None:
        return None
    proc.terminate()
    try:
        text, _ = proc.communicate(timeout=5)
    except Exception:  # noqa: BLE001 - a sampler that will not stop is killed, not fatal
        proc.kill()
        text, _ = proc.communicate()
    util = []
    mem = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) == 2 and parts[0].isdigit():
            util.append(int(parts[0]))
            mem.append(int(parts[1]))
    if not util:
        return {"samples": 0}
    u = np.array(util)
    return {
        "samples": len(util),
        "util_mean": round(float(u.mean()), 1),
        "util_median": float(np.median(u)),
        "util_busy_fraction": round(float((u >= 50).mean()), 3),
        "memory_used_mib_max": max(mem),
    }

"""VCF/BCF access for haplotypes: index checks, sample choice, contig names, region queries.

Genotypes are read with cyvcf2: it decodes the 300-sample 1000 Genomes genotypes 6-16x
faster than pysam (benchmarks/bench_vcf_readers.py; scoring reads sites with pysam, see
docs/dependencies.md). The 1-based VCF POS is converted once, here, to a 0-based `start`;
the record keeps `pos1` only for messages and outputs. INFO is never parsed, so headers
that declare INFO fields with a wrong Number (1000 Genomes AC) do no harm; htslib may
still warn on stderr.

Like pysam handles, cyvcf2 readers do not pickle: `VariantReader` pickles by path and
reopens on first use in each process.
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ntscale.errors import ConfigError, InputError, MissingInputError

logger = logging.getLogger(__name__)

ContigMap = Mapping[str, str] | str | None  # FASTA name -> VCF name, "auto", or exact names


@dataclass(frozen=True, slots=True)
class VcfRecord:
    """One VCF record: 0-based start, REF and ALT alleles (allele index 1.. = alts[i-1])."""

    contig: str  # the VCF's contig name
    start: int  # 0-based position of REF's first base
    ref: str
    alts: tuple[str, ...]
    id: str | None = None

    @property
    def pos1(self) -> int:
        return self.start + 1

    @property
    def end(self) -> int:
        """0-based exclusive end of the REF allele on the reference."""
        return self.start + len(self.ref)

    def __str__(self) -> str:
        alts = ",".join(self.alts) or "."
        return f"{self.contig}:{self.pos1} {self.id or '.'} {self.ref}>{alts}"


@dataclass(frozen=True, slots=True)
class RegionVariants:
    """Records overlapping one region and their genotypes for the chosen samples.

    gt: int16 [R, S, 2] allele index per haplotype (0 = REF, -1 = missing).
    phased: bool [R, S] whether the genotype is phased (or has a single allele).
    """

    records: tuple[VcfRecord, ...]
    gt: np.ndarray
    phased: np.ndarray


def _index_of(path: Path) -> Path | None:
    for suffix in (".csi", ".tbi"):
        cand = path.with_name(path.name + suffix)
        if cand.is_file():
            return cand
    return None


# The empty block that ends every complete BGZF file (SAM/BAM spec, section 4.1.2).
_BGZF_EOF = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")


def check_vcf(path: str | os.PathLike[str]) -> Path:
    """Check that a VCF/BCF exists, is BGZF-compressed and indexed; return its path.

    Raises:
        MissingInputError: the file or its index is missing (the message gives the command).
        InputError: a plain-text or plain-gzip VCF (cannot be indexed; gives the fix).
    """
    p = Path(path)
    if not p.is_file():
        raise MissingInputError("VCF/BCF file not found", path=p)
    with open(p, "rb") as fh:
        head = fh.read(18)
    is_bgzf = head.startswith(b"\x1f\x8b") and len(head) >= 14 and head[12:14] == b"BC"
    if not is_bgzf:
        raise InputError(
            "the VCF must be BGZF-compressed and indexed for region queries; run "
            f"`bgzip -c {p} > {p}.gz && tabix -p vcf {p}.gz` (or `bcftools view -Oz -W`)",
            path=p,
        )
    with open(p, "rb") as fh:
        fh.seek(max(0, p.stat().st_size - len(_BGZF_EOF)))
        if fh.read() != _BGZF_EOF:
            # htslib answers region queries past the cut with nothing: silent missing variants
            raise InputError(
                "the VCF/BCF has no BGZF end-of-file block: it is truncated (an interrupted "
                "copy or download?); fetch or write it again",
                path=p,
            )
    if _index_of(p) is None:
        is_bcf = p.name.endswith(".bcf")
        cmd = f"bcftools index {p}" if is_bcf else f"bcftools index {p}` or `tabix -p vcf {p}"
        raise MissingInputError(
            f"no index (.csi or .tbi) next to the VCF/BCF; create it with `{cmd}`", path=p
        )
    return p


class VariantReader:
    """A bgzipped, indexed VCF/BCF restricted to chosen samples, queried by FASTA contig."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        samples: Sequence[str] | None = None,
        fasta_contigs: Sequence[str] | None = None,
        contig_map: ContigMap = None,
    ) -> None:
        """Open and validate the VCF.

        Args:
            path: bgzipped + indexed VCF or BCF.
            samples: sample names in the wanted order (default: all, in file order).
            fasta_contigs: FASTA contig names, to check naming against the VCF.
            contig_map: FASTA name -> VCF name mapping; "auto" adds or strips a "chr"
                prefix where that finds the contig; None uses names as they are.

        Raises:
            MissingInputError, InputError: see `check_vcf`; unknown samples; FASTA and VCF
                contig names that do not match (names the fix).
        """
        self.path = self._check_path(path)
        if not (contig_map is None or contig_map == "auto" or isinstance(contig_map, Mapping)):
            raise ConfigError(f"contig_map must be a mapping, 'auto' or None, got {contig_map!r}")
        self._contig_map = dict(contig_map) if isinstance(contig_map, Mapping) else contig_map
        self._handle = None
        self._text = None  # TextGenotypes of a text VCF (vcf_text.py), made on first query
        all_samples, contigs, has_gt = self._read_header()
        self.vcf_contigs: tuple[str, ...] = contigs
        self._vcf_contig_set = frozenset(self.vcf_contigs)
        if samples is None:
            chosen = all_samples
        else:
            chosen = tuple(samples)
            unknown = [s for s in chosen if s not in set(all_samples)]
            if unknown:
                shown = ", ".join(all_samples[:8]) + (" ..." if len(all_samples) > 8 else "")
                raise InputError(
                    f"unknown sample(s) {', '.join(map(repr, unknown))}; the VCF has "
                    f"{len(all_samples)} sample(s): {shown}",
                    path=self.path,
                )
            dups = sorted({s for s in chosen if chosen.count(s) > 1})
            if dups:
                raise ConfigError(f"sample(s) chosen twice: {', '.join(dups)}")
        if not chosen:
            raise InputError("the VCF has no samples, so no haplotype can be built", path=self.path)
        if not has_gt:
            raise InputError(
                f"the VCF has {len(all_samples)} sample(s) but its header declares no GT "
                "(genotype) FORMAT field, so no haplotype can be built; use a VCF with "
                "phased genotypes (GT)",
                path=self.path,
                record="header",
            )
        self.samples: tuple[str, ...] = chosen
        self._haplotype_names = haplotype_names(chosen)
        self._all_samples = all_samples
        if fasta_contigs is not None:
            self._check_contigs(fasta_contigs)

    def __getstate__(self) -> dict[str, object]:
        state = self.__dict__.copy()
        state["_handle"] = None
        state["_text"] = None
        return state

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)

    # Format hooks: a reader of another genotype format (genome/vcz.py) overrides these two,
    # `query` and `close`, and keeps the sample and contig logic above.
    def _check_path(self, path: str | os.PathLike[str]) -> Path:
        return check_vcf(path)

    def _read_header(self) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        """(all samples in file order, contig names, whether a GT field is declared)."""
        vcf = self._open_all()
        try:
            return tuple(vcf.samples), tuple(vcf.seqnames), _declares_gt(vcf)
        finally:
            vcf.close()

    @property
    def haplotype_names(self) -> tuple[str, ...]:
        """'SAMPLE:0', 'SAMPLE:1' for each sample (diploid; index = GT allele order)."""
        return self._haplotype_names

    def _open_all(self):  # noqa: ANN202 - cyvcf2.VCF
        import cyvcf2

        try:
            return cyvcf2.VCF(str(self.path), lazy=True)
        except OSError as e:
            raise InputError(f"cannot read the VCF/BCF ({e})", path=self.path) from e

    def _reader(self):  # noqa: ANN202 - cyvcf2.VCF
        if self._handle is None:
            import cyvcf2

            subset = None if self.samples == self._all_samples else list(self.samples)
            vcf = cyvcf2.VCF(str(self.path), samples=subset, lazy=True, gts012=False)
            order = {s: i for i, s in enumerate(vcf.samples)}
            self._columns = np.array([order[s] for s in self.samples], dtype=np.int64)
            self._identity = bool(np.array_equal(self._columns, np.arange(len(self.samples))))
            self._handle = vcf
        return self._handle

    def vcf_contig(self, fasta_contig: str) -> str | None:
        """The VCF contig name for a FASTA contig, or None when the VCF has none."""
        names = self._vcf_contig_set
        cmap = self._contig_map
        if isinstance(cmap, dict):
            name = cmap.get(fasta_contig, fasta_contig)
            return name if name in names else None
        if fasta_contig in names:
            return fasta_contig
        if cmap == "auto":
            for alt in _chr_variants(fasta_contig):
                if alt in names:
                    return alt
        return None

    def _check_contigs(self, fasta_contigs: Sequence[str]) -> None:
        mapped = [c for c in fasta_contigs if self.vcf_contig(c) is not None]
        if mapped:
            return
        vcf_shown = ", ".join(repr(c) for c in self.vcf_contigs[:5])
        fa_shown = ", ".join(repr(c) for c in list(fasta_contigs)[:5])
        by_chr = [
            c for c in fasta_contigs if any(a in self._vcf_contig_set for a in _chr_variants(c))
        ]
        if by_chr and self._contig_map != "auto":
            fix = (
                f"the names differ only by a 'chr' prefix (FASTA {by_chr[0]!r}); pass "
                "--contig-map auto (contig_map: auto in YAML) or an explicit FASTA=VCF mapping"
            )
        else:
            fix = "pass --contig-map FASTA=VCF,... (contig_map in YAML) to match them"
        raise InputError(
            f"no FASTA contig is named as in the VCF (VCF: {vcf_shown}; FASTA: {fa_shown}); " + fix,
            path=self.path,
        )

    def query(self, fasta_contig: str, start: int, end: int) -> RegionVariants:
        """Records overlapping [start, end) of a FASTA contig, with chosen samples' genotypes.

        A text VCF whose region holds only fixed-width GT fields is parsed with numpy
        (`ntscale.genome.vcf_text`); anything else goes through cyvcf2, same result.
        """
        name = self.vcf_contig(fasta_contig)
        if name is not None and end > start:
            fast = self._text_genotypes()
            if fast is not None:
                got = fast.query(name, start, end, self._file_columns)
                if got is not None:
                    return got
        vcf = self._reader()
        n_s = len(self.samples)
        records: list[VcfRecord] = []
        gts: list[np.ndarray] = []
        if name is not None and end > start:
            region = f"{name}:{start + 1}-{end}"
            for rec in iter_records(vcf, region, path=self.path):
                rec_ = VcfRecord(
                    contig=name, start=int(rec.start), ref=rec.REF, alts=tuple(rec.ALT), id=rec.ID
                )
                records.append(rec_)
                gts.append(self._genotypes(rec, rec_))
        if not records:
            return RegionVariants((), np.zeros((0, n_s, 2), np.int16), np.zeros((0, n_s), bool))
        arr = np.stack([_two_alleles(g) for g in gts])  # [R, S', 3]
        if not self._identity:
            arr = arr[:, self._columns]
        gt = arr[:, :, :2].astype(np.int16)
        phased = arr[:, :, 2] != 0
        # -2 marks the end of a shorter (haploid) genotype: the single allele on both.
        haploid = gt[:, :, 1] == -2
        if haploid.any():
            gt[:, :, 1] = np.where(haploid, gt[:, :, 0], gt[:, :, 1])
            phased = phased | haploid
        return RegionVariants(tuple(records), gt, phased)

    def _text_genotypes(self):  # noqa: ANN202 - TextGenotypes | None
        """The raw-line GT reader for a bgzipped text VCF (None for BCF)."""
        if self._text is None:
            from ntscale.genome.vcf_text import TextGenotypes

            if _is_bcf(self.path):
                self._text = False
            else:
                index = _index_of(self.path)
                order = {s: i for i, s in enumerate(self._all_samples)}
                cols = np.array([order[s] for s in self.samples], np.int64)
                ident = np.array_equal(cols, np.arange(len(self._all_samples)))
                self._file_columns = None if ident else cols
                self._text = TextGenotypes(self.path, index, len(self._all_samples))
        return self._text or None

    def _genotypes(self, rec: object, where: VcfRecord) -> np.ndarray:
        """The record's GT array; InputError naming the record when it has no usable GT."""
        # (cyvcf2's rec.FORMAT can crash on sample-subset readers: ask for GT directly.)
        try:
            gt = rec.genotype  # type: ignore[attr-defined]
        except Exception as e:  # cyvcf2 raises bare Exception
            raise InputError(
                f"the record has no readable GT (genotype) field ({e}); haplotypes need a "
                "GT for every sample",
                path=self.path,
                record=str(where),
            ) from e
        if gt is None:
            raise InputError(
                "the record has no GT (genotype) field; haplotypes need a GT for every sample",
                path=self.path,
                record=str(where),
            )
        return gt.array()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if self._text:
            self._text.close()


def _is_bcf(path: Path) -> bool:
    """True for a BCF, whatever its name: its decompressed bytes start with 'BCF'."""
    import gzip

    with gzip.open(path, "rb") as fh:
        return fh.read(3) == b"BCF"


def _two_alleles(g: np.ndarray) -> np.ndarray:
    """[S, k+1] cyvcf2 genotype array -> [S, 3] (allele 0, allele 1 or -2, phase)."""
    if g.shape[1] == 3:
        return g
    if g.shape[1] == 2:  # haploid everywhere in this record
        return np.stack([g[:, 0], np.full(g.shape[0], -2, g.dtype), g[:, 1]], axis=1)
    raise InputError(f"genotypes with ploidy {g.shape[1] - 1} are not supported (diploid only)")


def _declares_gt(vcf: object) -> bool:
    """True if the header has a ##FORMAT=<ID=GT,...> line."""
    try:
        vcf.get_header_type("GT")  # type: ignore[attr-defined]
    except KeyError:
        return False
    return True


def _chr_variants(name: str) -> list[str]:
    if name.startswith("chr"):
        return [name[3:]]
    return ["chr" + name]


def haplotype_names(samples: Sequence[str]) -> tuple[str, ...]:
    """Names of the two haplotypes (GT phase index 0 and 1) of each sample: 'S:0', 'S:1'."""
    return tuple(f"{s}:{h}" for s in samples for h in (0, 1))


def is_symbolic(allele: str) -> bool:
    """True for alleles that are not literal sequence: <DEL>, <INS>, *, missing, breakends.

    Single breakends (`G.`, `.G`) count too: their '.' is not a base.
    """
    return (
        allele in ("*", "")
        or "." in allele
        or allele.startswith("<")
        or "[" in allele
        or "]" in allele
    )


def vcf_samples(
    path: str | os.PathLike[str], samples: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The chosen samples of a VCF/BCF, checked (all samples in file order when None).

    Raises:
        MissingInputError, InputError, ConfigError: as `VariantReader` (file, index, unknown
            or repeated samples).
    """
    return VariantReader(path, samples=samples).samples


_quiet = threading.Lock()
_no_intervals_said: set[tuple[str, str]] = set()


def _first(it: Iterator[object], path: str | os.PathLike[str], region: str) -> object:
    """The first record of a query (StopIteration if none). cyvcf2 warns "no intervals
    found" there for a contig with no indexed records, once per query, i.e. once per
    window; it is said once per file and contig instead (other warnings pass through)."""
    rec, done = None, False
    with _quiet, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            rec = next(it)
        except StopIteration:
            done = True
    for w in caught:
        if "no intervals found" not in str(w.message):
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
            continue
        key = (str(path), region.rsplit(":", 1)[0])
        if key not in _no_intervals_said:
            _no_intervals_said.add(key)
            logger.warning(
                "%s: the index has no records on contig %s; its windows get no variants "
                "(said once)",
                *key,
            )
    if done:
        raise StopIteration
    return rec


def iter_records(vcf: object, region: str, *, path: str | os.PathLike[str]) -> Iterator[object]:
    """cyvcf2 records of one region; htslib's index and parse errors become one InputError.

    cyvcf2 raises a bare Exception for both, mid-iteration; every reader of records goes
    through here so a broken file gets the same one-line error wherever it is read.
    """
    it = iter(vcf(region))  # type: ignore[operator]
    last = None
    while True:
        try:
            rec = next(it) if last is not None else _first(it, path, region)
        except StopIteration:
            return
        except Exception as e:
            if "index" in str(e):
                raise InputError(
                    f"cannot use the VCF's index ({e}); rebuild it with `bcftools index -f {path}`",
                    path=path,
                    record=region,
                ) from e
            after = f"the record after {last.CHROM}:{last.POS}" if last else "the first record"
            raise InputError(
                f"malformed VCF record: htslib cannot parse {after} in {region} ({e}); "
                "check the file with `bcftools view`",
                path=path,
                record=region,
            ) from e
        last = rec
        yield rec

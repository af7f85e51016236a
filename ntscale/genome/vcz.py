"""VCF Zarr (VCZ) genotypes: the cohort format of bio2zarr / sgkit, read chunk-wise by region.

A VCZ store is a Zarr group with one array per VCF field (the VCF Zarr specification,
https://github.com/sgkit-dev/vcf-zarr-spec): `variant_contig` (index into `contig_id`),
`variant_position` (1-based VCF POS), `variant_allele` [variants, alleles] (REF first,
padded with ""), `variant_length` (bp of REF on the reference, INFO/END aware),
`variant_id`, `call_genotype` [variants, samples, ploidy] (-1 missing, -2 padding of a
shorter ploidy), `call_genotype_phased` [variants, samples], `sample_id`, `contig_id`, and,
as bio2zarr writes it, `region_index` [rows, 6] (chunk, contig, first POS, last POS, max
end, records) per variant chunk and contig.

`VczReader` has the public interface of `VariantReader` (genome/vcf.py), so a haplotype
run takes `--vcf cohort.vcz` as it takes `--vcf cohort.vcf.gz`: the same samples, contig
map, `query` giving the same `RegionVariants` (records overlapping the region as htslib
defines it: start < end and start + REF length > start of the region). A query reads only
the variant chunks the region index names, and keeps the last three decoded genotype chunks,
so consecutive windows of one unit decode each chunk once. Local directories only.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ntscale.errors import InputError, MissingInputError
from ntscale.genome.vcf import ContigMap, RegionVariants, VariantReader, VcfRecord

REQUIRED = ("sample_id", "contig_id", "variant_contig", "variant_position", "variant_allele")
VCZ_SUFFIXES = (".vcz", ".zarr")
_KEPT_CHUNKS = 3  # decoded variant chunks kept per reader (~10 MB each at 3,202 samples)


def is_vcz(path: str | os.PathLike[str]) -> bool:
    """True when `path` names a VCF Zarr store (a directory, or a .vcz/.zarr name)."""
    p = Path(path)
    return p.is_dir() or p.name.rstrip("/").endswith(VCZ_SUFFIXES)


def check_vcz(path: str | os.PathLike[str]) -> Path:
    """Check that a VCZ store exists and has the arrays a haplotype run reads; return its path.

    Raises:
        MissingInputError: no such directory.
        InputError: not a Zarr group, or a required array is missing (names them and the fix).
    """
    import zarr

    p = Path(path)
    if not p.is_dir():
        raise MissingInputError(
            "VCF Zarr store not found (a directory, as `vcf2zarr convert` writes it)", path=p
        )
    try:
        root = zarr.open_group(str(p), mode="r")
    except Exception as e:  # zarr raises several unrelated types for a non-group
        raise InputError(f"not a Zarr group ({e}); write it with `vcf2zarr convert`", path=p) from e
    missing = [name for name in REQUIRED if name not in root]
    if missing:
        raise InputError(
            f"not a VCF Zarr store: array(s) {', '.join(missing)} missing; convert the VCF "
            "with `vcf2zarr convert in.vcf.gz out.vcz` (bio2zarr)",
            path=p,
        )
    return p


class _Arrays:
    """A VCZ group's arrays, each opened once: a zarr group lookup reads the array's
    metadata from storage every time (~2 ms each), which a window query would repeat."""

    def __init__(self, group: Any) -> None:
        self._group = group
        self._names = frozenset(group.array_keys())
        self._open: dict[str, Any] = {}

    def __contains__(self, name: str) -> bool:
        return name in self._names

    def __getitem__(self, name: str) -> Any:
        arr = self._open.get(name)
        if arr is None:
            arr = self._open[name] = self._group[name]
        return arr


def _strings(values: np.ndarray) -> list[str]:
    return [str(v) for v in np.asarray(values).ravel()]


class VczReader(VariantReader):
    """A VCF Zarr store restricted to chosen samples, queried by FASTA contig.

    Same constructor and public interface as `VariantReader` (samples, haplotype_names,
    vcf_contigs, vcf_contig, query, close); pickles by path.
    """

    # -- the format-specific hooks of VariantReader --------------------------------------
    def _check_path(self, path: str | os.PathLike[str]) -> Path:
        return check_vcz(path)

    def _read_header(self) -> tuple[tuple[str, ...], tuple[str, ...], bool]:
        root = self._root()
        if "call_genotype" in root and root["call_genotype"].ndim == 3:
            ploidy = int(root["call_genotype"].shape[2])
            if ploidy > 2:
                raise InputError(
                    f"genotypes with ploidy {ploidy} are not supported (diploid only)",
                    path=self.path,
                    record="call_genotype",
                )
        has_gt = "call_genotype" in root
        return tuple(_strings(root["sample_id"][:])), tuple(_strings(root["contig_id"][:])), has_gt

    def __getstate__(self) -> dict[str, object]:
        state = super().__getstate__()
        state["_handle"] = None
        state["_cache"] = {}
        return state

    def _root(self) -> _Arrays:
        import zarr

        if getattr(self, "_handle", None) is None:
            self._handle = _Arrays(zarr.open_group(str(self.path), mode="r"))
            self._cache: dict[str, Any] = {}
        return self._handle

    def close(self) -> None:
        self._handle = None
        self._cache = {}

    # -- queries -------------------------------------------------------------------------
    def _columns(self) -> np.ndarray | None:
        """Sample columns of the chosen samples (None: all, in store order)."""
        if "columns" not in self._cache:
            if self.samples == self._all_samples:
                self._cache["columns"] = None
            else:
                order = {s: i for i, s in enumerate(self._all_samples)}
                self._cache["columns"] = np.array([order[s] for s in self.samples], np.int64)
        return self._cache["columns"]

    def _candidate_rows(self, contig_id: int, start: int, end: int) -> tuple[int, int]:
        """A row range [a, b) holding every record of the contig that may overlap [start, end)."""
        root = self._root()
        n = int(root["variant_position"].shape[0])
        if "region_index" not in root:
            return 0, n
        if "region_index" not in self._cache:
            self._cache["region_index"] = np.asarray(root["region_index"][:], np.int64)
        idx = self._cache["region_index"]  # chunk, contig, first POS, last POS, max end, n
        hit = (idx[:, 1] == contig_id) & (idx[:, 2] <= end) & (idx[:, 4] >= start + 1)
        if not hit.any():
            return 0, 0
        size = int(root["variant_position"].chunks[0])
        chunks = idx[hit, 0]
        return int(chunks.min()) * size, min(n, (int(chunks.max()) + 1) * size)

    def _kept(self, kind: str, ci: int, load: Any) -> Any:
        """`load(ci)`, decoded once per chunk: the last _KEPT_CHUNKS of each kind are kept,
        as consecutive windows share chunks."""
        kept: dict[int, Any] = self._cache.setdefault(kind, {})
        got = kept.pop(ci, None)
        if got is None:
            got = load(ci)
            while len(kept) >= _KEPT_CHUNKS:
                kept.pop(next(iter(kept)))  # the least recently used
        kept[ci] = got
        return got

    def _read_sites(self, a: int, b: int) -> dict[str, np.ndarray]:
        root = self._root()
        pos = np.asarray(root["variant_position"][a:b], np.int64)
        alleles = np.asarray(root["variant_allele"][a:b])
        if "variant_length" in root:
            length = np.asarray(root["variant_length"][a:b], np.int64)
        else:
            length = np.array([len(str(x)) for x in alleles[:, 0]], np.int64)
        return {
            "contig": np.asarray(root["variant_contig"][a:b], np.int64),
            "start": pos - 1,
            "length": length,
            "alleles": alleles,
            "id": np.asarray(root["variant_id"][a:b]) if "variant_id" in root else None,
        }

    def _variant_block(self, a: int, b: int) -> dict[str, Any]:
        """Site fields of rows [a, b) (chunk-aligned), from kept chunks when few."""
        root = self._root()
        size, n = int(root["variant_position"].chunks[0]), int(root["variant_position"].shape[0])
        chunks = range(a // size, -(-b // size))
        if len(chunks) > _KEPT_CHUNKS:  # a whole contig without a region index
            return {"key": ("sites", a, b), **self._read_sites(a, b)}
        parts = [
            self._kept(
                "site_chunks", ci, lambda c: self._read_sites(c * size, min(n, (c + 1) * size))
            )
            for ci in chunks
        ]
        block: dict[str, Any] = {"key": ("sites", a, b)}
        for name in parts[0]:
            values = [p[name] for p in parts]
            block[name] = (
                None
                if values[0] is None
                else values[0]
                if len(values) == 1
                else np.concatenate(values)
            )
        return block

    def _chunk_calls(self, ci: int) -> tuple[np.ndarray, np.ndarray]:
        """Genotypes and phase of the chosen samples in variant chunk `ci` (kept, `_kept`)."""
        return self._kept("call_chunks", ci, self._read_calls)

    def _read_calls(self, ci: int) -> tuple[np.ndarray, np.ndarray]:
        root = self._root()
        size = int(root["call_genotype"].chunks[0])
        rows = slice(ci * size, min(int(root["call_genotype"].shape[0]), (ci + 1) * size))
        cols = self._columns()
        sel = slice(None) if cols is None else cols
        gt = np.asarray(root["call_genotype"].get_orthogonal_selection((rows, sel, slice(None))))
        if "call_genotype_phased" in root:
            ph = root["call_genotype_phased"].get_orthogonal_selection((rows, sel))
            return gt, np.asarray(ph, bool)
        return gt, np.zeros(gt.shape[:2], bool)  # no phase information: unphased ('/')

    def _calls(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """gt int16 [R, S, 2] and phased bool [R, S] of the chosen samples at these rows."""
        size = int(self._root()["call_genotype"].chunks[0])
        first = int(rows[0]) // size
        parts = [self._chunk_calls(ci) for ci in range(first, int(rows[-1]) // size + 1)]
        block = {
            "lo": first * size,
            "gt": parts[0][0] if len(parts) == 1 else np.concatenate([p[0] for p in parts]),
            "phased": parts[0][1] if len(parts) == 1 else np.concatenate([p[1] for p in parts]),
        }
        take = rows - block["lo"]
        gt = block["gt"][take].astype(np.int16)
        phased = block["phased"][take].copy()
        if gt.shape[2] == 1:  # a haploid store: the one allele on both haplotypes
            gt = np.concatenate([gt, gt], axis=2)
            phased[:] = True
        haploid = gt[:, :, 1] == -2  # padding of a shorter ploidy, as in genome/vcf.py
        if haploid.any():
            gt[:, :, 1] = np.where(haploid, gt[:, :, 0], gt[:, :, 1])
            phased = phased | haploid
        return gt, phased

    def _rows(self, name: str, start: int, end: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """Store rows of records on VCF contig `name` overlapping [start, end), in file order."""
        cid = self.vcf_contigs.index(name)
        a, b = self._candidate_rows(cid, start, end)
        if b <= a:
            return np.zeros(0, np.int64), {}
        block = self._variant_block(a, b)
        s, ln = block["start"], block["length"]
        hit = (block["contig"] == cid) & (s < end) & (s + np.maximum(ln, 1) > start)
        return a + np.flatnonzero(hit), block

    def query(self, fasta_contig: str, start: int, end: int) -> RegionVariants:
        """Records overlapping [start, end) of a FASTA contig, with chosen samples' genotypes."""
        n_s = len(self.samples)
        name = self.vcf_contig(fasta_contig)
        rows = np.zeros(0, np.int64)
        if name is not None and end > start:
            rows, block = self._rows(name, start, end)
        if rows.size == 0:
            return RegionVariants((), np.zeros((0, n_s, 2), np.int16), np.zeros((0, n_s), bool))
        if "call_genotype" not in self._root():
            raise InputError(
                "the store has no call_genotype array, so no haplotype can be built",
                path=self.path,
                record=f"{name}:{start + 1}-{end}",
            )
        off = rows - int(block["key"][1])
        records = tuple(self._record(name, block, int(i)) for i in off)
        gt, phased = self._calls(rows)
        return RegionVariants(records, gt, phased)

    def _record(self, name: str, block: dict[str, np.ndarray], i: int) -> VcfRecord:
        alleles = [str(x) for x in block["alleles"][i]]
        ref = alleles[0]
        start = int(block["start"][i])
        if not ref:
            raise InputError(
                "the record has an empty REF allele", path=self.path, record=f"{name}:{start + 1}"
            )
        ids = block["id"]
        vid = None if ids is None else str(ids[i])
        return VcfRecord(
            contig=name,
            start=start,
            ref=ref,
            alts=tuple(a for a in alleles[1:] if a),
            id=None if vid in (None, "", ".") else vid,
        )

    def length_changing(
        self, vcf_contig: str, *, genotypes: bool = True
    ) -> Iterator[tuple[int, str, tuple[str, ...], np.ndarray | None]]:
        """Records of a contig whose alleles differ in length, with cyvcf2-style genotypes.

        Yields (start, REF, ALTs, [S, 3] int: allele 0, allele 1, phased) for
        the chosen samples, block by block of the store's variant chunks: what
        `hap_budget.insertion_sites` reads from a VCF. genotypes=False: None instead of
        the genotypes, and no genotype chunk is read (the cohort driver's sites-only scan).
        """
        root = self._root()
        cid = self.vcf_contigs.index(vcf_contig)
        n = int(root["variant_position"].shape[0])
        step = int(root["variant_position"].chunks[0])
        a0, b0 = self._candidate_rows(cid, 0, np.iinfo(np.int64).max // 2)
        a0, b0 = (0, n) if "region_index" not in root else (a0, b0)
        for a in range(a0, b0, step):
            block = self._variant_block(a, min(b0, a + step))
            lens = np.strings.str_len(block["alleles"].astype(np.dtypes.StringDType()))
            ref_len = lens[:, :1]
            present = lens > 0
            indel = ((lens != ref_len) & present).any(axis=1) & (block["contig"] == cid)
            rows = a + np.flatnonzero(indel)
            if rows.size == 0:
                continue
            if genotypes:
                gt, phased = self._calls(rows)
            for k, i in enumerate(rows - a):
                rec = self._record(vcf_contig, block, int(i))
                calls = None
                if genotypes:
                    calls = np.concatenate([gt[k], phased[k, :, None].astype(np.int16)], axis=1)
                yield rec.start, rec.ref, rec.alts, calls


def open_variant_reader(
    path: str | os.PathLike[str],
    *,
    samples: Sequence[str] | None = None,
    fasta_contigs: Sequence[str] | None = None,
    contig_map: ContigMap = None,
) -> VariantReader:
    """A genotype reader for `path`: `VczReader` for a VCF Zarr store, else `VariantReader`.

    Raises:
        MissingInputError, InputError, ConfigError: as the chosen reader.
    """
    cls = VczReader if is_vcz(path) else VariantReader
    return cls(path, samples=samples, fasta_contigs=fasta_contigs, contig_map=contig_map)

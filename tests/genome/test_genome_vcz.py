"""VCF Zarr genotypes (genome/vcz.py): the same RegionVariants as the VCF they came from.

Every VCZ here is written by bio2zarr (`vcf2zarr convert`, as users make them) from a real
or simulated VCF, and read back region by region against cyvcf2 on the source VCF: records
(start, REF, ALTs, ID), genotypes and phase, over windows that cross variant-chunk
boundaries and begin inside deletions.
"""

from __future__ import annotations

import pickle
import shutil
from pathlib import Path

import numpy as np
import pysam
import pytest
from genome_helpers import to_bcf, write_vcf

from ntscale.errors import ConfigError, InputError, MissingInputError
from ntscale.genome import VariantReader, VczReader, open_variant_reader
from ntscale.genome.hap_budget import insertion_sites
from ntscale.genome.vcz import check_vcz, is_vcz

b2z = pytest.importorskip("bio2zarr.vcf")


def to_vcz(vcf: Path, out: Path, *, chunk: int | None = None) -> Path:
    """bio2zarr's conversion, in-process, with a small variant chunk to get many chunks."""
    b2z.convert([str(vcf)], str(out), worker_processes=0, variants_chunk_size=chunk)
    return out


@pytest.fixture(scope="module")
def example_vcz(tmp_path_factory, example_vcf: Path) -> Path:
    # 7,568 real records (316 indels) in chunks of 500: 16 chunks
    return to_vcz(example_vcf, tmp_path_factory.mktemp("vcz") / "chr20.vcz", chunk=500)


@pytest.fixture(scope="module")
def cohort_slice(repo_root: Path) -> Path:
    return repo_root / "tests" / "data" / "cohort" / "sim16.vcf.gz"


@pytest.fixture(scope="module")
def cohort_vcz(tmp_path_factory, cohort_slice: Path) -> Path:
    return to_vcz(cohort_slice, tmp_path_factory.mktemp("vcz") / "sim16.vcz", chunk=64)


def assert_same_region(a, b, contig: str, start: int, end: int) -> int:
    """Both readers give equal RegionVariants for [start, end); returns the record count."""
    ra, rb = a.query(contig, start, end), b.query(contig, start, end)
    assert ra.records == rb.records, (start, end, ra.records[:2], rb.records[:2])
    assert ra.gt.dtype == rb.gt.dtype == np.int16
    assert ra.gt.shape == rb.gt.shape == (len(ra.records), len(a.samples), 2)
    np.testing.assert_array_equal(ra.gt, rb.gt)
    np.testing.assert_array_equal(ra.phased, rb.phased)
    return len(ra.records)


# -- equality with the VCF ------------------------------------------------------------------


def test_every_window_of_the_real_slice_equals_the_vcf(example_vcf, example_vcz):
    vcf, vcz = VariantReader(example_vcf), VczReader(example_vcz)
    assert vcz.samples == vcf.samples
    assert vcz.haplotype_names == vcf.haplotype_names
    assert vcz.vcf_contigs == vcf.vcf_contigs == ("20",)
    seen = set()
    for start in range(990_000, 2_000_000, 12_282):
        assert_same_region(vcf, vcz, "20", start, start + 12_282)
        seen.update(vcz.query("20", start, start + 12_282).records)
    # every record of the file is seen (one deletion spans two windows, seen in both)
    assert len(seen) == 7_568


def test_windows_that_begin_inside_a_deletion(example_vcf, example_vcz):
    vcf, vcz = VariantReader(example_vcf), VczReader(example_vcz)
    deletions = [r for r in vcf.query("20", 1_000_000, 2_000_000).records if len(r.ref) > 1]
    assert len(deletions) > 20
    for rec in deletions[:40]:
        # the region starts on the deletion's last deleted base: htslib returns the record
        start = rec.end - 1
        got = vcz.query("20", start, start + 50).records
        assert rec in got
        assert assert_same_region(vcf, vcz, "20", start, start + 50) >= 1
        # one base past the REF: the record is no longer there
        assert rec not in vcz.query("20", rec.end, rec.end + 50).records


def test_short_and_odd_regions(example_vcf, example_vcz):
    vcf, vcz = VariantReader(example_vcf), VczReader(example_vcz)
    rng = np.random.default_rng(7)
    for _ in range(80):
        start = int(rng.integers(999_000, 2_000_000))
        length = int(rng.choice([1, 2, 7, 300, 5_000, 40_000]))
        assert_same_region(vcf, vcz, "20", start, start + length)
    assert vcz.query("20", 1_500_000, 1_500_000).records == ()  # empty region
    assert vcz.query("20", 0, 900_000).gt.shape == (0, 4, 2)  # before the first record
    assert vcz.query("no_such_contig", 0, 10).records == ()


def test_simulated_cohort_slice_vcf_bcf_and_vcz_agree(cohort_slice, cohort_vcz):
    bcf = cohort_slice.with_name("sim16.bcf")
    vcf, via_bcf, vcz = (open_variant_reader(p) for p in (cohort_slice, bcf, cohort_vcz))
    assert isinstance(vcz, VczReader) and not isinstance(vcf, VczReader)
    assert len(vcz.samples) == 16
    n = 0
    for start in range(1_000_000, 1_300_000, 6_000):
        n += assert_same_region(vcf, vcz, "20", start, start + 6_000)
        assert_same_region(via_bcf, vcz, "20", start, start + 6_000)
    assert n == 518  # every record (the slice's PROVENANCE.md)


def test_sample_subset_in_any_order(example_vcf, example_vcz):
    chosen = ["HG00100", "HG00096"]
    vcf = VariantReader(example_vcf, samples=chosen)
    vcz = VczReader(example_vcz, samples=chosen)
    assert vcz.samples == tuple(chosen)
    assert vcz.haplotype_names == ("HG00100:0", "HG00100:1", "HG00096:0", "HG00096:1")
    for start in range(1_000_000, 1_200_000, 20_000):
        assert_same_region(vcf, vcz, "20", start, start + 20_000)
    full = VczReader(example_vcz).query("20", 1_000_000, 1_100_000)
    sub = vcz.query("20", 1_000_000, 1_100_000)
    np.testing.assert_array_equal(sub.gt, full.gt[:, [3, 0]])


def test_consecutive_windows_reuse_the_decoded_chunk(example_vcz, monkeypatch):
    vcz = VczReader(example_vcz)
    vcz.query("20", 1_000_000, 1_001_000)
    reads = []
    root = vcz._root()
    real = type(root["call_genotype"]).get_orthogonal_selection

    def counting(self, *args, **kwargs):
        if self.path.startswith("call_genotype"):
            reads.append(self.path)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(type(root["call_genotype"]), "get_orthogonal_selection", counting)
    first = vcz.query("20", 1_001_000, 1_002_000)
    assert first.records and reads == []  # same 500-record chunk: nothing read again
    vcz.query("20", 1_900_000, 1_901_000)
    assert sorted(reads) == ["call_genotype", "call_genotype_phased"]  # another chunk, once


# -- haploid, missing and unphased calls ---------------------------------------------------


def test_haploid_missing_and_unphased_calls_match_the_vcf(tmp_path):
    records = [
        ("20", 101, "A", ("G",), ["0|1", "1/0", ".|.", "1"]),
        ("20", 105, "C", ("T", "G"), ["2|1", "0/0", "./1", "0"]),
        ("20", 110, "GTT", ("G",), ["1|1", "0|0", "0|1", "1"]),
        ("20", 111, "T", ("TA",), ["0|0", "1|0", "1/1", "."]),
    ]
    vcf = write_vcf(tmp_path / "odd.vcf.gz", {"20": 1_000}, ["a", "b", "c", "d"], records)
    vcz = to_vcz(vcf, tmp_path / "odd.vcz")
    a, b = VariantReader(vcf), VczReader(vcz)
    assert assert_same_region(a, b, "20", 0, 1_000) == 4
    assert assert_same_region(a, b, "20", 111, 112) == 1  # the GTT deletion covers 111
    assert assert_same_region(a, b, "20", 110, 111) == 2  # ... and 110, where T>TA sits
    got = b.query("20", 0, 1_000)
    assert got.gt[0, 3].tolist() == [1, 1]  # haploid: its allele on both haplotypes
    assert bool(got.phased[0, 3]) and not bool(got.phased[0, 1])
    assert got.gt[0, 2].tolist() == [-1, -1]
    assert got.records[0].id == "v0"


def test_records_without_an_id_have_none(cohort_slice, cohort_vcz):
    vcf, vcz = VariantReader(cohort_slice), VczReader(cohort_vcz)
    recs = vcz.query("20", 1_000_000, 1_050_000).records
    assert recs and all(r.id is None for r in recs)
    assert recs == vcf.query("20", 1_000_000, 1_050_000).records


# -- contig names ---------------------------------------------------------------------------


def test_contig_map_auto_and_explicit(example_vcz):
    auto = VczReader(example_vcz, fasta_contigs=["chr20"], contig_map="auto")
    assert auto.vcf_contig("chr20") == "20"
    assert auto.query("chr20", 1_000_000, 1_010_000).records
    explicit = VczReader(example_vcz, contig_map={"twenty": "20"})
    assert (
        explicit.query("twenty", 1_000_000, 1_010_000).records
        == auto.query("chr20", 1_000_000, 1_010_000).records
    )


def test_contig_names_that_do_not_match_name_the_fix(example_vcz):
    with pytest.raises(InputError, match="differ only by a 'chr' prefix") as e:
        VczReader(example_vcz, fasta_contigs=["chr20"])
    assert str(example_vcz) in str(e.value)
    with pytest.raises(ConfigError, match="contig_map must be"):
        VczReader(example_vcz, contig_map=3)  # type: ignore[arg-type]


# -- without a region index -----------------------------------------------------------------


def test_a_store_without_region_index_reads_the_same(tmp_path, example_vcf, example_vcz):
    import zarr

    bare = tmp_path / "bare.vcz"
    shutil.copytree(example_vcz, bare)
    root = zarr.open_group(str(bare), mode="r+")
    del root["region_index"]
    assert "region_index" not in zarr.open_group(str(bare), mode="r")
    vcf, vcz = VariantReader(example_vcf), VczReader(bare)
    for start in range(1_000_000, 2_000_000, 97_000):
        assert_same_region(vcf, vcz, "20", start, start + 12_000)


# -- pickling --------------------------------------------------------------------------------


def test_pickles_by_path_and_reopens(example_vcz):
    vcz = VczReader(example_vcz, samples=["HG00097"])
    before = vcz.query("20", 1_200_000, 1_260_000)
    blob = pickle.dumps(vcz)
    assert len(blob) < 4_000  # no arrays or handles travel
    again = pickle.loads(blob)
    after = again.query("20", 1_200_000, 1_260_000)
    assert after.records == before.records
    np.testing.assert_array_equal(after.gt, before.gt)
    again.close()
    assert again.query("20", 1_200_000, 1_260_000).records == before.records


# -- the driver's indel scan ----------------------------------------------------------------


def test_insertion_sites_from_vcz_equal_those_from_the_vcf(example_vcf, example_vcz):
    want = insertion_sites(example_vcf, ["20"], {"20": "20"})
    got = insertion_sites(example_vcz, ["20"], {"20": "20"})
    assert sorted(got) == sorted(want) == ["20"]
    for a, b in zip(want["20"], got["20"], strict=True):
        np.testing.assert_array_equal(a, b)
    assert want["20"][0].size > 100  # real indels were compared
    sub = insertion_sites(example_vcz, ["20", "21"], {"20": "20", "21": None}, samples=["HG00099"])
    np.testing.assert_array_equal(
        sub["20"][1],
        insertion_sites(example_vcf, ["20"], {"20": "20"}, samples=["HG00099"])["20"][1],
    )


def test_length_changing_skips_snvs(example_vcz):
    recs = list(VczReader(example_vcz).length_changing("20"))
    assert recs
    for start, ref, alts, calls in recs:
        assert len(ref) != 1 or any(len(a) != 1 for a in alts)
        assert calls.shape == (4, 3)
        assert start >= 999_999


# -- errors ------------------------------------------------------------------------------------


def test_missing_store(tmp_path):
    with pytest.raises(MissingInputError, match="VCF Zarr store not found") as e:
        VczReader(tmp_path / "none.vcz")
    assert "none.vcz" in str(e.value)


def test_a_directory_that_is_not_zarr(tmp_path):
    d = tmp_path / "plain.vcz"
    d.mkdir()
    (d / "readme.txt").write_text("not zarr")
    with pytest.raises(InputError, match="vcf2zarr convert") as e:
        check_vcz(d)
    assert str(d) in str(e.value)


def test_a_zarr_group_without_vcf_arrays_names_them(tmp_path):
    import zarr

    g = zarr.open_group(str(tmp_path / "other.zarr"), mode="w")
    g.create_array("sample_id", shape=(2,), dtype="int32")
    with pytest.raises(InputError, match="contig_id, variant_contig, variant_position"):
        VczReader(tmp_path / "other.zarr")


def test_unknown_and_repeated_samples(example_vcz):
    with pytest.raises(InputError, match="unknown sample.*'NA12878'") as e:
        VczReader(example_vcz, samples=["HG00096", "NA12878"])
    assert "HG00096" in str(e.value)  # lists what the store has
    with pytest.raises(ConfigError, match="chosen twice: HG00096"):
        VczReader(example_vcz, samples=["HG00096", "HG00096"])


def test_a_store_without_genotypes(tmp_path, example_vcz):
    import zarr

    bare = tmp_path / "sites.vcz"
    shutil.copytree(example_vcz, bare)
    del zarr.open_group(str(bare), mode="r+")["call_genotype"]
    with pytest.raises(InputError, match="declares no GT"):
        VczReader(bare)


def test_triploid_store_is_refused(tmp_path):
    vcf = write_vcf(
        tmp_path / "tri.vcf.gz", {"20": 500}, ["a"], [("20", 10, "A", ("C",), ["0|1|1"])]
    )
    vcz = to_vcz(vcf, tmp_path / "tri.vcz")
    with pytest.raises(InputError, match="ploidy 3"):
        VczReader(vcz)


def test_an_empty_ref_names_the_record(tmp_path, cohort_vcz):
    import zarr

    broken = tmp_path / "broken.vcz"
    shutil.copytree(cohort_vcz, broken)
    root = zarr.open_group(str(broken), mode="r+")
    alleles = root["variant_allele"][:]
    pos1 = int(root["variant_position"][3])
    alleles[3, 0] = ""
    root["variant_allele"][:] = alleles
    with pytest.raises(InputError, match="empty REF") as e:
        VczReader(broken).query("20", 1_000_000, 1_300_000)
    assert f"20:{pos1}" in str(e.value)


# -- choosing the reader -------------------------------------------------------------------------


def test_the_reader_is_chosen_by_path(tmp_path, example_vcf, example_vcz):
    assert is_vcz(example_vcz) and is_vcz(tmp_path / "later.vcz") and is_vcz("x.zarr")
    assert not is_vcz(example_vcf) and not is_vcz(tmp_path / "x.bcf")
    assert type(open_variant_reader(example_vcf)) is VariantReader
    assert type(open_variant_reader(example_vcz, samples=["HG00099"])) is VczReader
    bcf = to_bcf(example_vcf, tmp_path / "x.bcf")
    pysam.tabix_index(str(bcf), preset="bcf", csi=True)
    assert type(open_variant_reader(bcf)) is VariantReader
    with pytest.raises(MissingInputError):
        open_variant_reader(tmp_path / "later.vcz")


# -- several contigs, samples in several chunks ---------------------------------------------


def test_two_contigs_sharing_chunks_and_chunked_samples(tmp_path):
    rng = np.random.default_rng(3)
    samples = [f"s{i}" for i in range(7)]
    records = []
    for contig in ("20", "21"):
        for pos1 in sorted(rng.choice(np.arange(5, 3_000), size=40, replace=False).tolist()):
            ref, alt = ("AC", ("A",)) if pos1 % 9 == 0 else ("A", ("G",))
            gts = [f"{rng.integers(0, 2)}|{rng.integers(0, 2)}" for _ in samples]
            records.append((contig, pos1, ref, alt, gts))
    vcf = write_vcf(tmp_path / "two.vcf.gz", {"20": 5_000, "21": 5_000}, samples, records)
    vcz = tmp_path / "two.vcz"
    b2z.convert(
        [str(vcf)], str(vcz), worker_processes=0, variants_chunk_size=16, samples_chunk_size=3
    )
    a, b = (
        VariantReader(vcf, samples=["s6", "s1", "s4"]),
        VczReader(vcz, samples=["s6", "s1", "s4"]),
    )
    assert b.vcf_contigs == ("20", "21")
    for contig in ("20", "21"):
        n = 0
        for start in range(0, 3_100, 250):
            n += assert_same_region(a, b, contig, start, start + 250)
        assert n >= 40
    # (cyvcf2 keeps a subset in file order; the planner's bounds do not depend on the order)
    sites = insertion_sites(vcz, ["20", "21"], {"20": "20", "21": "21"}, samples=["s1", "s4", "s6"])
    want = insertion_sites(vcf, ["20", "21"], {"20": "20", "21": "21"}, samples=["s1", "s4", "s6"])
    assert sorted(sites) == sorted(want)
    for c in want:
        for x, y in zip(want[c], sites[c], strict=True):
            np.testing.assert_array_equal(x, y)


def test_sites_only_indel_scan_reads_no_genotypes(example_vcf, example_vcz, monkeypatch):
    want = insertion_sites(example_vcf, ["20"], {"20": "20"}, genotypes=False)
    monkeypatch.setattr(VczReader, "_calls", lambda *a, **k: pytest.fail("genotypes read"))
    got = insertion_sites(example_vcz, ["20"], {"20": "20"}, genotypes=False)
    for x, y in zip(want["20"], got["20"], strict=True):
        np.testing.assert_array_equal(x, y)
    assert got["20"][1].shape[1] == 1  # one bound per record, for every haplotype


def test_the_last_three_decoded_chunks_are_kept(example_vcz, monkeypatch):
    vcz = VczReader(example_vcz)
    root = vcz._root()
    reads: list[int] = []
    real = type(root["call_genotype"]).get_orthogonal_selection

    def counting(self, selection, *args, **kwargs):
        if self.path == "call_genotype":
            reads.append(selection[0].start)
        return real(self, selection, *args, **kwargs)

    monkeypatch.setattr(type(root["call_genotype"]), "get_orthogonal_selection", counting)
    # 500-record chunks: regions far apart fall in different chunks
    at = {
        k: vcz.query("20", p, p + 2_000).gt for k, p in enumerate((1_050_000, 1_500_000, 1_950_000))
    }
    assert len(reads) == 3
    again = vcz.query("20", 1_050_000, 1_052_000).gt  # still kept: no read
    np.testing.assert_array_equal(again, at[0])
    assert len(reads) == 3
    vcz.query("20", 1_250_000, 1_252_000)  # a fourth chunk: the oldest (1,500,000) goes
    vcz.query("20", 1_500_000, 1_502_000)
    assert len(reads) == 5 and reads[-1] == reads[1]

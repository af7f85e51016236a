"""cyvcf2's "no intervals found" warning (a contig with no indexed records) is said once per
file and contig, not once per window query (genome/vcf.py)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import pysam
import pytest

from ntscale.genome import vcf as vcf_mod
from ntscale.genome.vcf import VariantReader

HEADER = """##fileformat=VCFv4.2
##contig=<ID=20,length=2000000>
##contig=<ID=21,length=2000000>
##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">
#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\tS1
20\t1500\trs1\tA\tT\t.\tPASS\t.\tGT\t0|1
"""


@pytest.fixture
def one_snv(tmp_path: Path) -> Path:
    plain = tmp_path / "snv.vcf"
    plain.write_text(HEADER)
    return Path(pysam.tabix_index(str(plain), preset="vcf", force=True))


def test_no_intervals_is_said_once_per_contig(
    one_snv: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reader = VariantReader(one_snv)
    vcf_mod._no_intervals_said.clear()
    with caplog.at_level(logging.WARNING, logger="ntscale.genome.vcf"):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for start in range(0, 200_000, 1000):  # 200 windows on a contig with no records
                assert len(reader.query("21", start, start + 1000).records) == 0
            assert len(reader.query("20", 1000, 2000).records) == 1
    assert not [w for w in caught if "no intervals" in str(w.message)]
    said = [r.getMessage() for r in caplog.records if "no records on contig" in r.getMessage()]
    assert said == [f"{one_snv}: the index has no records on contig 21; its windows get no "
                    "variants (said once)"]  # fmt: skip


def test_other_warnings_of_the_first_record_still_pass(
    one_snv: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def noisy():
        warnings.warn("something else", UserWarning, stacklevel=1)
        yield "rec"

    with pytest.warns(UserWarning, match="something else"):
        assert vcf_mod._first(noisy(), one_snv, "20:1-5") == "rec"
    with pytest.raises(StopIteration):
        vcf_mod._first(iter(()), one_snv, "20:1-5")

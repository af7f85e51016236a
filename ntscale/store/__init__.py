"""Zarr v3 store of per-layer embeddings and variant scores (layout in store/schema.py).

Driver: `create_or_open(url, layout, ...)` takes the run lease and creates every array
(or resumes a store made by the same run); it ends the run with `finalize(url)` (lease
released, consolidated metadata). Workers: `open_writer(url)` (or a pickled StoreWriter),
then per unit `write_window_unit` / `write_variant_unit` followed by `mark_done`.
Analysis: `open(url)` gives the xarray Dataset at the store root (what `xr.open_zarr`
reads), backed by dask arrays; `store_summary(url)` a summary; `verify(url)` re-reads
every done unit against its checksum. Cohort stores (a VCF): `haplotype_embeddings`,
`sample_embeddings` and `haplotype_rows` give values per haplotype / sample / row;
per-base stores with haplotypes (`segment --vcf`): `haplotype_perbase` [base, haplotype, track].
"""

from ntscale.store.cohort import haplotype_embeddings, haplotype_rows, sample_embeddings
from ntscale.store.create import create_or_open, finalize
from ntscale.store.perbase_haps import haplotype_perbase
from ntscale.store.reader import open, store_summary
from ntscale.store.schema import PENDING, SCHEMA_VERSION, StoreLayout
from ntscale.store.verify import verify
from ntscale.store.writer import StoreWriter, open_writer

__all__ = [
    "PENDING",
    "SCHEMA_VERSION",
    "StoreLayout",
    "StoreWriter",
    "create_or_open",
    "finalize",
    "haplotype_embeddings",
    "haplotype_perbase",
    "haplotype_rows",
    "open",
    "open_writer",
    "sample_embeddings",
    "store_summary",
    "verify",
]

"""ntscale: Nucleotide Transformer models over whole genomes and VCF haplotypes, into Zarr."""

__version__ = "0.1.0"

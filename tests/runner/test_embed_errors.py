"""`ntscale embed` on bad input: a clear message naming file, record and reason; exit 2."""

from __future__ import annotations

import shutil

import pytest

from ntscale.cli.main import main


def run_embed(capsys, *args: str) -> tuple[int, str]:
    with pytest.raises(SystemExit) as e:
        main(["embed", *args])
    return int(e.value.code), capsys.readouterr().err


def base_args(example, tmp_path, **over) -> list[str]:
    bed = tmp_path / "ok.bed"
    bed.write_text("20\t1000000\t1001200\n")
    args = {
        "--fasta": str(example["fasta"]),
        "--model": str(example["model"]),
        "--out": str(tmp_path / "o.zarr"),
        "--regions": str(bed),
        "--window": "600",
        "--dtype": "fp32",
    }
    args.update(over)
    out = ["--no-progress"]
    for k, v in args.items():
        out += [k, v]
    return out


def test_missing_fasta(example, tmp_path, capsys):
    missing = tmp_path / "nope.fa"
    code, err = run_embed(capsys, *base_args(example, tmp_path, **{"--fasta": str(missing)}))
    assert code == 2
    assert str(missing) in err and "Traceback" not in err


def test_missing_index_is_built(example, tmp_path, capsys):
    fasta = tmp_path / "genome.fa.gz"
    shutil.copy(example["fasta"], fasta)  # no .fai, no .gzi beside it
    main(["embed", *base_args(example, tmp_path, **{"--fasta": str(fasta)})])
    assert (tmp_path / "genome.fa.gz.fai").exists()
    assert "embeddings written to" in capsys.readouterr().out


def test_unknown_contig_in_bed(example, tmp_path, capsys):
    bed = tmp_path / "bad.bed"
    bed.write_text("20\t1000000\t1001200\nchr20\t5\t10\n")
    code, err = run_embed(capsys, *base_args(example, tmp_path, **{"--regions": str(bed)}))
    assert code == 2
    assert str(bed) in err and "chr20" in err and "2" in err  # file, contig, line number


def test_store_of_another_run_is_refused(example, tmp_path, capsys):
    main(["embed", *base_args(example, tmp_path, **{"--layers": "1"})])
    capsys.readouterr()
    code, err = run_embed(capsys, *base_args(example, tmp_path, **{"--layers": "2"}))
    assert code == 2
    assert "layers" in err and "[1]" in err and "[2]" in err


def test_unwritable_output_path(example, tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    out = blocker / "o.zarr"
    code, err = run_embed(capsys, *base_args(example, tmp_path, **{"--out": str(out)}))
    assert code == 2
    assert str(out) in err


def test_layer_beyond_model(example, tmp_path, capsys):
    code, err = run_embed(capsys, *base_args(example, tmp_path, **{"--layers": "7"}))
    assert code == 2
    assert "layers [7] do not exist" in err and "1..2" in err


def test_haplotype_policy_change_is_refused(example, tmp_path, capsys):
    hap = {"--vcf": str(example["vcf"]), "--samples": "HG00096", "--layers": "1"}
    main(["embed", *base_args(example, tmp_path, **hap, **{"--unphased": "ref"})])
    capsys.readouterr()
    code, err = run_embed(capsys, *base_args(example, tmp_path, **hap, **{"--unphased": "skip"}))
    assert code == 2
    assert "unphased" in err and "'ref'" in err and "'skip'" in err


def test_repeated_layers_are_kept_once_in_order(small_config):
    from ntscale.runner.embed_job import EmbedJob

    job = EmbedJob.plan_from_config(small_config(layers=[2, 1, 2]))
    assert job.layers == (1, 2)

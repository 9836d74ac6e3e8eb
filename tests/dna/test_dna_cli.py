"""Bad input to the DNA configs: one line on stderr, exit 2, nothing written."""

import pytest

from svdd_ray.cli import main

CONFIG = "configs/dna_hepg2.yaml"

BAD = [
    ("reward.components.0.options={cell: Liver}", "reward.components[0]"),
    ("model.options={length: 150}", "model.options"),
    ("model.options={checkpoint_dir: /nonexistent/prior}", "/nonexistent/prior"),
    ("reward.components.0.target=liver_motif", "did you mean 'liver_motifs'"),
    ("value.guide={target: hepg2, options: {cell: Kidney}}", "value.guide"),
    ("value.fill=soft", "value.fill: 'soft' sends per-position probabilities, and reward 'liver_motifs' reads only"),
]
EXTRA = {
    "value.guide": ["run.method=dps", "run.num_candidates=1", "run.options={}"],
    "value.fill": ["run.method=svdd", "run.options={}", "reward.components=[{target: liver_motifs}]"],
}


@pytest.mark.parametrize("override,message", BAD, ids=[o for o, _ in BAD])
def test_bad_dna_input_is_one_line_exit_2_and_nothing_written(tmp_path, capsys, override, message):
    out = tmp_path / "out"
    extra = EXTRA.get(override.split("=")[0], [])
    code = main(["run", CONFIG, override, *extra, f"run.output_dir={out}", "--backend=local", "--quiet"])
    err = capsys.readouterr().err.strip()
    assert code == 2, err
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()

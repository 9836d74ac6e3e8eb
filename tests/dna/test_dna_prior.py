import pytest
import torch

from svdd_ray.errors import ConfigError

TINY = {
    "domain": "dna",
    "data": {"val_size": 8},
    "network": {"d_model": 16, "layers": 1, "heads": 2},
    "diffusion": {"num_steps": 4},
    "train": {"batch_size": 4, "max_steps": 6, "warmup_steps": 2, "log_every": 1, "eval_every": 3, "sample_every": 0},
}


def _with(**train):
    return {**TINY, "train": {**TINY["train"], **train}}


def test_tiny_prior_trains_loads_and_samples_acgt(small_sites, tmp_path):
    from svdd_ray.dna.prior import load_prior, train_prior
    from svdd_ray.inprocess import sample

    log = train_prior(_with(max_steps=3, sample_every=3, sample_size=2), tmp_path)
    assert log["steps"] == 3 and log["finished"] and log["config"]["resolved"]["train_rows"] == 32  # 16 + RC
    assert 0.0 <= log["samples"][-1]["gc"] <= 1.0
    model = load_prior(tmp_path, num_steps=5)
    assert model.num_steps == 5 and not model.training
    result = sample(model, lambda x, t: torch.zeros(len(x)), method="pretrained", num_samples=3, seed=0)
    assert len(result.objects) == 3 and all(len(s) == 200 and set(s) <= set("ACGT") for s in result.objects)


def test_resumed_training_equals_an_uninterrupted_run(small_sites, tmp_path):
    from svdd_ray.dna.prior import train_prior

    train_prior(TINY, tmp_path / "whole")
    first = train_prior(_with(session_steps=4), tmp_path / "split")
    assert first["steps"] == 4 and not first["finished"]
    second = train_prior(_with(resume=True), tmp_path / "split")
    assert second["steps"] == 6 and second["finished"] and second["resumed"][0]["step"] == 4
    whole = torch.load(tmp_path / "whole" / "prior.pt", weights_only=True)
    split = torch.load(tmp_path / "split" / "prior.pt", weights_only=True)
    assert whole.keys() == split.keys()
    assert all(torch.equal(whole[k], split[k]) for k in whole)


def test_resume_refuses_another_model(small_sites, tmp_path):
    from svdd_ray.dna.prior import train_prior

    train_prior(_with(max_steps=3), tmp_path)
    wider = {**_with(resume=True), "network": {"d_model": 32, "layers": 1, "heads": 2}}
    with pytest.raises(ConfigError, match=r"^train\.resume: .*written by a different config"):
        train_prior(wider, tmp_path)


def test_config_errors_are_one_line():
    from svdd_ray.dna.prior import train_prior

    with pytest.raises(ConfigError, match=r"^config\.domain: .*'dna', not 'molecules'"):
        train_prior({"domain": "molecules"}, "/nonexistent/never-written")
    with pytest.raises(ConfigError, match=r"^config\.network\.width: unknown key"):
        train_prior({"domain": "dna", "network": {"width": 3}}, "/nonexistent/never-written")

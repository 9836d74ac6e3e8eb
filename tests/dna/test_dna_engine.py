"""The DNA rewards as remote reward actors: Ray gives the local backend's samples, scored as the rewards say."""

import numpy as np
import pandas as pd

from svdd_ray import engine
from svdd_ray.config import load_config

OVERRIDES = [
    "run.method=svdd",
    "run.options={}",
    "run.num_samples=4",
    "run.batch_size=2",
    "run.num_candidates=2",
    "model.options={num_steps: 3}",
    "reward.components=[{target: hepg2, actors: 1, num_cpus: 0.25, chunk_size: 2},"
    " {target: liver_motifs, weight: 2.0, actors: 1, num_cpus: 0.25}]",
    "resources.denoiser_num_cpus=0.25",
]


def _run(out, backend, extra=()):
    overrides = [*OVERRIDES, *extra, f"run.output_dir={out}", f"resources.backend={backend}"]
    config = load_config("configs/dna_hepg2.yaml", overrides)
    engine.run(config)
    return pd.read_parquet(out).sort_values(["batch", "index"]).reset_index(drop=True)


def test_dna_rewards_on_ray_actors_match_the_local_run(ray_session, tmp_path):
    from svdd_ray.dna.motifs import LiverMotifs
    from svdd_ray.dna.rewards import HepG2Specificity

    on_ray, local = _run(tmp_path / "ray", "ray"), _run(tmp_path / "local", "local")
    assert on_ray["object"].tolist() == local["object"].tolist()
    assert np.allclose(on_ray["reward"], local["reward"])
    sequences = on_ray["object"].tolist()
    assert all(len(s) == 200 and set(s) <= set("ACGT") for s in sequences)
    hepg2, motifs = np.array(HepG2Specificity()(sequences)), np.array(LiverMotifs()(sequences))
    assert np.allclose(on_ray["reward_hepg2"], hepg2, atol=1e-5)
    assert np.allclose(on_ray["reward"], hepg2 + 2.0 * motifs, atol=1e-5)
    assert (on_ray["reward_calls"] > 0).all() and not on_ray["invalid"].any()


def test_a_soft_value_fill_on_ray_actors_matches_the_local_run(ray_session, tmp_path):
    """Per-base probabilities travel to the reward actors and back: the same designs as in-process."""
    soft = [
        "value.fill=soft",
        "reward.components=[{target: hepg2, actors: 1, num_cpus: 0.25, chunk_size: 3}]",
        "run.method=smc",
        "run.alpha=0.5",
        "run.options={population: design}",
    ]
    on_ray, local = _run(tmp_path / "ray", "ray", soft), _run(tmp_path / "local", "local", soft)
    argmax = _run(tmp_path / "argmax", "local", [*soft[1:]])
    assert on_ray["object"].tolist() == local["object"].tolist()
    assert np.allclose(on_ray["reward"], local["reward"])
    assert on_ray["object"].tolist() != argmax["object"].tolist()  # the fill changed what was selected

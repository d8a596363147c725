"""The negated-query probe: what it fits on, what it keeps out, and bad input."""

import pytest

from training import probe_negated_query
from training.world.shapes_world import build_world_dataset


@pytest.fixture()
def world_dir(tmp_path):
    build_world_dataset(12, 100, 32).save_to_disk(str(tmp_path / "world" / "train"))
    build_world_dataset(8, 1, 32).save_to_disk(str(tmp_path / "world" / "eval"))
    return tmp_path / "world"


def test_probe_scores_clip_and_the_fitted_map_on_seen_and_unseen_concepts(tiny_clip_dir, world_dir, tmp_path):
    out = tmp_path / "probe.json"
    results = probe_negated_query.main(["--clip_model", str(tiny_clip_dir), "--world_dir", str(world_dir),
                                        "--steps", "20", "--unseen_every", "3", "--out", str(out)])
    assert out.is_file() and results["unseen_concepts"]
    for part, fitted in (("all_concepts", "fitted_on_all"), ("unseen_concepts_only", "fitted_without_them")):
        for name in ("clip", fitted):
            assert 0.0 <= results[part][name]["auc"] <= 1.0, (part, name)
    # 20 Adam steps move the map: its AUC is not CLIP's own.
    assert results["all_concepts"]["fitted_on_all"] != results["all_concepts"]["clip"]


def test_probe_keeps_unseen_concepts_out_of_its_fit(monkeypatch, tiny_clip_dir, world_dir):
    fitted_on = []
    real_fit = probe_negated_query.fit_query_map
    monkeypatch.setattr(probe_negated_query, "fit_query_map",
                        lambda images, items, *args, **kwargs: fitted_on.append({i["concept"] for i in items})
                        or real_fit(images, items, *args, **kwargs))
    results = probe_negated_query.main(["--clip_model", str(tiny_clip_dir), "--world_dir", str(world_dir), "--steps", "1"])
    everything, seen = fitted_on
    assert set(results["unseen_concepts"]) & everything and not set(results["unseen_concepts"]) & seen


def test_probe_refuses_a_world_without_its_parts(tiny_clip_dir, tmp_path):
    with pytest.raises(FileNotFoundError, match="no 'train'"):
        probe_negated_query.main(["--clip_model", str(tiny_clip_dir), "--world_dir", str(tmp_path)])
    with pytest.raises(ValueError, match="unseen_every"):
        probe_negated_query.main(["--clip_model", str(tiny_clip_dir), "--world_dir", str(tmp_path), "--unseen_every", "1"])

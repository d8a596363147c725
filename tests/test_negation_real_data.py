"""Readers of the shared NegBench VOC2007 and *SEM 2012 CD-SCO data (`training.text.negation_real_data`).

Tests on hand-made inputs always run; those on the shared files skip when `../shared/data` is absent.
"""

from collections import Counter
from pathlib import Path

import pytest

from training.text.negation_real_data import (
    cdsco_word_labels,
    default_data_dir,
    locate_object,
    negbench_partial_labels,
    negbench_records_to_dataset,
    negbench_split_of,
    parse_negbench_template,
    read_cdsco,
    read_cdsco_file,
    read_negbench_voc2007,
)


@pytest.fixture(scope="module")
def data_dir() -> Path:
    root = default_data_dir()
    if not (root / "negbench_voc2007").is_dir() or not (root / "starsem2012_cd_sco").is_dir():
        pytest.skip(f"shared negation data not found at {root}")
    return root


@pytest.fixture(scope="module")
def negbench(data_dir):
    return read_negbench_voc2007(data_dir)


# --- hand-made inputs -------------------------------------------------------------------------
def test_data_dir_defaults_next_to_the_repo_and_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.delenv("NEGCLIP_DATA_DIR", raising=False)
    assert default_data_dir() == Path(__file__).resolve().parents[2] / "shared" / "data"
    assert (Path(__file__).resolve().parents[1] / "training").is_dir()  # next to the repository, wherever the module sits
    monkeypatch.setenv("NEGCLIP_DATA_DIR", str(tmp_path))
    assert default_data_dir() == tmp_path
    with pytest.raises(FileNotFoundError):
        read_negbench_voc2007()


def test_parse_negbench_templates():
    assert parse_negbench_template("This image includes person but not diningtable") == ("hybrid", ["person"], ["diningtable"])
    assert parse_negbench_template("This image does not include tvmonitor") == ("negative", [], ["tvmonitor"])
    assert parse_negbench_template("This image includes chair and person") == ("positive", ["chair", "person"], [])
    with pytest.raises(ValueError):
        parse_negbench_template("A dog on a sofa")


def test_objects_are_located_by_surface_form():
    words = "This image shows a dining table, but no TV monitors or people.".split()
    assert locate_object(words, "diningtable") == [4, 5]
    assert locate_object(words, "tvmonitor") == [8, 9]
    assert locate_object(words, "person") == [11]
    labels, unlocated = negbench_partial_labels(words, ["diningtable"], ["tvmonitor", "cow"])
    assert labels == [-100, -100, -100, -100, 0, 0, -100, -100, 2, 2, -100, -100] and unlocated == ["cow"]


def test_negbench_split_is_a_fixed_hash_of_the_file_name():
    assert negbench_split_of("/a/VOC2007/JPEGImages/004070.jpg") == negbench_split_of("data/JPEGImages/004070.jpg")
    splits = Counter(negbench_split_of(f"{i:06d}.jpg") for i in range(4000))
    assert 0.2 < splits["eval"] / 4000 < 0.3


def test_cdsco_file_parsing_and_labels(tmp_path):
    rows = [
        "wisteria01\t60\t0\tOur\tOur\tPRP$\t(S(NP*\t_\t_\t_\t_\t_\t_",
        "wisteria01\t60\t1\tunhappy\tunhappy\tJJ\t*\tun\thappy\thappy\t_\t_\t_",
        "wisteria01\t60\t2\tclient\tclient\tNN\t*)\t_\tclient\t_\t_\tclient\t_",
        "wisteria01\t60\t3\tdid\tdo\tVBD\t*\t_\t_\t_\t_\tdid\t_",
        "wisteria01\t60\t4\tn't\tnot\tRB\t*\t_\t_\t_\tn't\t_\t_",
        "wisteria01\t60\t5\tsmile\tsmile\tVB\t*)\t_\t_\t_\t_\tsmile\tsmile",
        "",
        "wisteria01\t61\t0\tYes\tyes\tUH\t(S*)\t***",
        "",
    ]
    path = tmp_path / "tiny.txt"
    path.write_text("\n".join(rows), encoding="utf-8")
    first, second = read_cdsco_file(path)
    assert first["id"] == "wisteria01-60" and first["words"] == ["Our", "unhappy", "client", "did", "n't", "smile"]
    assert len(first["negations"]) == 2 and first["negations"][0]["cue"][1] == "un"
    assert first["labels"] == [0, 1, 2, 2, 1, 2]  # the affix cue wins over its own scope part
    assert second["negations"] == [] and second["labels"] == [0]
    assert cdsco_word_labels(2, [{"cue": ["", "no"], "scope": ["x", ""], "event": ["", ""]}]) == [2, 1]


# --- the shared files ------------------------------------------------------------------------
def test_cdsco_counts(data_dir):
    # The data README says 3,643 (847) for training; the file and Morante & Blanco (2012) say 3,644 (848).
    expected = {"train": (3644, 848, 984), "dev": (787, 144, 173), "test": (1089, 235, 264)}
    for split, (sentences, negated, negations) in expected.items():
        data = read_cdsco(split, data_dir)
        assert len(data) == sentences
        assert sum(bool(s["negations"]) for s in data) == negated
        assert sum(len(s["negations"]) for s in data) == negations
        assert all(len(s["labels"]) == len(s["words"]) for s in data)
        assert all((1 in s["labels"]) == bool(s["negations"]) for s in data)  # every negation has a cue


def test_cdsco_affix_and_contraction_cues(data_dir):
    sentence = read_cdsco("train", data_dir)[1]  # "... those not infrequent occasions ..."
    labels = dict(zip(sentence["words"], sentence["labels"]))
    assert labels["not"] == 1 and labels["infrequent"] == 1 and labels["occasions"] == 2 and labels["Sherlock"] == 0
    contractions = [l for s in read_cdsco("dev", data_dir) for w, l in zip(s["words"], s["labels"]) if w == "n't"]
    assert contractions and set(contractions) == {1}


def test_negbench_records_line_up_with_the_templates(negbench):
    assert len(negbench) == 5031 * 4
    assert Counter(r["template"] for r in negbench) == {"hybrid": 7259, "negative": 7152, "positive": 5713}
    first = negbench[0]
    assert first["caption"] == "There is no person in this image." and first["negated_objects"] == ["person"]
    assert first["labels"] == [-100, -100, -100, 2, -100, -100, -100] and first["image_path"].startswith("VOC2007/")
    assert sum(bool(r["unlocated_objects"]) for r in negbench) < 0.01 * len(negbench)  # LLM noise ("?")
    for r in negbench:
        if r["unlocated_objects"]:
            continue
        assert (2 in r["labels"]) == bool(r["negated_objects"]) and (0 in r["labels"]) == bool(r["affirmed_objects"])
        assert set(r["labels"]) <= {-100, 0, 2}
    assert sum(r["is_correct"] for r in negbench) == 5031


def test_negbench_eval_part_is_fixed_and_disjoint(negbench):
    images = {}
    for r in negbench:
        assert images.setdefault(r["image_path"], r["split"]) == r["split"]  # all 4 captions on one side
    fraction = sum(split == "eval" for split in images.values()) / len(images)
    assert 0.22 < fraction < 0.28


def test_templated_captions_are_all_located(data_dir):
    templated = read_negbench_voc2007(data_dir, source="templated")
    assert not [r for r in templated if r["unlocated_objects"]]
    assert templated[0]["caption"] == templated[0]["templated_caption"] == "This image does not include person"


def test_negbench_dataset_dict(negbench):
    dataset = negbench_records_to_dataset(negbench)
    assert set(dataset) == {"train", "eval"}
    assert not set(dataset["train"]["image_path"]) & set(dataset["eval"]["image_path"])
    assert dataset["train"].num_rows + dataset["eval"].num_rows > 0.99 * 5031 * 4

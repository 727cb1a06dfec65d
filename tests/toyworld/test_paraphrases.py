import pytest

from atom.toyworld.metrics import evaluate_meshes
from atom.toyworld.paraphrases import COLOR_SYNONYMS, SHAPE_SYNONYMS, TEMPLATES, toy64_paraphrases
from atom.toyworld.shapes import find_object, normalise_prompt, toy64


def test_one_paraphrase_per_object_none_of_them_a_training_prompt() -> None:
    paraphrases = toy64_paraphrases()
    assert len(paraphrases) == 64 and list(paraphrases.values()) == toy64()
    training = {obj.prompt for obj in toy64()}
    for text in paraphrases:
        assert find_object(text) is None and normalise_prompt(text) not in training, text


def _kind(text: str) -> str:
    """Which change a paraphrase shows, read from the text itself."""
    if text.isupper() or text.endswith("!"):
        return "case and punctuation"
    if text.startswith("a small "):
        return "extra adjective"
    if text.startswith("a 3d model of "):
        return "sentence"
    return "synonyms only"


def test_every_kind_of_change_meets_every_shape_and_color() -> None:
    paraphrases = toy64_paraphrases()
    for attribute, names in (("shape", SHAPE_SYNONYMS), ("color", COLOR_SYNONYMS)):
        for name in names:
            kinds = {_kind(text) for text, obj in paraphrases.items() if getattr(obj, attribute).name == name}
            assert len(kinds) == len(TEMPLATES), (name, kinds)
    for name, synonyms in COLOR_SYNONYMS.items():
        texts = [text.lower() for text, obj in paraphrases.items() if obj.color.name == name]
        assert all(any(s in text for text in texts) for s in synonyms), name
        assert not any(f" {name} " in f" {text} " for text in texts), name  # never the training word
    for name, synonyms in SHAPE_SYNONYMS.items():
        texts = [text.lower() for text, obj in paraphrases.items() if obj.shape.name == name]
        assert all(any(s in text for text in texts) for s in synonyms), name


def test_paraphrases_are_scored_against_their_object_in_their_own_split() -> None:
    paraphrases = toy64_paraphrases()
    text, obj = next(iter(paraphrases.items()))
    mesh = obj.ground_truth_mesh(32)
    results = evaluate_meshes([obj.prompt, text, "a golden dragon"], [mesh, mesh, mesh], unseen=set(),
                              paraphrases=paraphrases, n_points=500, rank_points=256, gt_resolution=32)
    rows = results["per_prompt"]
    assert [row["split"] for row in rows] == ["seen", "paraphrase", "no ground truth"]
    assert rows[1]["f_score"] == pytest.approx(rows[0]["f_score"]) and rows[1]["r1_both"]
    assert results["summary"]["paraphrase"]["count"] == 1
    assert "paraphrase" not in evaluate_meshes([obj.prompt], [mesh], n_points=500, rank_points=256,
                                               gt_resolution=32)["summary"]

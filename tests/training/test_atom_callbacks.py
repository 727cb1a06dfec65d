"""Which prompts the training previews show."""

from atom.training.atom_callbacks import spread


def test_spread_picks_evenly_through_the_list():
    # 56 seen Toy64 prompts, shape-major (7 per shape): 4 picks land on 4 different shapes.
    picks = spread(list(range(56)), 4)
    assert picks == [0, 14, 28, 42]
    assert len({p // 7 for p in picks}) == 4


def test_spread_keeps_everything_when_asked_for_more():
    assert spread([3, 5], 4) == [3, 5]

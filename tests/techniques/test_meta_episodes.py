"""Few-shot episodes: disjoint class splits, disjoint support and query rows, labels that map
back to the original classes, determinism per seed and one-line errors."""

from __future__ import annotations

import pytest
import torch

from fivefold.errors import ConfigError
from fivefold.techniques.adaptive.meta.episodes import (
    Episode,
    EpisodeSampler,
    as_episodes,
    split_classes,
    stack_episodes,
)


def _data(n_classes: int = 8, per_class: int = 12) -> tuple[torch.Tensor, torch.Tensor]:
    """x holds each row's own index (so rows can be identified), y its class."""
    n = n_classes * per_class
    return torch.arange(n, dtype=torch.float32).view(n, 1), torch.arange(n) % n_classes


def test_split_classes_disjoint_cover_and_seeded() -> None:
    train, test = split_classes(20, 5, seed=3)
    assert len(test) == 5 and len(train) == 15
    assert set(train).isdisjoint(test) and set(train) | set(test) == set(range(20))
    assert list(train) == sorted(train) and list(test) == sorted(test)
    assert split_classes(20, 5, seed=3) == (train, test)
    assert split_classes(20, 5, seed=4) != (train, test)


@pytest.mark.parametrize("n_test", [0, 20, 25, -1])
def test_split_classes_impossible(n_test: int) -> None:
    with pytest.raises(ConfigError, match="n_test") as err:
        split_classes(20, n_test, seed=0)
    assert "\n" not in str(err.value)


def test_episode_rows_disjoint_and_labels_consistent() -> None:
    x, y = _data()
    classes = (0, 2, 3, 5, 7)
    sampler = EpisodeSampler(x, y, classes, ways=3, shots=2, queries=4, seed=0)
    for _ in range(20):
        ep = sampler.sample()
        assert ep.support_x.shape == (6, 1) and ep.query_x.shape == (12, 1)
        s_rows, q_rows = ep.support_x.view(-1).long(), ep.query_x.view(-1).long()
        assert set(s_rows.tolist()).isdisjoint(q_rows.tolist())
        assert len(set(s_rows.tolist())) == 6 and len(set(q_rows.tolist())) == 12
        assert set(ep.classes.tolist()) <= set(classes) and len(set(ep.classes.tolist())) == 3
        assert ep.support_y.tolist() == [0, 0, 1, 1, 2, 2]
        # label j of every row is the original class classes[j]
        assert torch.equal(ep.classes[ep.support_y], y[s_rows])
        assert torch.equal(ep.classes[ep.query_y], y[q_rows])


def test_relabelling_order_is_random() -> None:
    x, y = _data()
    sampler = EpisodeSampler(x, y, range(8), ways=4, shots=1, queries=1, seed=1)
    orders = {tuple(sampler.sample().classes.tolist()) for _ in range(30)}
    assert any(list(o) != sorted(o) for o in orders)


def test_deterministic_per_seed() -> None:
    x, y = _data()

    def draws(seed: int) -> list[torch.Tensor]:
        sampler = EpisodeSampler(x, y, range(8), ways=5, shots=1, queries=2, seed=seed)
        return [sampler.sample().query_x for _ in range(5)]

    assert all(torch.equal(a, b) for a, b in zip(draws(0), draws(0), strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(draws(0), draws(1), strict=True))


def test_sample_batch_shapes_and_unbatch() -> None:
    x, y = _data()
    sampler = EpisodeSampler(x, y, range(8), ways=5, shots=2, queries=3, seed=0)
    batch = sampler.sample_batch(4)
    assert batch.batched and len(batch) == 4
    assert batch.support_x.shape == (4, 10, 1) and batch.query_y.shape == (4, 15)
    assert batch.classes.shape == (4, 5)
    singles = as_episodes(batch)
    assert len(singles) == 4 and not singles[0].batched
    again = stack_episodes(singles)
    assert torch.equal(again.query_x, batch.query_x)
    with pytest.raises(ConfigError):
        sampler.sample_batch(0)


def test_query_from_a_separate_pool() -> None:
    x, y = _data(per_class=3)
    qx, qy = x + 1000, y.clone()  # query rows are recognisable by their offset
    sampler = EpisodeSampler(
        x, y, range(8), ways=4, shots=3, queries=3, seed=0, query_x=qx, query_y=qy
    )
    ep = sampler.sample()
    assert (ep.support_x < 1000).all() and (ep.query_x >= 1000).all()
    assert torch.equal(ep.classes[ep.query_y], qy[(ep.query_x.view(-1) - 1000).long()])


def test_too_few_rows_names_the_class() -> None:
    x, y = _data()
    keep = (y != 3) | (torch.arange(len(y)) < 30)  # class 3 keeps rows 3, 11, 19, 27: 4 rows
    with pytest.raises(ConfigError, match=r"class 3 has 4 rows") as err:
        EpisodeSampler(x[keep], y[keep], range(8), ways=2, shots=2, queries=3, seed=0)
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="query pool"):
        EpisodeSampler(
            x, y, range(8), ways=2, shots=2, queries=5, seed=0, query_x=x[:16], query_y=y[:16]
        )


@pytest.mark.parametrize(
    ("kwargs", "word"),
    [
        ({"ways": 9, "shots": 1, "queries": 1}, "ways"),
        ({"ways": 2, "shots": 0, "queries": 1}, "shots"),
        ({"ways": 2, "shots": 1, "queries": 0}, "queries"),
    ],
)
def test_bad_sizes(kwargs: dict[str, int], word: str) -> None:
    x, y = _data()
    with pytest.raises(ConfigError, match=word):
        EpisodeSampler(x, y, range(8), seed=0, **kwargs)


def test_single_episode_len() -> None:
    ep = Episode(
        torch.zeros(2, 1), torch.zeros(2), torch.zeros(3, 1), torch.zeros(3), torch.zeros(1)
    )
    assert len(ep) == 1 and as_episodes([ep, ep]) == [ep, ep]

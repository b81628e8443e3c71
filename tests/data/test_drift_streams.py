"""Synthetic drifting streams: the concept really changes at the given absolute positions."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from river.datasets import synth
from sklearn.linear_model import LogisticRegression
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from fivefold.data.drift import SafeConceptDriftStream, drift_probability, drift_stream
from fivefold.errors import ConfigError

SEA_THRESHOLDS = (8.0, 9.0, 7.0, 9.5)  # x0 + x1 > threshold, river's SEA variants 0..3


def sea_labels(x: np.ndarray, variant: int) -> np.ndarray:
    return (x[:, 0] + x[:, 1] > SEA_THRESHOLDS[variant]).astype(np.int64)


def test_sea_concepts_change_at_the_positions() -> None:
    drifts = [700, 1400, 2100]
    s = drift_stream("sea", n=2800, drifts=drifts, width=1, seed=0)
    assert s.x.shape == (2800, 3) and s.x.dtype == np.float32 and s.y.dtype == np.int64
    assert s.concepts == tuple(f"SEA(variant={k})" for k in range(4))
    bounds = [0, *drifts, 2800]
    for k in range(4):
        agree = sea_labels(s.x, k) == s.y
        lo, hi = bounds[k], bounds[k + 1]
        # width 1: only the sample at the centre and its neighbours mix the two concepts
        assert agree[lo + 3 if k else 0 : hi - 3].all()
        if k < 3:
            assert agree[hi + 3 : bounds[k + 2]].mean() < 0.95  # clearly less after the drift


def test_sudden_drift_switches_within_a_few_samples() -> None:
    s = drift_stream("sea", n=1000, drifts=[500], width=1, seed=2)
    old, new = sea_labels(s.x, 0), sea_labels(s.x, 1)
    differ = np.flatnonzero(old != new)  # samples whose label tells the concepts apart
    before = differ[differ < 497]
    after = differ[differ > 502]
    assert (s.y[before] == old[before]).all() and (s.y[after] == new[after]).all()


def test_gradual_drift_mixes_around_the_centre() -> None:
    s = drift_stream("sea", n=4000, drifts=[2000], width=400, seed=1)
    old, new = sea_labels(s.x, 0), sea_labels(s.x, 1)
    differ = np.flatnonzero(old != new)
    new_share = [
        float((s.y[d] == new[d]).mean())
        for d in (
            differ[differ < 1400],
            differ[(differ > 1900) & (differ < 2100)],
            differ[differ > 2600],
        )
    ]
    assert new_share[0] < 0.05 and 0.25 < new_share[1] < 0.75 and new_share[2] > 0.95


def test_safe_stream_matches_river_where_river_does_not_overflow() -> None:
    def pair(cls: type) -> list[tuple[dict[int, float], bool]]:
        stream = cls(
            stream=synth.SEA(variant=0, seed=1), drift_stream=synth.SEA(variant=2, seed=2),
            position=60, width=20, seed=5,
        )  # fmt: skip
        return list(itertools.islice(iter(stream), 200))

    assert pair(SafeConceptDriftStream) == pair(synth.ConceptDriftStream)
    assert drift_probability(1, 100_000, 1) < 1e-300  # river's own formula overflows here
    assert drift_probability(61, 61, 5) == 0.5


@pytest.mark.parametrize("generator", ["hyperplane", "agrawal", "rbf"])
def test_other_generators_change_concept(generator: str) -> None:
    s = drift_stream(generator, n=2000, drifts=[1000], width=1, seed=0)  # type: ignore[arg-type]
    assert s.x.dtype == np.float32 and np.isfinite(s.x).all()
    assert s.drift_positions == (1000,) and s.widths == (1,)
    assert len(s.feature_names) == s.x.shape[1] and s.class_names == ("0", "1")
    assert set(np.unique(s.y).tolist()) <= {0, 1}
    # a model of the first concept (linear for the hyperplane, 1-NN for the others)
    # fitted before the drift predicts the first concept far better than the second
    model = (
        LogisticRegression(max_iter=1000) if generator == "hyperplane" else KNeighborsClassifier(1)
    )
    scaler = StandardScaler().fit(s.x[:700])
    model.fit(scaler.transform(s.x[:700]), s.y[:700])
    before = model.score(scaler.transform(s.x[700:990]), s.y[700:990])
    after = model.score(scaler.transform(s.x[1010:1300]), s.y[1010:1300])
    assert before > after + 0.1


def test_agrawal_follows_its_classification_functions() -> None:
    s = drift_stream("agrawal", n=1200, drifts=[600], width=1, seed=4)
    names = ("salary", "commission", "age", "elevel", "car", "zipcode", "hvalue", "hyears", "loan")
    assert s.feature_names == names
    functions = [synth.Agrawal._classification_function_0, synth.Agrawal._classification_function_1]
    for k, (lo, hi) in enumerate([(0, 597), (603, 1200)]):
        # float32 storage rounds salary etc.; compare away from the rules' thresholds
        labels = np.array([functions[k](*row) for row in s.x[lo:hi].astype(np.float64)])
        assert (labels == s.y[lo:hi]).mean() > 0.99
    other = np.array([functions[0](*row) for row in s.x[603:].astype(np.float64)])
    assert (other == s.y[603:]).mean() < 0.8


def test_agrawal_features_and_same_seed_same_stream() -> None:
    a = drift_stream("agrawal", n=300, drifts=[100, 200], width=10, seed=3)
    b = drift_stream("agrawal", n=300, drifts=[100, 200], width=10, seed=3)
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert a.feature_names[:3] == ("salary", "commission", "age")
    elevel = a.x[:, a.feature_names.index("elevel")]
    assert set(np.unique(elevel).tolist()) <= {0, 1, 2, 3, 4}  # integer codes
    split = a.as_split()
    assert len(split) == 300 and split.y.dtype.is_floating_point is False


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"n": 0, "drifts": [], "width": 1}, "n must be"),
        ({"n": 100, "drifts": [50, 50], "width": 1}, "strictly increasing"),
        ({"n": 100, "drifts": [100], "width": 1}, "strictly increasing"),
        ({"n": 100, "drifts": [0], "width": 1}, "strictly increasing"),
        ({"n": 100, "drifts": [50], "width": 0}, "width"),
    ],
)
def test_bad_options_are_one_line_config_errors(options: dict[str, object], match: str) -> None:
    with pytest.raises(ConfigError, match=match) as err:
        drift_stream("sea", seed=0, **options)  # type: ignore[arg-type]
    assert "\n" not in str(err.value)
    with pytest.raises(ConfigError, match="did you mean 'sea'"):
        drift_stream("sae", n=10, drifts=[], width=1, seed=0)  # type: ignore[arg-type]

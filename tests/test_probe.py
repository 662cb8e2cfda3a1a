"""The shared linear probe: C chosen on validation only, splits from the data or seeded and
stratified, k-shot draws with a CI, sklearn's warnings recorded instead of printed."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from vlmaudit.data.images import memory_image
from vlmaudit.data.items import LabelledImage
from vlmaudit.errors import DataError, SpecError
from vlmaudit.scoring.probe import ProbeConfig, fit_probe, kshot_probe, probe_items


def blobs(n_per_class: int = 30, k: int = 3, d: int = 6, spread: float = 1.5, seed: int = 0):
    """Overlapping Gaussian classes (so C matters) with string labels."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((k, d)) * spread
    y = np.repeat(np.arange(k), n_per_class)
    x = centres[y] + rng.standard_normal((len(y), d))
    return x.astype(np.float32), [f"class{c}" for c in y]


def data_splits(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).choice(["train", "val", "test"], size=n, p=[0.5, 0.2, 0.3])


def test_selection_never_sees_test_items(monkeypatch):
    """Catches: C chosen on test accuracy (VLMClassifier's best-epoch-on-test), or test rows used in
    any fit. Test labels are permuted and test features replaced by noise: the grid's validation
    accuracies and the chosen C must not move, and no fit ever receives a test row."""
    x, labels = blobs()
    splits = data_splits(len(labels))
    test = splits == "test"
    base = fit_probe(x, labels, splits)
    x2, labels2 = x.copy(), np.array(labels, dtype=object)
    rng = np.random.default_rng(5)
    labels2[test] = rng.permutation(labels2[test])
    x2[test] = rng.standard_normal((test.sum(), x.shape[1])) * 50
    seen: list[np.ndarray] = []
    real_fit = LogisticRegression.fit

    def spy(self, X, y, *args, **kwargs):
        seen.append(np.asarray(X).copy())
        return real_fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", spy)
    moved = fit_probe(x2, list(labels2), splits)
    assert moved.val_accuracy == base.val_accuracy and moved.C == base.C
    assert len(seen) == len(moved.C_grid) + 1
    test_rows = {row.tobytes() for row in x2[test]}
    assert not any(row.tobytes() in test_rows for X in seen for row in X)
    assert len(seen[-1]) == int((splits != "test").sum())  # the refit uses train + val


def test_chosen_c_is_the_best_on_validation_and_recorded():
    """Catches: a chosen C that is not the validation argmax, or a grid/accuracies not reported."""
    x, labels = blobs()
    fit = fit_probe(x, labels, data_splits(len(labels)), ProbeConfig(C_grid=(100.0, 0.001, 0.1, 1.0)))
    assert fit.C_grid == (0.001, 0.1, 1.0, 100.0) and len(fit.val_accuracy) == 4
    assert fit.C_grid[int(np.argmax(fit.val_accuracy))] == fit.C
    assert len(set(fit.val_accuracy)) > 1  # C matters on this data
    assert fit.split_origin == "data" and fit.classes == ("class0", "class1", "class2")
    assert fit.scores.dtype == np.float32 and fit.scores.shape == (len(fit.test_index), 3)
    assert fit.accuracy > 0.6


def test_equal_validation_accuracies_pick_the_smallest_c():
    """Catches: ties between grid points resolved towards the weakest regularisation."""
    x, labels = blobs(spread=20.0)  # separable: every C is perfect on validation
    fit = fit_probe(x, labels, data_splits(len(labels)), ProbeConfig(C_grid=(0.1, 1.0, 10.0)))
    assert fit.val_accuracy == (1.0, 1.0, 1.0) and fit.C == 0.1


def test_missing_val_is_carved_from_train_and_test_kept():
    """Catches: a validation set carved from test items (or from everything), and an unseeded carve."""
    x, labels = blobs()
    splits = np.where(data_splits(len(labels)) == "val", "train", data_splits(len(labels)))
    fit = fit_probe(x, labels, splits, ProbeConfig(seed=3))
    assert fit.split_origin == "data+seeded val"
    assert np.array_equal(fit.splits == "test", splits == "test")
    assert set(fit.splits[splits == "train"]) == {"train", "val"}
    again = fit_probe(x, labels, splits, ProbeConfig(seed=3))
    assert np.array_equal(again.splits, fit.splits)
    assert not np.array_equal(fit_probe(x, labels, splits, ProbeConfig(seed=4)).splits, fit.splits)
    counts = [np.sum((fit.splits == "val") & (np.array(labels) == c)) for c in fit.classes]
    assert max(counts) - min(counts) <= 1  # stratified by class


def test_data_without_splits_gets_a_seeded_stratified_split():
    """Catches: an unstratified split that can leave a class out of train."""
    x, labels = blobs(n_per_class=8)
    fit = fit_probe(x, labels, None)
    assert fit.split_origin == "seeded"
    for part in ("train", "val", "test"):
        assert {labels[i] for i in np.flatnonzero(fit.splits == part)} == set(fit.classes)


def test_too_few_items_per_class_is_one_data_error_naming_the_data():
    """Catches: sklearn's stratification ValueError (or a check_classification_targets message)
    reaching the user as a traceback."""
    x, labels = blobs(n_per_class=4)
    labels[0] = "rare"  # one item
    with pytest.raises(DataError, match=r"my-data: class\(es\) \['rare'\] have one item left") as err:
        fit_probe(x, labels, None, data="my-data")
    assert "\n" not in str(err.value)
    splits = ["test"] * 4 + ["train"] * 8
    with pytest.raises(DataError, match=r"my-data: class\(es\) \['class0', 'rare'\] have no training items"):
        fit_probe(x, labels, splits, ProbeConfig(C=1.0), data="my-data")


def test_non_convergence_is_recorded_not_printed(capfd):
    """Catches: sklearn's ConvergenceWarning printed to the terminal and the result not saying so."""
    x, labels = blobs()
    with warnings.catch_warnings(record=True) as leaked:
        warnings.simplefilter("always")
        fit = fit_probe(x, labels, data_splits(len(labels)), ProbeConfig(C=1e4, max_iter=1))
    assert not leaked and capfd.readouterr().err == ""
    assert not fit.converged and fit.warnings and "C=10000" in fit.warnings[0]
    assert fit_probe(x, labels, data_splits(len(labels)), ProbeConfig(C=1.0)).converged


def test_kshot_draws_k_per_class_from_train_and_reports_a_ci(monkeypatch):
    """Catches: a k-shot draw that is not k per class, draws that are all the same (no repeats),
    a CI that does not bracket the mean, and an irreproducible draw."""
    x, labels = blobs(n_per_class=40)
    splits = data_splits(len(labels))
    sizes: list[int] = []
    real_fit = LogisticRegression.fit

    def spy(self, X, y, *args, **kwargs):
        sizes.append(len(X))
        return real_fit(self, X, y, *args, **kwargs)

    monkeypatch.setattr(LogisticRegression, "fit", spy)
    result = kshot_probe(x, labels, 4, splits, ProbeConfig(C_grid=(0.1, 1.0)), n_draws=3)
    assert set(sizes) == {12}  # 4 per class x 3 classes, selection and refit alike
    assert len(result.draws) == 3 and result.ci[0] <= result.mean <= result.ci[1]
    assert len({d.scores.tobytes() for d in result.draws}) == 3
    again = kshot_probe(x, labels, 4, splits, ProbeConfig(C_grid=(0.1, 1.0)), n_draws=3)
    assert np.array_equal(again.accuracies, result.accuracies)
    with pytest.raises(DataError, match="50-shot needs 50 training items per class"):
        kshot_probe(x, labels, 50, splits)


def test_fixed_c_matches_a_plain_sklearn_pipeline():
    """Catches: the fixed-C mode (the transforms suite's legacy settings) drifting from the
    StandardScaler + LogisticRegression(C=1) it reproduces."""
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    x, labels = blobs()
    splits = np.where(data_splits(len(labels)) == "test", "test", "train")
    fit = fit_probe(x, labels, splits, ProbeConfig(C=1.0, standardize=True, tie_policy="argmax-first"))
    train = splits == "train"
    y = np.array([int(s[-1]) for s in labels])
    model = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=1000, random_state=0))
    model.fit(x[train], y[train])
    assert np.array_equal(fit.predicted, model.predict(x[~train]))
    assert fit.C_grid == () and fit.val_accuracy == ()


def test_binary_probe_and_items_helper():
    """Catches: sklearn's one-column binary decision function mis-shaped into K=2 scores."""
    x, labels = blobs(k=2)
    splits = data_splits(len(labels))
    items = [LabelledImage(_ref(i), lab, {}, s, f"i{i}")
             for i, (lab, s) in enumerate(zip(labels, splits, strict=True))]
    fit = probe_items(x, items, ("class1", "class0"), ProbeConfig(C=1.0))
    assert fit.scores.shape[1] == 2 and fit.top5 is None and fit.classes == ("class1", "class0")
    gold_names = [fit.classes[g] for g in fit.gold]
    assert gold_names == [labels[i] for i in fit.test_index]
    assert fit.accuracy == float(np.mean(fit.predicted == fit.gold))


def _ref(i: int):
    from PIL import Image

    return memory_image(Image.new("RGB", (2, 2), (i % 256, 0, 0)))


def test_bad_config_is_a_spec_error():
    """Catches: a zero C or an empty grid reaching sklearn (its error names no option)."""
    x, labels = blobs()
    for config in (ProbeConfig(C=0.0), ProbeConfig(C_grid=()), ProbeConfig(val_fraction=1.5),
                   ProbeConfig(tie_policy="first")):
        with pytest.raises(SpecError):
            fit_probe(x, labels, None, config)

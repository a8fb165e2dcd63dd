"""Taggers of K > 2 classes: train, predict and evaluate on JetClass-layout stores.

The shipped JetClass-layout sample (five classes in blocks of 600 jets: its
ROOT files hold one class each) gives two stores at npix 16: the store that
``jetimg build`` makes of it, which names JetClass's ten classes of which
five are present (K = 10), and a store of the same jets whose labels name
only the five (K = 5, built from plain arrays with a ``label_names``
attribute). Each trains a DeepTop-style CNN for one epoch, in batches that
divide its jets (a short last batch would cost one more compilation). The
figures of ``evaluate`` are recomputed here by slow, obvious loops.
"""

import json

import h5py
import numpy as np
import pytest

import jetimg
import jetimg.data
from jetimg.errors import InputError, JetimgError
from jetimg import train as T
from jetimg.io import open_jets
from jetimg.train.models import _keras, _quiet_keras

from .helpers import assert_matches, invoke, slow_auc, slow_summary

try:
    _keras()                # selects PyTorch, else JAX, when no installed backend is configured
except JetimgError as exc:  # pragma: no cover
    pytest.skip(f"no Keras 3: {exc}", allow_module_level=True)

NPIX = 16
JETCLASS = ["QCD", "Hbb", "Hcc", "Hgg", "H4q", "Hqql", "Zqq", "Wqq", "Tbqq", "Tbl"]
FIVE = ["QCD", "Hbb", "Zqq", "Wqq", "Tbqq"]


def _one_line_error(out, *words):
    """A refusal on the command line: exit 1, one line naming ``words``, no traceback."""
    assert out.exit_code == 1, out.output
    assert len(out.output.strip().splitlines()) == 1, out.output
    assert "Traceback" not in out.output
    for word in words:
        assert word in out.output, out.output


def _array_store(folder, name, jets, labels, label_names=None, **options):
    """A store built from plain arrays in HDF5; ``label_names`` as the labels' attribute."""
    path = folder / f"{name}.h5"
    with h5py.File(path, "w") as f:
        f["jets"] = jets
        f["labels"] = labels
        if label_names is not None:
            f["labels"].attrs["label_names"] = list(label_names)
    out = folder / f"{name}.zarr"
    jetimg.build(path, out, npix=NPIX, **options)
    return out


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    """The JetClass-layout sample: its K = 10 store (chunks of 200 rows, so each chunk
    holds one class) and a K = 5 train / val split of the same jets."""
    folder = tmp_path_factory.mktemp("multiclass")
    jc10 = folder / "jc10.zarr"
    jetimg.build(str(jetimg.data.sample_path("jetclass")) + "/*.root", jc10, npix=NPIX,
                 chunk_size=200)
    parts = []
    for path in jetimg.data.sample_files("jetclass"):
        source = open_jets(path)
        parts.append(source.read(0, source.n_rows))
        source.close()
    width = max(j.shape[1] for j, _ in parts)
    jets = np.concatenate([np.pad(j, ((0, 0), (0, width - j.shape[1]), (0, 0)))
                           for j, _ in parts])
    labels10 = np.concatenate([lab for _, lab in parts]).astype(np.int8)
    labels5 = np.searchsorted([JETCLASS.index(n) for n in FIVE], labels10).astype(np.int8)
    assert [FIVE[k] for k in labels5[::600]] == [JETCLASS[k] for k in labels10[::600]]
    val = np.arange(len(jets)) % 5 == 0                 # 120 jets of each class
    return {"folder": folder, "jc10": jc10, "jets": jets, "labels10": labels10,
            "train5": _array_store(folder, "train5", jets[~val], labels5[~val], FIVE),
            "val5": _array_store(folder, "val5", jets[val], labels5[val], FIVE),
            "val_jets": jets[val], "val_labels": labels5[val]}


@pytest.fixture(scope="module")
def model5(sample):
    return T.train(sample["train5"], sample["val5"], sample["folder"] / "m5.keras",
                   arch="deeptop", epochs=1, seed=2, batch_size=120, plot=False, log=False)


@pytest.fixture(scope="module")
def model10(sample):
    return T.train(sample["jc10"], sample["jc10"], sample["folder"] / "m10.keras",
                   arch="deeptop", epochs=1, seed=3, batch_size=250, plot=False, log=False)


# ---------------------------------------------------------------------------
# the figures (recomputed slowly in tests/helpers.py; the metrics alone in tests/test_metrics.py)
# ---------------------------------------------------------------------------

def test_without_qcd_the_rejections_are_left_out(tmp_path):
    """No QCD class: said once (notes; one line on the CLI), every other figure given."""
    from jetimg.toys import toy_jets

    jets, _ = toy_jets(300, seed=5)
    labels = np.arange(300) % 3
    store = _array_store(tmp_path, "three", jets, labels.astype(np.int8), ["Hbb", "Zqq", "Wqq"])
    scores = np.random.default_rng(1).dirichlet([1, 1, 1], size=300).astype(np.float32)
    m = T.evaluate(store, scores=scores).metrics
    assert m["background_rejection"] == {} and m["signal_efficiency"] == {}
    assert len(m["notes"]) == 1 and "no 'QCD' class among label_names [Hbb, Zqq, Wqq]" \
        in m["notes"][0]
    assert set(m["auc"]) == {"Hbb", "Zqq", "Wqq"}
    np.save(tmp_path / "s.npy", scores)
    out = invoke("evaluate", "--scores", tmp_path / "s.npy", store, "--no-plots")
    assert out.exit_code == 0, out.output
    assert out.output.count("no 'QCD' class") == 1 and "1/eps_QCD" in out.stdout
    out = invoke("evaluate", "--scores", tmp_path / "s.npy", store, "--no-plots", "--json")
    assert json.loads(out.stdout)["notes"] == m["notes"]
    # QCD named but without jets in the store: said so too
    store = _array_store(tmp_path, "noqcd", jets, labels.astype(np.int8) + 1,
                         ["QCD", "Hbb", "Zqq", "Wqq"])
    m = T.evaluate(store, scores=np.c_[np.zeros(300), scores]).metrics
    assert m["notes"] == ["no QCD jets: the rejections against QCD are not computed"]
    assert set(m["n_per_class"]) == {"Hbb", "Zqq", "Wqq"}


def test_each_auc_named_for_what_it_is(tmp_path):
    """The table, the JSON and the ROC legend name the AUC against the rest and the AUC
    against QCD apart; each equals its slow recomputation."""
    from jetimg.toys import toy_jets

    jets, _ = toy_jets(400, seed=6)
    labels = (np.arange(400) % 4).astype(np.int8)
    names = ["QCD", "Hbb", "Zqq", "Wqq"]
    store = _array_store(tmp_path, "four", jets, labels, names)
    logits = np.random.default_rng(2).normal(size=(400, 4))
    logits[np.arange(400), labels] += 1.5
    scores = (np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)).astype(np.float32)
    np.save(tmp_path / "s.npy", scores)
    out = invoke("evaluate", "--scores", tmp_path / "s.npy", store, "--no-plots", "--json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    rest, qcd = data["auc_vs_rest"], data["auc_vs_qcd"]
    assert data["auc"] == rest and data["auc_mean"] == data["auc_vs_rest_mean"]  # old names
    assert set(rest) == set(names) and set(qcd) == set(names[1:])
    for k, name in enumerate(names):
        mine = scores[labels == k, k].astype(np.float64)
        assert rest[name] == pytest.approx(slow_auc(mine, scores[labels != k, k]), abs=1e-12)
        if k:
            pair = scores[:, k].astype(np.float64) / (scores[:, k] + scores[:, 0])
            assert qcd[name] == pytest.approx(
                slow_auc(pair[labels == k], pair[labels == 0]), abs=1e-12)
            assert qcd[name] != pytest.approx(rest[name], abs=1e-3)  # two figures, not one
    out = invoke("evaluate", "--scores", tmp_path / "s.npy", store, "--plots", tmp_path / "ev")
    assert out.exit_code == 0, out.output
    header = out.stdout.splitlines()[1].split()
    assert header == ["class", "jets", "AUC", "vs", "rest", "AUC", "vs", "QCD", "1/eps_QCD"]
    hbb = out.stdout.splitlines()[3].split()
    assert hbb[:4] == ["Hbb", "100", f"{rest['Hbb']:.4f}", f"{qcd['Hbb']:.4f}"]
    # the ROC figure draws each class against QCD: its legend says so, with the same AUC
    roc = jetimg.plots.plot_roc(labels, scores, label_names=names, background="QCD")
    texts = [t.get_text() for t in roc.axes[0].get_legend().get_texts()]
    assert f"Hbb: AUC vs QCD = {qcd['Hbb']:.4f}" in " ".join(texts)
    roc = jetimg.plots.plot_roc(labels, scores, label_names=names)
    texts = [t.get_text() for t in roc.axes[0].get_legend().get_texts()]
    assert f"Hbb: AUC vs rest = {rest['Hbb']:.4f}" in " ".join(texts)


# ---------------------------------------------------------------------------
# class-sorted stores
# ---------------------------------------------------------------------------

def test_class_sorted_store_is_mixed_in_every_batch(sample):
    """A store built from files of one class each: every training batch holds several
    classes, and the chunk order is drawn anew over the whole store every epoch."""
    stored = jetimg.open_store(sample["jc10"])["labels"][:]
    assert (np.diff(stored) != 0).sum() == 4               # five blocks of one class
    ds = T.StoreDataset(sample["jc10"], batch_size=128, seed=0)
    assert ds.chunk_rows == 200 and ds.n_jets == 3000
    for _ in range(2):
        for i in range(len(ds) - 1):                        # the last batch is short
            assert len(np.unique(ds[i][1])) >= 3, i
        ds.on_epoch_end()
    # a buffer of two chunks: the chunks of the epoch in a random order, new each epoch
    small = T.StoreDataset(sample["jc10"], batch_size=128, seed=0, buffer_size=400)
    orders = []
    for _ in range(2):
        chunks = small.order // 200
        first_seen = chunks[np.sort(np.unique(chunks, return_index=True)[1])]
        assert sorted(first_seen.tolist()) == list(range(15))
        orders.append(first_seen)
        small.on_epoch_end()
    assert not np.array_equal(orders[0], np.arange(15))
    assert not np.array_equal(orders[0], orders[1])


# ---------------------------------------------------------------------------
# K = 5 and K = 10 end to end
# ---------------------------------------------------------------------------

def test_five_classes_end_to_end(sample, model5, tmp_path):
    import keras

    r = model5
    assert (r.n_classes, r.label_names, r.n_train, r.n_val) == (5, FIVE, 2400, 600)
    meta = T.read_metadata(r.output)
    assert meta["n_classes"] == 5 and meta["label_names"] == FIVE and meta["classes"] == FIVE
    net = keras.saving.load_model(r.output)
    assert net.output_shape == (None, 5)
    scores = T.predict(r.output, sample["val5"])
    assert scores.shape == (600, 5) and scores.dtype == np.float32
    np.testing.assert_allclose(scores.sum(axis=1), 1.0, atol=1e-5)
    images = jetimg.open_store(sample["val5"])["images"][:]
    with _quiet_keras():
        plain = net.predict(images, verbose=0)
    np.testing.assert_allclose(scores, plain, atol=1e-5)
    # row order: a permuted store gives the permuted rows; invalid jets keep theirs, NaN
    perm = np.random.default_rng(4).permutation(600)
    jets = sample["val_jets"][perm].copy()
    bad = [5, 333]
    jets[bad, 0, 0] = np.nan
    shuffled = _array_store(tmp_path, "perm", jets, sample["val_labels"][perm], FIVE,
                            invalid="skip")
    permuted = T.predict(r.output, shuffled)
    assert np.flatnonzero(np.isnan(permuted).all(axis=1)).tolist() == bad
    assert not np.isnan(np.delete(permuted, bad, axis=0)).any()
    np.testing.assert_allclose(np.delete(permuted, bad, axis=0),
                               np.delete(scores[perm], bad, axis=0), atol=1e-6)
    # evaluate: every figure recomputed slowly
    evaluation = T.evaluate(sample["val5"], model=r.output, plots=tmp_path / "ev")
    m = evaluation.metrics
    np.testing.assert_array_equal(evaluation.labels, sample["val_labels"])
    assert_matches(m, slow_summary(sample["val_labels"], scores, FIVE))
    assert m["n_per_class"] == dict.fromkeys(FIVE, 120) and m["n_invalid"] == 0
    assert evaluation.plots == [str(tmp_path / f"ev_{n}.png")
                                for n in ("roc", "scores", "confusion")]
    assert all((tmp_path / f"ev_{n}.png").stat().st_size > 0
               for n in ("roc", "scores", "confusion"))
    # the command line: predict writes (N, K); evaluate --scores gives the same figures
    out = invoke("predict", r.output, sample["val5"], "-o", tmp_path / "s.npy", "-q")
    assert out.exit_code == 0, out.output
    assert "600 jets x 5 class probabilities (QCD, Hbb, Zqq, Wqq, Tbqq)" in out.stdout
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), scores, atol=1e-6)
    out = invoke("evaluate", "--scores", tmp_path / "s.npy", sample["val5"], "--json",
                 "--no-plots")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert set(data) == {"n_jets", "n_classes", "label_names", "n_per_class", "accuracy",
                         "confusion_matrix", "auc", "auc_mean", "auc_vs_rest",
                         "auc_vs_rest_mean", "auc_vs_qcd", "signal_efficiency",
                         "background_rejection", "notes", "n_invalid", "store", "vary", "plots"}
    assert data["accuracy"] == pytest.approx(m["accuracy"])
    assert data["confusion_matrix"] == m["confusion_matrix"]
    out = invoke("evaluate", "--scores", tmp_path / "s.npy", sample["val5"], "-o", tmp_path)
    assert out.exit_code == 0, out.output
    assert "600 jets of 5 of 5 classes: accuracy" in out.stdout
    assert "confusion matrix (rows: true class" in out.stdout
    assert (tmp_path / "val5_confusion.png").exists()


def test_jetclass_ten_classes_five_present(sample, model10, tmp_path):
    r = model10
    assert (r.n_classes, r.label_names) == (10, JETCLASS)
    scores = T.predict(r.output, sample["jc10"])
    assert scores.shape == (3000, 10)
    evaluation = T.evaluate(sample["jc10"], model=r.output)
    m = evaluation.metrics
    labels = sample["labels10"]
    np.testing.assert_array_equal(evaluation.labels, labels)
    assert_matches(m, slow_summary(labels, scores, JETCLASS))
    # absent classes are left out; the confusion matrix keeps their (empty) rows
    assert set(m["auc"]) == set(FIVE) and set(m["background_rejection"]) == set(FIVE[1:])
    assert np.asarray(m["confusion_matrix"]).shape == (10, 10)
    assert np.asarray(m["confusion_matrix"])[[2, 3, 4, 5, 9]].sum() == 0
    # the ROOT files themselves: their images made with the model's recipe
    root = jetimg.data.sample_files("jetclass")[0]
    np.testing.assert_allclose(T.predict(r.output, root), scores[:600], atol=1e-6)


# ---------------------------------------------------------------------------
# refusals
# ---------------------------------------------------------------------------

def test_different_classes_refused(sample, model5, model10, tmp_path):
    five = r"\[QCD, Hbb, Zqq, Wqq, Tbqq\]"
    ten = r"\[QCD, Hbb, Hcc, Hgg, H4q, Hqql, Zqq, Wqq, Tbqq, Tbl\]"
    with pytest.raises(InputError, match=f"jc10.zarr has label_names {ten} but the training "
                                         f"data .*train5.zarr has {five}"):
        T.train(sample["train5"], sample["jc10"], tmp_path / "x.keras", epochs=1)
    with pytest.raises(InputError, match=f"jc10.zarr has label_names {ten} but the model "
                                         rf"\(its training store\) has {five}"):
        T.predict(model5.output, sample["jc10"])
    with pytest.raises(InputError, match=f"val5.zarr has label_names {five} but the model "
                                         rf"\(its training store\) has {ten}"):
        T.evaluate(sample["val5"], model=model10.output)
    with pytest.raises(InputError, match=r"scores have shape \(600,\) but .*val5.zarr holds "
                                         rf"600 jets of 5 classes {five}"):
        T.evaluate(sample["val5"], scores=np.zeros(600))
    # labels beyond 0 and 1 in a store without label_names
    store = _array_store(tmp_path, "unnamed", sample["val_jets"], sample["val_labels"])
    with pytest.raises(InputError, match="unnamed.zarr has labels 2, 3, 4 but no label_names"):
        T.train(store, store, tmp_path / "y.keras", epochs=1)
    assert not list(tmp_path.glob("*.keras"))
    # on the command line: one line each
    _one_line_error(invoke("train", sample["train5"], "--val", sample["jc10"], "-o",
                           tmp_path / "x.keras", "--epochs", 1),
                    "has label_names [QCD, Hbb, Hcc", "has [QCD, Hbb, Zqq, Wqq, Tbqq]")
    _one_line_error(invoke("predict", model5.output, sample["jc10"], "-o", tmp_path / "s.npy"),
                    "jc10.zarr has label_names [QCD, Hbb, Hcc")
    _one_line_error(invoke("evaluate", model10.output, sample["val5"], "--no-plots"),
                    "val5.zarr has label_names [QCD, Hbb, Zqq, Wqq, Tbqq]")
    np.save(tmp_path / "s1.npy", np.zeros(600, np.float32))
    _one_line_error(invoke("evaluate", "--scores", tmp_path / "s1.npy", sample["val5"],
                           "--no-plots"),
                    "give (600, 5) class probabilities")
    assert not list(tmp_path.glob("*.png")) and not (tmp_path / "s.npy").exists()

"""The CNN trainer (jetimg.train), its metrics (jetimg.metrics) and commands.

Toy jets at npix 16 (a few thousand, one or two epochs) keep the file to
seconds of training; the model is trained once per module. Where a test does not
look at the batches, their size divides the jets: each batch size costs one more
compilation of the network (the short last batch too).
"""

import io
import json
import pathlib
import sys
import time
import zipfile

import numpy as np
import pytest

import jetimg
from jetimg.errors import InputError, JetimgError, OutputExistsError
from jetimg.toys import toy_jets

from jetimg import train as T
from jetimg.train.models import _keras, _quiet_keras
from jetimg.train.progress import ProgressBar, ProgressLines, TrainStatus

from .helpers import invoke

try:
    _keras()                # selects PyTorch, else JAX, when no installed backend is configured
except JetimgError as exc:  # pragma: no cover
    pytest.skip(f"no Keras 3: {exc}", allow_module_level=True)

NPIX = 16


def _save(folder, name, jets, labels=None):
    np.save(folder / f"{name}_jets.npy", jets)
    if labels is not None:
        np.save(folder / f"{name}_labels.npy", labels)
        return folder / f"{name}_jets.npy", str(folder / f"{name}_labels.npy")
    return folder / f"{name}_jets.npy", None


def _store(folder, name, jets, labels=None, out=None, **options):
    path, labels_key = _save(folder, name, jets, labels)
    out = folder / (out or f"{name}.zarr")
    jetimg.build(path, out, npix=options.pop("npix", NPIX), labels_key=labels_key, **options)
    return out


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Toy stores: train (3,000 jets, Zarr), val (1,000, HDF5) and the val jets."""
    folder = tmp_path_factory.mktemp("train")
    train_jets, train_labels = toy_jets(3000, seed=11)
    val_jets, val_labels = toy_jets(1000, seed=12)
    return {"folder": folder,
            "train": _store(folder, "train", train_jets, train_labels),
            "val": _store(folder, "val", val_jets, val_labels, out="val.h5"),
            "val_jets": val_jets, "val_labels": val_labels}


@pytest.fixture(scope="module")
def trained(data):
    """The default CNN trained two epochs on the toy store, and what it reported
    (batches of 100: no short last batch to compile for)."""
    statuses = []
    result = T.train(data["train"], data["val"], data["folder"] / "model.keras", epochs=2,
                     batch_size=100, seed=1, progress=statuses.append)
    return result, statuses


# ---------------------------------------------------------------------------
# training
# ---------------------------------------------------------------------------

def test_train_separates_toy_jets(data, trained):
    result, statuses = trained
    lines = [str(s) for s in statuses if s.kind == "epoch"]
    assert result.epochs_run == 2 and len(lines) == 2
    assert lines[0].startswith("epoch 1/2  loss ") and "training images/s" in lines[0]
    # a status after every step: 3,000 jets in batches of 100 are 30 steps an epoch
    steps = [(s.epoch, s.step, s.steps) for s in statuses if s.kind == "step"]
    assert steps == [(e, i, 30) for e in (1, 2) for i in range(1, 31)]
    assert set(result.history) >= {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert result.best_epoch == int(np.argmin(result.history["val_loss"])) + 1
    assert (result.n_train, result.n_val) == (3000, 1000)
    evaluation = T.evaluate(data["val"], model=result.output)
    assert evaluation.metrics["auc"] > 0.8, evaluation.metrics
    assert evaluation.metrics["n_jets"] == 1000
    # the log has one row per epoch; the history plot exists
    log = (data["folder"] / "model_log.csv").read_text().splitlines()
    assert len(log) == 3 and log[0].split(",")[0] == "epoch"
    assert (data["folder"] / "model_history.png").stat().st_size > 0


def test_input_scale_makes_pixels_order_one(data, trained):
    result, _ = trained
    images = jetimg.open_store(data["train"])["images"][:1000].astype(np.float64)
    scaled = images * result.input_scale
    assert np.mean(scaled ** 2) == pytest.approx(1.0, rel=0.05)
    assert np.abs(images[images > 0]).mean() < 0.2          # raw: far below 1


def test_model_file_is_self_contained(data, trained):
    """keras.saving.load_model alone gives the same scores: the scaling is inside."""
    import keras

    result, _ = trained
    meta = T.read_metadata(result.output)
    assert meta["arch"] == "challenge" and meta["npix"] == NPIX
    assert meta["input_scale"] == pytest.approx(result.input_scale)
    assert meta["recipe"] == jetimg.open_store(data["train"]).attrs["recipe"]
    assert meta["best_epoch"] == result.best_epoch
    images = jetimg.open_store(data["val"])["images"][:]
    with _quiet_keras():
        plain = keras.saving.load_model(result.output).predict(images, verbose=0)[:, 1]
    scores = T.predict(result.output, data["val"])
    np.testing.assert_allclose(scores, plain, atol=1e-5)
    with zipfile.ZipFile(result.output) as z:
        assert T.METADATA_NAME in z.namelist()


@pytest.mark.parametrize("configured", [None, "jax"])
def test_backend_chosen_when_none_installed_is_configured(tmp_path, configured):
    """No KERAS_BACKEND: a configured backend that is installed is kept; otherwise PyTorch
    where it is installed (it trains these networks faster on a CPU), else JAX."""
    import importlib.util
    import os
    import subprocess

    home = tmp_path / "keras_home"
    home.mkdir()
    if configured:
        (home / "keras.json").write_text(json.dumps({"backend": configured}))
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["KERAS_HOME"] = str(home)
    code = "from jetimg.train.models import _keras; print(_keras().backend.backend())"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    wanted = configured or "tensorflow"                 # Keras' default without keras.json
    if importlib.util.find_spec(wanted) is not None:
        expected = wanted
    else:
        expected = "torch" if importlib.util.find_spec("torch") is not None else "jax"
    assert out.stdout.split()[-1] == expected


def test_jax_trained_model_scores_on_any_backend(data, tmp_path):
    """`jetimg train` on JAX (what the train extra alone installs): its model file loads
    and scores in this process's backend, and the scores separate the classes."""
    import importlib.util
    import os
    import subprocess

    if importlib.util.find_spec("jax") is None:
        pytest.skip("JAX is not installed")
    command = pathlib.Path(sys.executable).with_name("jetimg")
    if not command.exists():
        pytest.skip(f"the jetimg command is not installed beside {sys.executable}")
    model = tmp_path / "jax.keras"
    out = subprocess.run([str(command), "train", str(data["train"]), "--val", str(data["val"]),
                          "-o", str(model), "--epochs", "1", "--seed", "1", "-q"],
                         env={**os.environ, "KERAS_BACKEND": "jax"}, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert T.read_metadata(model)["backend"] == "jax"
    evaluation = T.evaluate(data["val"], model=model)
    assert evaluation.metrics["auc"] > 0.8


def test_output_exists_refused(data, trained, tmp_path):
    result, _ = trained
    other = _store(tmp_path, "o", data["val_jets"][:100], data["val_labels"][:100], npix=20)
    with pytest.raises(InputError, match="has 20x20 images but the training data"):
        T.train(data["train"], other, tmp_path / "m.keras", epochs=1)
    assert list(tmp_path.glob("*.keras")) == []
    with pytest.raises(OutputExistsError, match="already exists"):
        T.train(data["train"], data["val"], result.output, epochs=1)
    with pytest.raises(InputError, match="must end in .keras"):
        T.train(data["train"], data["val"], data["folder"] / "model.h5", epochs=1)


def test_seed_reproducible_and_deeptop(data, tmp_path):
    runs = []
    for i in range(2):
        r = T.train(data["val"], data["val"], tmp_path / f"dt{i}.keras", arch="deeptop",
                    epochs=1, seed=5, batch_size=250, log=False, plot=False)
        runs.append(T.predict(r.output, data["val"]))
    np.testing.assert_array_equal(runs[0], runs[1])
    assert not (tmp_path / "dt0_log.csv").exists()


def test_interrupt_keeps_best_model(data, tmp_path):
    """Ctrl-C during training writes the best model so far, then re-raises."""
    def progress(status):
        if status.epoch == 2 and status.step == 3:      # in the middle of epoch 2
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt) as info:
        T.train(data["val"], data["val"], tmp_path / "i.keras", arch="deeptop", epochs=5,
                batch_size=125, seed=1, progress=progress, plot=False)
    result = info.value.result
    assert result.epochs_run in (1, 2) and T.read_metadata(result.output)["interrupted"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["i.keras", "i_log.csv"]


def test_images_per_second_count_training_steps_only(data, tmp_path, monkeypatch):
    """The rate is the images of the timed training steps over their summed time: a slow
    validation (a sleep in each of its batches) stays out of it, and so do the steps
    that compile (the first batch of each size). Keras trains on the dataset's epoch,
    each batch once and the short one last, so the steps' sizes are the batches'."""
    from jetimg.streams.batches import Batches

    batch = Batches.batch
    reads = []

    def slow_validation(self, index):
        if not self.shuffle:            # validation reads in order, training shuffles
            time.sleep(0.2)
        else:
            reads.append((self.epoch, index))
        return batch(self, index)

    monkeypatch.setattr(Batches, "batch", slow_validation)
    jets, labels = toy_jets(700, seed=31)
    train_store = _store(tmp_path, "t", jets[:400], labels[:400])
    val_store = _store(tmp_path, "v", jets[400:], labels[400:])
    statuses = []
    result = T.train(train_store, val_store, tmp_path / "r.keras", arch="deeptop", epochs=1,
                     batch_size=64, seed=3, workers=2, log=False, plot=False,
                     progress=statuses.append)
    steps = [s for s in statuses if s.kind == "step"]
    (epoch,) = [s for s in statuses if s.kind == "epoch"]
    assert [s.step_images for s in steps] == [64] * 6 + [16]
    assert [s.compiles for s in steps] == [True] + [False] * 5 + [True]
    timed = [s for s in steps if not s.compiles]
    rate = sum(s.step_images for s in timed) / sum(s.step_seconds for s in timed)
    assert result.images_per_second == pytest.approx(rate, rel=1e-9)
    assert epoch.images_per_second == pytest.approx(rate, rel=1e-9)
    assert T.read_metadata(result.output)["train_images_per_second"] == pytest.approx(rate)
    assert result.train_seconds == pytest.approx(sum(s.step_seconds for s in steps))
    assert result.compile_seconds == pytest.approx(
        sum(s.step_seconds for s in steps if s.compiles))
    # the first batch, read to build the model, then the 7 batches of epoch 1, once each
    assert reads[0] == (0, 0) and sorted(reads[1:]) == [(1, i) for i in range(7)]
    assert steps[-1].seconds == pytest.approx(result.train_seconds)
    # validation (300 jets: 5 batches of 64, each sleeping 0.2 s, on two reader threads)
    # is outside the steps
    assert epoch.epoch_seconds - result.train_seconds >= 3 * 0.2
    assert f"{rate:,.0f} training images/s" in str(epoch)


def _status(step, steps=100, kind="step", epoch=1):
    return TrainStatus(kind, epoch=epoch, epochs=3, step=step, steps=steps,
                       images=step * 10, seconds=step * 0.5, images_per_second=20.0,
                       seconds_left=(steps - step) * 0.5, loss=0.5, accuracy=0.75,
                       val_loss=0.4, val_accuracy=0.8, best=True, epoch_seconds=60.0)


def test_progress_lines_every_tenth():
    lines = []
    progress = ProgressLines(lines.append, seconds=1e9)
    for epoch in (1, 2):
        for step in range(1, 101):
            progress(_status(step, epoch=epoch))
        progress(_status(100, kind="epoch", epoch=epoch))
    assert len(lines) == 22
    assert lines[0] == ("epoch 1/3: step 10 of 100 (10%), loss 0.5000, acc 0.7500, "
                        "20 training images/s, 0:00:45 left")
    assert lines[9].startswith("epoch 1/3: step 100 of 100 (100%), ")
    assert lines[10] == ("epoch 1/3  loss 0.5000  acc 0.7500  val_loss 0.4000  "
                         "val_acc 0.8000  60.0 s  20 training images/s  *best")
    assert lines[11].startswith("epoch 2/3: step 10 of 100 (10%)")
    # seconds=0: a line after every step
    every = []
    progress = ProgressLines(every.append, seconds=0)
    for step in range(1, 8):
        progress(_status(step))
    assert len(every) == 7


def test_progress_bar_redraws_one_line():
    stream = io.StringIO()
    with ProgressBar(stream, interval=0, width=100) as bar:
        for step in (1, 50):
            bar(_status(step))
        bar(_status(100, kind="epoch"))
        bar(_status(1, epoch=2))
    out = stream.getvalue()
    assert out.startswith("\repoch 1/3 [") and "]  50/100  loss 0.5000" in out
    assert "  20 images/s  0:00:25 left" in out
    # the epoch's line replaces the bar and stays; the next bar, ended by close
    before, after = out.split("\n", 1)
    assert before.endswith("epoch 1/3  loss 0.5000  acc 0.7500  val_loss 0.4000  val_acc "
                           "0.8000  60.0 s  20 training images/s  *best")
    assert after.startswith("\repoch 2/3 [") and after.endswith("\n")
    # the bar keeps its place: every step's line has one length
    assert len({len(_status(step).bar(100)) for step in range(1, 101)}) == 1
    assert len(_status(50).bar(40)) <= 40


def test_cli_progress_choice(monkeypatch):
    """The command shows a bar on a terminal, lines elsewhere, nothing with --quiet."""
    from jetimg_cli import progress as cli_progress

    with cli_progress.train_progress(quiet=True) as progress:
        assert progress is None
    with cli_progress.train_progress() as progress:
        assert isinstance(progress, ProgressLines)          # pytest's stderr: no terminal
    monkeypatch.setattr(cli_progress, "_is_terminal", lambda stream: True)
    with cli_progress.train_progress() as progress:
        assert isinstance(progress, ProgressBar)


def test_build_model_shapes():
    for arch in T.ARCHS:
        model = T.build_model(arch, 40, input_scale=3.0)
        assert model.input_shape == (None, 40, 40) and model.output_shape == (None, 2)
    with pytest.raises(InputError, match="npix >= 9"):
        T.build_model("challenge", 8)
    with pytest.raises(InputError, match="npix=0 must be an integer >= 1"):
        T.build_model("deeptop", 0)
    with pytest.raises(InputError, match="choose one of challenge, deeptop"):
        T.build_model("resnet", 40)


# ---------------------------------------------------------------------------
# predict: row order, layouts, recipe checks
# ---------------------------------------------------------------------------

def test_predict_keeps_row_order(data, trained, tmp_path):
    result, _ = trained
    perm = np.random.default_rng(3).permutation(len(data["val_jets"]))
    shuffled = _store(tmp_path, "shuffled", data["val_jets"][perm], data["val_labels"][perm])
    scores = T.predict(result.output, data["val"])
    np.testing.assert_allclose(T.predict(result.output, shuffled), scores[perm], atol=1e-6)
    # the constituents file itself: images made with the model's recipe
    jets_file, _ = _save(tmp_path, "raw", data["val_jets"])
    np.testing.assert_allclose(T.predict(result.output, jets_file), scores, atol=1e-6)


def test_predict_pandas_images_layout(data, trained, tmp_path):
    pytest.importorskip("tables")
    result, _ = trained
    path, labels_key = _save(tmp_path, "p", data["val_jets"][:300], data["val_labels"][:300])
    jetimg.build(path, tmp_path / "p_img.h5", npix=NPIX, labels_key=labels_key,
                 layout="pandas-images")
    source = T.open_images(tmp_path / "p_img.h5")
    assert (source.layout, source.npix, source.n_rows) == ("pandas-images", NPIX, 300)
    np.testing.assert_array_equal(source.labels_all(), data["val_labels"][:300])
    scores = T.predict(result.output, tmp_path / "p_img.h5")
    np.testing.assert_allclose(scores, T.predict(result.output, data["val"])[:300], atol=1e-6)


def test_predict_checks_recipe(data, trained, tmp_path):
    result, _ = trained
    jets, labels = data["val_jets"][:100], data["val_labels"][:100]
    other_npix = _store(tmp_path, "a", jets, labels, npix=20)
    with pytest.raises(InputError, match="has 20x20 images but the model .* expects 16x16"):
        T.predict(result.output, other_npix)
    other_center = _store(tmp_path, "b", jets, labels, center="leading")
    with pytest.raises(InputError, match="another recipe .* center='leading' "
                                         r"\(expected 'centroid'\)"):
        T.predict(result.output, other_center)


def test_a_varied_store_is_scored_with_a_note_and_refused_as_validation(data, trained,
                                                                         tmp_path):
    """A store that differs from the model's recipe only in ``vary`` is scored (a
    nominal model on a shifted sample), saying so once; as validation data of a
    nominal training store it is refused, as another recipe is."""
    result, _ = trained
    jets, labels = data["val_jets"][:200], data["val_labels"][:200]
    varied = _store(tmp_path, "v", jets, labels, vary="smear=0.2,drop=0.3,seed=1")
    nominal = _store(tmp_path, "n", jets, labels)
    notes = []
    scores = T.predict(result.output, varied, notify=notes.append)
    assert len(notes) == 1 and "varied with vary smear=0.2,drop=0.3,seed=1" in notes[0]
    assert "the model (its training data) is of the nominal jets" in notes[0]
    assert not np.allclose(scores, T.predict(result.output, nominal))
    ev = T.evaluate(varied, model=result.output, notify=notes.append)
    assert len(notes) == 2 and ev.metrics["vary"]["smear"] == 0.2
    assert T.evaluate(nominal, model=result.output).metrics["vary"] is None
    out = invoke("evaluate", result.output, varied, "--no-plots")
    assert out.exit_code == 0 and out.stderr.count("note: ") == 1, out.output
    assert "AUC" in out.stdout
    with pytest.raises(InputError, match=r"another recipe .* vary='smear=0.2,drop=0.3,seed=1' "
                                         r"\(expected None\)"):
        T.train(data["train"], varied, tmp_path / "m.keras", epochs=1, batch_size=100)


def test_invalid_jets_kept_in_predict_dropped_in_training(data, trained, tmp_path):
    result, _ = trained
    more_jets, more_labels = toy_jets(3000, seed=13)
    jets = np.concatenate([data["val_jets"], more_jets])          # 4,000 jets: 4 chunks
    labels = np.concatenate([data["val_labels"], more_labels])
    bad = [3, 1200, 2999]
    jets[bad, 0, 0] = np.nan
    store = _store(tmp_path, "inv", jets, labels, invalid="skip")
    scores = T.predict(result.output, store)
    assert scores.shape == (len(jets),)
    assert np.flatnonzero(np.isnan(scores)).tolist() == bad      # the rows kept, scored NaN
    out = invoke("predict", result.output, store, "-o", tmp_path / "inv.npy", "-q")
    assert out.exit_code == 0, out.output
    assert f"4000 scores (mean {np.nanmean(scores):.3f}), 3 invalid jets scored NaN" in out.stdout
    np.testing.assert_array_equal(np.load(tmp_path / "inv.npy"), scores)
    data_set = T.StoreDataset(store, batch_size=64, seed=0)
    assert data_set.n_jets == len(jets) - 3 and data_set.n_invalid == 3
    assert not np.isin(bad, data_set.order).any()
    evaluation = T.evaluate(store, scores=scores)
    assert evaluation.metrics["n_invalid"] == 3 and evaluation.metrics["n_jets"] == len(jets) - 3


def test_store_without_labels(data, trained, tmp_path):
    result, _ = trained
    store = _store(tmp_path, "nolab", data["val_jets"][:200])
    scores = T.predict(result.output, store)
    assert scores.shape == (200,)
    for kwargs in ({"model": result.output}, {"scores": scores}):
        with pytest.raises(InputError, match="has no labels: evaluate needs the truth"):
            T.evaluate(store, **kwargs)
    with pytest.raises(InputError, match="has no labels"):
        T.StoreDataset(store)


# ---------------------------------------------------------------------------
# datasets
# ---------------------------------------------------------------------------

def test_store_dataset_streams_chunks_and_shuffles(data):
    ds = T.StoreDataset(data["train"], batch_size=100, seed=4, buffer_size=2000)
    assert len(ds) == 30 and ds.chunk_rows == 1000 and ds.buffer_chunks == 2
    store = jetimg.open_store(data["train"])
    images, labels = store["images"][:], store["labels"][:]
    epochs = []
    for _ in range(2):
        rows = ds.order.copy()
        assert sorted(rows.tolist()) == list(range(3000))      # a permutation of the rows
        # a buffer of two chunks: the first 2000 rows come from two chunks only
        assert len(np.unique(rows[:2000] // 1000)) == 2
        for i in range(len(ds)):
            x, y = ds[i]
            np.testing.assert_array_equal(x, images[rows[i * 100:(i + 1) * 100]])
            np.testing.assert_array_equal(y, labels[rows[i * 100:(i + 1) * 100]])
        epochs.append(rows)
        ds.on_epoch_end()
    assert not np.array_equal(epochs[0], epochs[1])
    assert ds.reads == 3                        # whole chunks, each read once
    assert T.pipeline_rate(ds) > 0 and ds.reads == 6
    again = T.StoreDataset(data["train"], batch_size=100, seed=4, buffer_size=2000)
    np.testing.assert_array_equal(again.order, epochs[0])
    ordered = T.StoreDataset(data["val"], batch_size=300, shuffle=False)
    for option in ("batch_size", "buffer_size"):
        with pytest.raises(InputError, match=f"{option}=0 must be an integer >= 1"):
            T.StoreDataset(data["val"], **{option: 0})
    assert len(ordered) == 4 and len(ordered[3][0]) == 100
    np.testing.assert_array_equal(ordered[1][0], jetimg.open_store(data["val"])["images"][300:600])


def test_jet_dataset_makes_the_store_images(data, tmp_path):
    jets, labels = toy_jets(1500, seed=14)
    jets[7, 0, 0] = np.inf
    path, labels_key = _save(tmp_path, "otf", jets, labels)
    ds = T.JetDataset(path, jetimg.Recipe(npix=NPIX), batch_size=500, shuffle=False,
                      labels_key=labels_key)
    x, y, w = ds[0]
    out = jetimg.preprocess(jets[:500], npix=NPIX, invalid="skip")
    np.testing.assert_array_equal(x, out["images"])
    np.testing.assert_array_equal(y, labels[:500])
    assert w[7] == 0 and w.sum() == 499
    shuffled = T.JetDataset(path, jetimg.Recipe(npix=NPIX), batch_size=500, seed=1,
                            labels_key=labels_key)
    assert sorted(shuffled.order.tolist()) == list(range(1500))


def test_train_on_the_fly_cli(data, tmp_path):
    """jetimg train on constituents files (no image store), then predict and evaluate."""
    import h5py

    for name, (jets, labels) in (("t", toy_jets(1000, seed=21)),
                                 ("v", (data["val_jets"][:500], data["val_labels"][:500]))):
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:    # labels beside the jets
            f["jets"], f["labels"] = jets, labels
    model = tmp_path / "otf.keras"
    result = invoke("train", tmp_path / "t.h5", "--val", tmp_path / "v.h5", "-o", model,
                    "--npix", NPIX, "--arch", "deeptop", "--epochs", 1, "--seed", 2,
                    "--batch-size", 125)
    assert result.exit_code == 0, result.output
    assert "deeptop CNN, 1000 jets (val 500), 1 epochs" in result.stdout
    backend = T.read_metadata(model)["backend"]
    assert f"training images/s on {backend}); best epoch 1" in result.stdout
    # stderr is no terminal here: progress lines (8 steps of 125 jets), then the epoch's
    lines = [line for line in result.stderr.splitlines() if line.startswith("epoch ")]
    assert lines[0].startswith("epoch 1/1: step 1 of 8 (12%), loss ")
    assert lines[-2].startswith("epoch 1/1: step 8 of 8 (100%), loss ")
    assert "training images/s" in lines[-2]
    assert lines[-1].startswith("epoch 1/1  loss ") and "training images/s" in lines[-1]
    assert T.read_metadata(model)["recipe"]["npix"] == NPIX
    result = invoke("predict", model, tmp_path / "v.h5", "-o", tmp_path / "s.npy", "--zip", "-q")
    assert result.exit_code == 0, result.output
    with zipfile.ZipFile(tmp_path / "s.zip") as z:
        assert z.namelist() == ["s.npy"]
    result = invoke("evaluate", "--scores", tmp_path / "s.npy", tmp_path / "v.h5", "--json",
                    "--plots", tmp_path / "ev")
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    assert out["n_jets"] == 500 and 0.5 < out["auc"] <= 1.0
    assert (tmp_path / "ev_roc.png").exists() and (tmp_path / "ev_scores.png").exists()


def test_hardened_training_from_constituents_cli(data, tmp_path):
    """jetimg train with build's recipe options and a variation drawn per epoch
    (--vary ranges) on constituents files; the model keeps the variation in its
    metadata, its recipe nominal; both are refused with an image store."""
    import h5py

    for name, (jets, labels) in (("t", toy_jets(1000, seed=23)),
                                 ("v", (data["val_jets"][:500], data["val_labels"][:500]))):
        with h5py.File(tmp_path / f"{name}.h5", "w") as f:
            f["jets"], f["labels"] = jets, labels
    model = tmp_path / "hard.keras"
    result = invoke("train", tmp_path / "t.h5", "--val", tmp_path / "v.h5", "-o", model,
                    "--npix", NPIX, "--normalise", "none", "--threshold", 0.5, "--center", "jet",
                    "--vary", "scale=0.9:1.1,smear=0:0.05", "--arch", "deeptop", "--epochs", 2,
                    "--seed", 2, "--batch-size", 125, "-q")
    assert result.exit_code == 0, result.output
    meta = T.read_metadata(model)
    assert meta["recipe"]["normalise"] == "none" and meta["recipe"]["threshold"] == 0.5
    assert meta["recipe"]["center"] == "jet" and meta["recipe"]["vary"] is None
    assert meta["train_vary"] == {"scale": [0.9, 1.1], "neutral_scale": [1.0, 1.0],
                                  "smear": [0.0, 0.05], "drop": [0.0, 0.0], "seed": None}
    assert meta["val_vary"] is None
    # scored on the nominal constituents with the model's own recipe
    ev = invoke("evaluate", model, tmp_path / "v.h5", "--json", "--no-plots")
    assert ev.exit_code == 0 and json.loads(ev.stdout)["n_jets"] == 500, ev.output
    for extra, option in ((["--vary", "scale=0.9:1.1"], "--vary"),
                          (["--normalise", "none"], "--normalise"),
                          (["--no-rotate"], "--rotate")):
        bad = invoke("train", data["train"], "--val", data["val"], "-o", tmp_path / "x.keras",
                     *extra)
        lines = [line for line in bad.stderr.splitlines() if line.strip()]
        assert bad.exit_code == 1 and len(lines) == 1, bad.output
        assert lines[0].startswith(f"Error: {option}") and "image store" in lines[0]
    assert not (tmp_path / "x.keras").exists()
    lone = invoke("train", tmp_path / "t.h5", "--val", tmp_path / "v.h5", "-o",
                  tmp_path / "y.keras", "--vary-validation")
    assert lone.exit_code == 1 and "give --vary too" in lone.stderr


def test_robustness_scan_of_groups_table_json_and_figure(data, trained, tmp_path):
    """jetimg robustness: models in groups scored under a scan of one variation.
    A global scale leaves sum-normalised images (and so every score) unchanged;
    a smear does not; the nominal row equals evaluate on the same jets."""
    import h5py

    from jetimg.train.robustness import robustness

    result, _ = trained
    with h5py.File(tmp_path / "test.h5", "w") as f:
        f["jets"], f["labels"] = data["val_jets"][:600], data["val_labels"][:600]
    other = T.train(data["train"], data["val"], tmp_path / "other.keras", epochs=1,
                    batch_size=100, seed=3, log=False, plot=False).output
    groups = {"a": [result.output, other], "b": [other]}
    scan = robustness(groups, tmp_path / "test.h5", "scale=0.9,1,1.1", seed=2)
    assert scan.values == [0.9, 1.0, 1.1] and scan.nominal_index == 1 and scan.n_jets == 600
    assert len(scan.rows) == 9 and scan.metrics[:2] == ["auc", "accuracy"]
    aucs = [r["auc"] for r in scan.rows if r["model"] == str(result.output)]
    assert max(aucs) - min(aucs) < 1e-4                   # sum-normalised: scale-blind
    ev = T.evaluate(tmp_path / "test.h5", model=result.output)
    assert aucs[1] == pytest.approx(ev.metrics["auc"], abs=1e-12)
    mean, sd = scan.summary["a"]["auc"][1]
    both = [r["auc"] for r in scan.rows if r["group"] == "a" and r["value"] == 1.0]
    assert mean == pytest.approx(np.mean(both)) and sd == pytest.approx(np.std(both, ddof=1))
    assert scan.summary["b"]["auc"][1][1] == 0.0
    smeared = robustness([result.output], tmp_path / "test.h5", ("smear", [0, 0.3]))
    auc0, auc3 = (r["auc"] for r in smeared.rows)
    assert auc0 == pytest.approx(aucs[1]) and auc3 != pytest.approx(auc0, abs=1e-4)
    wp = smeared.rows[0]
    assert wp["passing@0.3"] <= wp["passing@0.5"] <= wp["n_background"]
    out = invoke("robustness", tmp_path / "test.h5", "-m", f"a={result.output},{other}",
                 "-m", str(other), "--vary", "drop=0,0.2", "-o", tmp_path / "r.png", "-q")
    assert out.exit_code == 0, out.output
    assert "drop scan, seed 0, 600 jets" in out.stdout and "a: 2 models" in out.stdout
    assert "other: 1 model" in out.stdout and (tmp_path / "r.png").stat().st_size > 10_000
    js = invoke("robustness", tmp_path / "test.h5", "-m", str(other), "--vary",
                "smear=0,0.1", "--json", "--no-plot")
    assert js.exit_code == 0 and json.loads(js.stdout)["name"] == "smear", js.output
    for vary, words in (("shift=1,2", "--vary shift=1,2 is not valid"),
                        ("smear=0,0.5", "smear=0.5 is not valid"),
                        ("scale=1,1", "repeats a value")):
        bad = invoke("robustness", tmp_path / "test.h5", "-m", str(other), "--vary", vary,
                     "--no-plot")
        assert bad.exit_code == 1 and words in bad.stderr, bad.output


def test_cli_errors(data, trained, tmp_path):
    result, _ = trained
    nolab = _store(tmp_path, "nl", data["val_jets"][:50])
    out = invoke("evaluate", result.output, nolab, "--no-plots")
    assert out.exit_code == 1 and "has no labels: evaluate needs the truth" in out.output
    out = invoke("evaluate", nolab)
    assert out.exit_code == 2 and "give MODEL STORE, or --scores SCORES STORE" in out.output
    out = invoke("predict", result.output, nolab, "-o", tmp_path / "s.txt")
    assert out.exit_code == 2 and "must end in .npy" in out.output
    out = invoke("train", data["train"], "--val", data["val"], "-o", result.output)
    assert out.exit_code == 1 and "already exists" in out.output


# ---------------------------------------------------------------------------
# plots, missing keras (the metrics: tests/test_metrics.py)
# ---------------------------------------------------------------------------

def test_plots(data, trained):
    from matplotlib.figure import Figure

    from jetimg.plots.training import plot_history, plot_roc, plot_scores

    result, _ = trained
    labels = np.r_[np.zeros(50), np.ones(50)]
    scores = np.r_[np.linspace(0, 0.6, 50), np.linspace(0.4, 1, 50)]
    for fig in (plot_roc(labels, scores), plot_scores(labels, scores),
                plot_history(data["folder"] / "model_log.csv"), plot_history(result.history)):
        assert isinstance(fig, Figure)
    assert plot_roc(labels, scores).axes[0].get_yscale() == "log"


def test_without_keras(data, monkeypatch):
    """evaluate --scores needs no Keras; training names the extra to install."""
    monkeypatch.setitem(sys.modules, "keras", None)
    with pytest.raises(JetimgError, match=r"pip install 'jetimg\[train\]'"):
        _keras()
    scores = np.asarray(jetimg.open_store(data["val"])["labels"][:], float)
    evaluation = T.evaluate(data["val"], scores=scores)
    assert evaluation.metrics["auc"] == 1.0


# ---------------------------------------------------------------------------
# channels: (N, npix, npix, C) images, scaled per channel
# ---------------------------------------------------------------------------

CHANNELS = ["pt", "charged_pt", "charged_count"]


def _qg(folder, name, n, seed):
    """A quark/gluon .npz (EnergyFlow layout: particle kinds from the PDG ids)."""
    from jetimg.io.writers.qg import toy_qg, write_qg

    X, y = toy_qg(n, seed=seed)
    path = folder / f"{name}.npz"
    write_qg(path, X, y)
    return path


@pytest.fixture(scope="module")
def qg(tmp_path_factory):
    """Quark/gluon files and their stores with three channels (train Zarr, val HDF5)."""
    folder = tmp_path_factory.mktemp("channels")
    recipe = jetimg.Recipe(npix=NPIX, channels=CHANNELS)
    files = {"train_jets": _qg(folder, "qg_train", 600, 31),
             "val_jets": _qg(folder, "qg_val", 300, 32)}
    out = {"folder": folder, "recipe": recipe, **files,
           "train": folder / "qg_train.zarr", "val": folder / "qg_val.h5"}
    jetimg.build(files["train_jets"], out["train"], recipe=recipe)
    jetimg.build(files["val_jets"], out["val"], recipe=recipe)
    return out


@pytest.fixture(scope="module")
def qg_trained(qg):
    """The DeepTop-style CNN trained one epoch on the three-channel store."""
    return T.train(qg["train"], qg["val"], qg["folder"] / "qg.keras", arch="deeptop",
                   epochs=1, batch_size=100, seed=3, plot=False)


def _valid_images(path):
    store = jetimg.open_store(path)
    return store["images"][:][store["valid"][:] != 0].astype(np.float64)


def test_channels_train_predict_evaluate(qg, qg_trained):
    import keras

    result = qg_trained
    assert result.channels == CHANNELS and (result.n_train, result.n_val) == (600, 300)
    meta = T.read_metadata(result.output)
    assert meta["channels"] == CHANNELS and meta["recipe"]["channels"] == CHANNELS
    model = keras.saving.load_model(result.output)
    assert model.input_shape == (None, NPIX, NPIX, 3)
    images = jetimg.open_store(qg["val"])["images"][:]
    assert images.shape == (300, NPIX, NPIX, 3)
    scores = T.predict(result.output, qg["val"])
    with _quiet_keras():
        plain = model.predict(images, verbose=0)[:, 1]
    np.testing.assert_allclose(scores, plain, atol=1e-5)
    # the quark/gluon .npz itself: its images made on the fly with the model's channels
    np.testing.assert_allclose(T.predict(result.output, qg["val_jets"]), scores, atol=1e-6)
    evaluation = T.evaluate(qg["val"], model=result.output)
    assert evaluation.metrics["n_jets"] == 300 and 0 <= evaluation.metrics["auc"] <= 1
    # batches carry the channel axis, rows as stored
    ds = T.StoreDataset(qg["val"], batch_size=100, shuffle=False)
    assert ds.channels == tuple(CHANNELS) and ds.image_shape == (NPIX, NPIX, 3)
    x, y = ds[1]
    np.testing.assert_array_equal(x, images[100:200])


def test_channels_scaled_per_channel(qg, qg_trained):
    """One factor per channel, 1/RMS of that channel's pixels, stored and reloaded."""
    result = qg_trained
    pixels = _valid_images(qg["train"]).reshape(-1, 3)
    expected = 1 / np.sqrt(np.mean(pixels ** 2, axis=0))
    np.testing.assert_allclose(result.input_scale, expected, rtol=1e-6)
    assert expected[2] < expected[0] / 10       # counts (integers) want far less than pt
    np.testing.assert_allclose(T.read_metadata(result.output)["input_scale"], expected,
                               rtol=1e-6)
    loaded = T.load_model(result.output).model.get_layer("input_scale")
    np.testing.assert_allclose(loaded.scale, expected, rtol=1e-6)
    assert np.mean((pixels * expected) ** 2, axis=0) == pytest.approx([1, 1, 1], rel=1e-4)
    np.testing.assert_allclose(T.input_scale(qg["train"]), expected, rtol=1e-6)
    with pytest.raises(InputError, match="has 2 factors for 3 channels"):
        T.build_model("deeptop", NPIX, input_scale=[1.0, 2.0], n_channels=3)
    with pytest.raises(InputError, match="must be a positive number or one per channel"):
        T.build_model("deeptop", NPIX, input_scale=[1.0, -2.0, 1.0], n_channels=3)
    # one factor given for every channel
    r = T.train(qg["val"], qg["val"], qg["folder"] / "one.keras", arch="deeptop", epochs=1,
                batch_size=100, scale=50.0, log=False, plot=False)
    assert r.input_scale == [50.0] * 3


def test_channels_refused_where_they_differ(data, trained, qg, qg_trained, tmp_path):
    plain, _ = trained
    with pytest.raises(InputError, match=r"has channels \[pt, charged_pt, charged_count\] "
                                         r"but the model .* has none \(one image per jet\)"):
        T.predict(plain.output, qg["val"])
    with pytest.raises(InputError, match=r"has channels none \(one image per jet\) but the "
                                         r"model .* has \[pt, charged_pt, charged_count\]"):
        T.evaluate(data["val"], model=qg_trained.output)
    other = tmp_path / "other.zarr"
    jetimg.build(qg["val_jets"], other, recipe=jetimg.Recipe(npix=NPIX,
                                                             channels=["pt", "charged_count"]))
    with pytest.raises(InputError, match=r"other.zarr has channels \[pt, charged_count\] but "
                                         r"the model .* has \[pt, charged_pt, charged_count\]"):
        T.predict(qg_trained.output, other)
    # training and validation images must have the same channels
    with pytest.raises(InputError, match=r"other.zarr has channels \[pt, charged_count\] but "
                                         r"the training data .*qg_train.zarr has "
                                         r"\[pt, charged_pt, charged_count\]"):
        T.train(qg["train"], other, tmp_path / "m.keras", epochs=1)
    assert list(tmp_path.glob("*.keras")) == []
    out = invoke("predict", plain.output, qg["val"], "-o", tmp_path / "s.npy")
    assert out.exit_code == 1 and "has channels [pt, charged_pt, charged_count]" in out.output
    assert len(out.output.strip().splitlines()) == 1 and "Traceback" not in out.output


def test_old_model_file_without_channels_or_classes(data, trained, qg, tmp_path):
    """A model file written before channels and classes (no channels, n_classes or
    label_names in its metadata, one input scale) loads, predicts and evaluates as a
    binary model of one image per jet."""
    result, _ = trained
    old = tmp_path / "old.keras"
    with zipfile.ZipFile(result.output) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            if item.filename != T.METADATA_NAME:
                dst.writestr(item, src.read(item.filename))
        meta = json.loads(src.read(T.METADATA_NAME))
        meta.pop("channels"), meta["recipe"].pop("channels", None)
        meta.pop("n_classes"), meta.pop("label_names")
        dst.writestr(T.METADATA_NAME, json.dumps(meta))
    meta = T.read_metadata(old)
    assert not {"channels", "n_classes", "label_names"} & set(meta)
    assert isinstance(meta["input_scale"], float)
    scores = T.predict(old, data["val"])
    assert scores.shape == (1000,)
    np.testing.assert_array_equal(scores, T.predict(result.output, data["val"]))
    assert T.evaluate(data["val"], model=old).metrics == \
        T.evaluate(data["val"], model=result.output).metrics
    with pytest.raises(InputError, match="but the model .* has none"):
        T.predict(old, qg["val"])
    three = _named_store(tmp_path, "three", data["val_jets"][:90], np.arange(90) % 3,
                         ["QCD", "top", "W"])
    with pytest.raises(InputError, match=r"three.zarr has label_names \[QCD, top, W\] but "
                                         r"the model .* has none \(two unnamed classes\)"):
        T.evaluate(three, model=old)


def _named_store(folder, name, jets, labels, label_names):
    """A store of plain arrays whose labels carry a label_names attribute."""
    import h5py

    with h5py.File(folder / f"{name}.h5", "w") as f:
        f["jets"], f["labels"] = jets, np.asarray(labels, np.int8)
        f["labels"].attrs["label_names"] = label_names
    jetimg.build(folder / f"{name}.h5", folder / f"{name}.zarr", npix=NPIX)
    return folder / f"{name}.zarr"


def test_two_classes_unchanged(data, trained, tmp_path):
    """Two classes: (N,) signal scores and the binary figures, with their JSON keys; a
    store that names its two classes takes a model of unnamed ones, three classes not."""
    result, _ = trained
    assert (result.n_classes, result.label_names) == (2, None)
    meta = T.read_metadata(result.output)
    assert (meta["n_classes"], meta["label_names"]) == (2, None)
    assert meta["classes"] == ["background", "signal"]
    assert meta["output"] == "softmax; signal probability = [:, 1]"
    scores = T.predict(result.output, data["val"])
    assert scores.shape == (1000,) and scores.dtype == np.float32
    out = invoke("evaluate", result.output, data["val"], "--json", "--no-plots", "-q")
    assert out.exit_code == 0, out.output
    assert set(json.loads(out.stdout)) == {
        "n_jets", "n_signal", "n_background", "auc", "accuracy", "signal_efficiency",
        "background_rejection", "n_invalid", "store", "vary", "plots"}
    jets, labels = data["val_jets"][:300], data["val_labels"][:300]
    named = _named_store(tmp_path, "named", jets, labels, ["QCD", "top"])
    np.testing.assert_allclose(T.predict(result.output, named), scores[:300], atol=1e-6)
    assert T.evaluate(named, model=result.output).metrics["n_jets"] == 300
    three = _named_store(tmp_path, "three", jets, np.arange(300) % 3, ["QCD", "top", "W"])
    with pytest.raises(InputError, match=r"three.zarr has label_names \[QCD, top, W\] but "
                                         r"the model \(its training store\) has none"):
        T.predict(result.output, three)
    out = invoke("predict", result.output, three, "-o", tmp_path / "s.npy")
    assert out.exit_code == 1 and "Traceback" not in out.output
    assert len(out.output.strip().splitlines()) == 1


def test_channels_cli(qg, data, tmp_path):
    """--channels makes the images of constituents files on the fly; image stores keep theirs."""
    model = tmp_path / "otf.keras"
    channels = "charged_pt,neutral_pt,charged_count"
    out = invoke("train", qg["train_jets"], "--val", qg["val_jets"], "-o", model, "--npix",
                 NPIX, "--channels", channels, "--arch", "deeptop", "--epochs", 1, "--seed", 2,
                 "--batch-size", 100, "--plot", "", "-q")
    assert out.exit_code == 0, out.output
    assert f"deeptop CNN ({channels.replace(',', ', ')}), 600 jets (val 300)" in out.stdout
    assert "epoch" not in out.stderr            # -q: no progress lines
    meta = T.read_metadata(model)
    assert meta["channels"] == channels.split(",") and len(meta["input_scale"]) == 3
    # on the fly, the images are those of a store built with the same recipe
    recipe = jetimg.Recipe(npix=NPIX, channels=channels.split(","))
    built = tmp_path / "v.zarr"
    jetimg.build(qg["val_jets"], built, recipe=recipe)
    x = T.JetDataset(qg["val_jets"], recipe, batch_size=300, shuffle=False)[0][0]
    np.testing.assert_array_equal(x, jetimg.open_store(built)["images"][:])
    out = invoke("predict", model, built, "-o", tmp_path / "s.npy", "-q")
    assert out.exit_code == 0, out.output
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), T.predict(model, qg["val_jets"]),
                               atol=1e-6)
    # an image store has its own channels: --channels is refused, naming them
    for store, named in ((qg["train"], "[pt, charged_pt, charged_count]"),
                         (data["train"], "none (one image per jet)")):
        out = invoke("train", store, "--val", qg["val"], "-o", tmp_path / "x.keras",
                     "--channels", "pt")
        assert out.exit_code == 1, out.output
        assert f"is an image store with its own channels, {named}" in out.output
        assert len(out.output.strip().splitlines()) == 1
    assert not (tmp_path / "x.keras").exists()


def test_channels_cli_bad_channels(tmp_path):
    """A kind channel on a file without particle kinds, or an unknown name: one line."""
    jets, labels = toy_jets(200, seed=3)
    path, labels_key = _save(tmp_path, "plain", jets, labels)
    for channels, words in (("pt,charged_pt", "channel charged_pt"),
                            ("pt,blue", "--channels blue is not a channel")):
        out = invoke("train", path, "--val", path, "-o", tmp_path / "m.keras", "--npix", NPIX,
                     "--channels", channels)
        assert out.exit_code == 1, out.output
        assert words in out.output and "Traceback" not in out.output
        assert len(out.output.strip().splitlines()) == 1
    with pytest.raises(InputError, match="has no particle kinds .* channel charged_pt"):
        T.JetDataset(path, jetimg.Recipe(npix=NPIX, channels=["charged_pt"]))
    assert not list(tmp_path.glob("m*"))

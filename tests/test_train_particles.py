"""The particle taggers (dnn, pfn, lola): models, training, scoring and refusals.

Small toy stores built with particles (npix 10) keep training to seconds; the
top-tagging sample's particles check that a PFN separates top from QCD.
"""

import numpy as np
import pytest

import jetimg
from jetimg.data import sample_path
from jetimg.errors import InputError, JetimgError
from jetimg.toys import toy_jets

from jetimg import train as T
from jetimg.train.models import (_keras, _quiet_keras, build_particle_model, lola_features,
                                 particle_layers)

from .helpers import invoke, one_line

try:
    _keras()
except JetimgError as exc:  # pragma: no cover
    pytest.skip(f"no Keras 3: {exc}", allow_module_level=True)

# Keras' own noise on the torch backend (get_weights, predict_on_batch), as _quiet_keras hides
pytestmark = pytest.mark.filterwarnings(
    "ignore:.*__array__ implementation doesn't accept a copy keyword.*:DeprecationWarning")

NPIX, P = 10, 16


def _predict(model, x):
    """The model's outputs as NumPy (Keras' own deprecation noise hidden)."""
    with _quiet_keras():
        return np.asarray(model.predict_on_batch(x))


def _inputs(folder, name, n, seed):
    """The toy jets as .npy (labels beside) and as the top-tagging layout (labels inside)."""
    from jetimg.io.writers.toptag import write_toptag

    jets, labels = toy_jets(n, seed=seed)
    write_toptag(folder / f"{name}_toptag.h5", jets, labels)
    np.save(folder / f"{name}.npy", jets)
    np.save(folder / f"{name}_labels.npy", labels)
    return folder / f"{name}.npy", str(folder / f"{name}_labels.npy")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Toy constituents and stores: train (1,500 jets, P = 16), val (500, P = 16), a test
    store with P = 24 (HDF5), and the val jets' store without particles."""
    folder = tmp_path_factory.mktemp("train_particles")
    out = {"folder": folder}
    for name, n, seed in (("train", 1500, 21), ("val", 500, 22)):
        inp, key = _inputs(folder, name, n, seed)
        out[name + "_input"], out[name + "_labels"] = inp, key
        out[name] = folder / f"{name}.zarr"
        jetimg.build(inp, out[name], npix=NPIX, particles=P, labels_key=key, chunk_size=500)
    out["test24"] = folder / "test24.h5"
    jetimg.build(out["val_input"], out["test24"], npix=NPIX, particles=24,
                 labels_key=out["val_labels"])
    out["plain"] = folder / "plain.zarr"
    jetimg.build(out["val_input"], out["plain"], npix=NPIX, labels_key=out["val_labels"])
    return out


@pytest.fixture(scope="module")
def models(data):
    """dnn, pfn and lola, each trained one epoch on the toy store."""
    return {arch: T.train(data["train"], data["val"], data["folder"] / f"{arch}.keras",
                          arch=arch, epochs=1, batch_size=100, seed=1, plot=False, log=False,
                          workers=1)
            for arch in ("dnn", "pfn", "lola")}


# ---------------------------------------------------------------------------
# the models themselves
# ---------------------------------------------------------------------------

def test_pfn_is_invariant_to_permutations_and_padding():
    model = build_particle_model("pfn", 12, 5, offset=[0.1] * 5, scale=[2.0] * 5)
    rng = np.random.default_rng(3)
    x = np.zeros((4, 12, 5), np.float32)
    for n, m in enumerate((3, 7, 9, 12)):
        x[n, :m] = rng.normal(size=(m, 5))
    base = _predict(model, x)
    shuffled = np.stack([row[rng.permutation(12)] for row in x])
    np.testing.assert_allclose(_predict(model, shuffled), base, rtol=1e-5, atol=1e-6)
    # more padding: the same jets in 20 rows (the weights do not depend on P)
    wider = build_particle_model("pfn", 20, 5, offset=[0.1] * 5, scale=[2.0] * 5)
    wider.set_weights(model.get_weights())
    padded = np.concatenate([x, np.zeros((4, 8, 5), np.float32)], axis=1)
    np.testing.assert_allclose(_predict(wider, padded), base, rtol=1e-5, atol=1e-6)
    # and the outputs do depend on the particles (not a constant network)
    assert np.abs(_predict(model, x[::-1]) - base).max() > 1e-4


def test_lola_minkowski_features_equal_numpy_for_a_hand_jet():
    """Two particles (px, py, pz, e): a massless one along x, E = 3, and one at rest, E = 2."""
    keras = _keras()
    k = np.array([[[3.0, 0.0, 0.0, 3.0], [0.0, 0.0, 0.0, 2.0]]], np.float32)
    we = np.array([[0.5, 1.0], [2.0, -1.0]], np.float32)
    wd = np.array([[1.0, 3.0], [0.25, 1.0]], np.float32)
    with _quiet_keras():
        t = keras.ops.convert_to_tensor
        got = np.asarray(keras.ops.convert_to_numpy(lola_features(keras.ops, t(k), t(we),
                                                                  t(wd))))
    # by hand: m^2 = 0 and 4; pT = 3 and 0; E = 3, 2; weighted E: 0.5*3 + 1*2 = 3.5,
    # 2*3 - 2 = 4; d^2 between them: (3-0... ) (dpx, dpy, dpz, dE) = (3, 0, 0, 1):
    # 1 - 9 = -8, so weighted d: 3*(-8) = -24, 0.25*(-8) = -2
    want = np.array([[[0, 3, 3, 3.5, -24], [4, 0, 2, 4, -2]]], np.float64)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # and the layer computes the same (its weights set to these)
    lola = particle_layers()["LoLa"]()
    lola.build((None, 2, 4))
    lola.set_weights([we, wd])
    with _quiet_keras():
        np.testing.assert_allclose(keras.ops.convert_to_numpy(lola(k)), want, rtol=1e-6)


# ---------------------------------------------------------------------------
# training, reloading, scoring
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("arch, n, features", [
    ("dnn", P, ["log_pt_rel", "x", "y"]),          # 30 by default, capped at the store's 16
    ("pfn", P, list(jetimg.recipe.particle_features(False))),
    ("lola", P, ["px", "py", "pz", "e"])])
def test_each_tagger_trains_saves_and_reloads(data, models, arch, n, features):
    result = models[arch]
    assert result.kind == "particle" and result.n_particles == n
    assert result.features == features and len(result.input_scale) == len(features)
    meta = T.read_metadata(result.output)
    assert meta["kind"] == "particle" and meta["features"] == features
    assert meta["n_particles"] == n and len(meta["input_offset"]) == len(features)
    trained = T.load_model(result.output)
    assert trained.model.input_shape == (None, n, len(features))
    particles = jetimg.streams.open_images(data["val"]).read(0, 500, fields="particles")
    view = particles["particles"][:, :n][:, :, [list(
        jetimg.recipe.particle_features(False)).index(f) for f in features]]
    direct = _predict(trained.model, view)[:, 1]
    scores = T.predict(result.output, data["val"])
    assert scores.shape == (500,)
    np.testing.assert_allclose(scores, direct, rtol=1e-5, atol=1e-6)
    # a store with more particles per jet (P = 24 >= 16) scores the same jets the same
    np.testing.assert_allclose(T.predict(result.output, data["test24"]), scores,
                               rtol=1e-5, atol=1e-6)


def test_pfn_predicts_on_the_fly_from_constituents_and_evaluates(data, models):
    path = models["pfn"].output
    on_the_fly = T.predict(path, data["val_input"])
    np.testing.assert_allclose(on_the_fly, T.predict(path, data["val"]), rtol=1e-5, atol=1e-6)
    result = invoke("evaluate", path, data["val"], "--no-plots")
    assert result.exit_code == 0, result.output
    assert "AUC" in result.output


def test_an_image_model_scores_a_store_with_particles(data):
    model = data["folder"] / "cnn.keras"
    T.train(data["plain"], data["plain"], model, arch="deeptop", epochs=1, batch_size=100,
            seed=1, plot=False, log=False, workers=1)
    np.testing.assert_allclose(T.predict(model, data["val"]), T.predict(model, data["plain"]),
                               rtol=1e-5, atol=1e-6)


def test_dnn_trains_on_the_fly_through_the_command(data, tmp_path):
    out = tmp_path / "fly.keras"
    folder = data["folder"]
    result = invoke("train", folder / "train_toptag.h5", "--val", folder / "val_toptag.h5",
                    "-o", out,
                    "--arch", "dnn", "--particles", 12, "--npix", NPIX, "--epochs", 1,
                    "--batch-size", 100, "--seed", 1, "--features", "log_pt_rel,x,y,delta_r",
                    "-q", "--workers", 1)
    assert result.exit_code == 0, result.output
    assert "dnn tagger on 12 particles (log_pt_rel, x, y, delta_r)" in result.output
    meta = T.read_metadata(out)
    assert meta["recipe"]["particles"] == 12 and meta["n_particles"] == 12
    assert T.predict(out, data["val"]).shape == (500,)     # a store with P = 16 >= 12


@pytest.mark.slow
def test_pfn_separates_top_from_qcd_on_the_sample(tmp_path):
    """The top-tagging sample's particles (2,500 train, 1,000 test jets, P = 20, 3 epochs): AUC > 0.8."""
    sample = sample_path()
    train_store, test_store = tmp_path / "train.zarr", tmp_path / "test.zarr"
    jetimg.build(sample, train_store, npix=NPIX, particles=20, limit=2500)
    split = jetimg.open_jets(sample)
    jets, labels = split.read(2500, 3500)
    split.close()
    np.save(tmp_path / "test.npy", jets)
    np.save(tmp_path / "test_labels.npy", labels)
    jetimg.build(tmp_path / "test.npy", test_store, npix=NPIX, particles=20,
                 labels_key=str(tmp_path / "test_labels.npy"))
    model = tmp_path / "pfn.keras"
    T.train(train_store, train_store, model, arch="pfn", epochs=3, batch_size=100, seed=2,
            plot=False, log=False, workers=1)
    auc = T.evaluate(test_store, model=model).metrics["auc"]
    assert auc > 0.8, auc


# ---------------------------------------------------------------------------
# refusals, one line each, through the command
# ---------------------------------------------------------------------------

def _train(data, tmp_path, *args, store=None):
    store = store or data["train"]
    return invoke("train", store, "--val", data["val"], "-o", tmp_path / "m.keras",
                  "--epochs", 1, "-q", *args)


def test_particles_below_one_is_refused(data, tmp_path):
    line = one_line(_train(data, tmp_path, "--arch", "pfn", "--particles", 0,
                           store=data["train_input"]))
    assert "--particles 0" in line and ">= 1" in line
    line = one_line(_train(data, tmp_path, "--arch", "pfn", "--n-particles", 0))
    assert "--n-particles 0" in line
    assert not (tmp_path / "m.keras").exists()


def test_particles_with_a_store_is_refused(data, tmp_path):
    line = one_line(_train(data, tmp_path, "--arch", "pfn", "--particles", 8))
    assert "--particles is for constituents files" in line and str(data["train"]) in line


def test_a_particle_tagger_on_a_store_without_particles(data, tmp_path):
    result = invoke("train", data["plain"], "--val", data["plain"], "-o", tmp_path / "m.keras",
                    "--arch", "pfn", "-q")
    line = one_line(result)
    assert "--arch pfn reads particles" in line and "jetimg build --particles" in line
    assert not (tmp_path / "m.keras").exists()


def test_unknown_or_too_many_particle_options(data, tmp_path):
    line = one_line(_train(data, tmp_path, "--arch", "pfn", "--features", "x,pt"))
    assert "--features: 'pt' is not a particle feature" in line and "log_pt_rel" in line
    line = one_line(_train(data, tmp_path, "--arch", "dnn", "--n-particles", 40))
    assert "--n-particles=40 is more than the 16 particles" in line
    line = one_line(_train(data, tmp_path, "--arch", "lola", "--features", "x,y"))
    assert "lola reads the four-vectors px, py, pz, e" in line
    line = one_line(_train(data, tmp_path, "--features", "x,y"))
    assert "--features is for the particle taggers" in line


def test_scoring_refuses_stores_without_what_the_model_reads(data, models, tmp_path):
    pfn = models["pfn"].output
    line = one_line(invoke("predict", pfn, data["plain"], "-o", tmp_path / "s.npy"))
    assert "has no particles but the model (pfn)" in line and "--particles 16" in line
    few = tmp_path / "few.zarr"
    jetimg.build(data["val_input"], few, npix=NPIX, particles=4, labels_key=data["val_labels"])
    line = one_line(invoke("evaluate", pfn, few, "--no-plots"))
    assert "holds 4 particles per jet but the model (pfn) reads 16" in line
    # features that differ: the JetClass sample's 17 include the 11, so ask the reverse:
    # a model reading 'charge' on a store without kinds
    jc = tmp_path / "jc.zarr"
    files = str(sample_path("jetclass") / "*.root")
    jetimg.build(files, jc, particles=P, npix=NPIX, limit=200)
    kinds = T.train(jc, jc, tmp_path / "kinds.keras", arch="dnn", epochs=1, batch_size=100,
                    features=["charge", "x", "y"], plot=False, log=False, workers=1)
    bare = tmp_path / "bare.zarr"
    jetimg.build(data["val_input"], bare, npix=NPIX, particles=P)
    line = one_line(invoke("predict", kinds.output, bare, "-o", tmp_path / "s2.npy"))
    assert "but the model (dnn) reads [charge, x, y]: charge is missing" in line
    # an image model on a store whose images have another shape
    cnn = tmp_path / "cnn.keras"
    T.train(data["plain"], data["plain"], cnn, arch="deeptop", epochs=1, batch_size=250,
            plot=False, log=False, workers=1)
    other = tmp_path / "other.zarr"
    jetimg.build(data["val_input"], other, npix=8, particles=P)
    line = one_line(invoke("predict", cnn, other, "-o", tmp_path / "s3.npy"))
    assert "8x8 images" in line and "10x10" in line
    assert not (tmp_path / "s.npy").exists() and not (tmp_path / "s3.npy").exists()

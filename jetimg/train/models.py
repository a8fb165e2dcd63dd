"""The taggers (CNNs on images, networks on particles), and Keras imported on demand.

Two image architectures (:func:`build_model` lists their layers): "challenge",
jetimg's own compact CNN baseline for the top-tagging dataset (four 3x3
convolutions, two 3x3 max-pools, three dense layers with dropout, Gaussian
input noise), the default; and
"deeptop", the layout of DeepTop's network (arXiv:1701.08784: four 4x4
convolutions of 8 filters, one 2x2 max-pool, three dense layers of 64).
Three particle architectures (:func:`build_particle_model`), on the
``particles`` (P, F) of a store built with ``--particles``: "dnn" (TopoDNN,
arXiv:1704.02124), "pfn" (a Particle Flow Network, arXiv:1810.05165) and
"lola" (LoLa, arXiv:1707.08966). Their layers are written with
``keras.ops`` only, so they run on every Keras backend.

Keras and its backend are imported only inside functions (:func:`_keras`).
Without ``KERAS_BACKEND`` and with a configured backend that is not installed
(Keras' own default is TensorFlow), jetimg selects PyTorch where it is
installed (the ``torch`` extra), else JAX: on a CPU, PyTorch trains these
networks about three times as fast, keeping every core busy where JAX keeps
about 1.3 of 2 (``benchmarks/bench_loaders.py``).

>>> from jetimg.train.models import ARCHS
>>> ARCHS, ALL_ARCHS
(('challenge', 'deeptop'), ('challenge', 'deeptop', 'dnn', 'pfn', 'lola'))
>>> PARTICLE_ARCHS, DEFAULT_FEATURES["lola"]
(('dnn', 'pfn', 'lola'), ('px', 'py', 'pz', 'e'))
"""

import contextlib
import importlib.util
import json
import os
import sys
import warnings

import numpy as np

from ..checks import integer
from ..errors import InputError, JetimgError

#: Image architectures (:func:`build_model`).
ARCHS = IMAGE_ARCHS = ("challenge", "deeptop")
#: Particle architectures (:func:`build_particle_model`).
PARTICLE_ARCHS = ("dnn", "pfn", "lola")
#: Every architecture :func:`jetimg.train.train` takes.
ALL_ARCHS = IMAGE_ARCHS + PARTICLE_ARCHS
#: The particle features each particle architecture reads by default (None: every stored one).
DEFAULT_FEATURES = {"dnn": ("log_pt_rel", "x", "y"), "pfn": None,
                    "lola": ("px", "py", "pz", "e")}
#: Particles per jet each particle architecture reads by default (None: every stored one).
DEFAULT_PARTICLES = {"dnn": 30, "pfn": None, "lola": None}
#: TopoDNN's hidden layers, PFN's Phi and F (EnergyFlow's defaults), LoLa's combinations
#: and dense layers.
DNN_LAYERS = (300, 102, 12, 6)
PFN_PHI, PFN_F = (100, 100, 128), (100, 100, 100)
LOLA_COMBINATIONS, LOLA_DENSE = 15, (100, 50)

_BACKEND_MODULES = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch",
                    "numpy": "numpy", "openvino": "openvino"}
# keras 3.15 on jax 0.10 warns from inside keras (KerasVariable.__array__) on every save
_KERAS_NOISE = r".*__array__ implementation doesn't accept a copy keyword.*"


# -- keras -----------------------------------------------------------------

def _configured_backend():
    """The backend Keras would pick: KERAS_BACKEND, else keras.json, else tensorflow."""
    if os.environ.get("KERAS_BACKEND"):
        return os.environ["KERAS_BACKEND"]
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    try:
        with open(os.path.join(home, "keras.json")) as f:
            return str(json.load(f).get("backend", "tensorflow"))
    except (OSError, ValueError, AttributeError):
        return "tensorflow"


def _keras():
    """Import Keras 3, selecting PyTorch (else JAX) when no installed backend is configured."""
    if "keras" not in sys.modules and not os.environ.get("KERAS_BACKEND"):
        module = _BACKEND_MODULES.get(_configured_backend(), "tensorflow")
        if importlib.util.find_spec(module) is None:
            os.environ["KERAS_BACKEND"] = ("torch" if importlib.util.find_spec("torch")
                                           else "jax")
    try:
        import keras
    except ImportError as exc:
        raise JetimgError(f"training needs Keras 3 with a backend (JAX by default): "
                          f"pip install 'jetimg[train]' ({exc})") from None
    if int(keras.__version__.split(".")[0]) < 3:
        raise JetimgError(f"training needs Keras 3 (found {keras.__version__}): "
                          "pip install 'jetimg[train]'")
    return keras


@contextlib.contextmanager
def _quiet_keras():
    """Hide Keras' own deprecation noise (only that message; other warnings stay)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_KERAS_NOISE, category=DeprecationWarning)
        yield


def build_model(arch="challenge", npix=40, *, input_scale=1.0, noise=0.1, n_channels=None,
                n_classes=2):
    """A Keras CNN tagger on jet images, with a softmax over the classes.

    Images are (npix, npix), or (npix, npix, C) with ``n_channels``. The first
    layer is ``Rescaling(input_scale)`` (one factor per channel with channels),
    so the model takes the store's images as they are.

    Parameters
    ----------
    arch : {"challenge", "deeptop"}
        "challenge" (the default): jetimg's own compact CNN baseline, named
        for the top-tagging reference dataset of arXiv:1902.09914 (40x40
        images) that it is sized for; it is neither that comparison's best
        tagger nor its CNN entry layer for layer. GaussianNoise(``noise``)
        on the scaled input; four 3x3 convolutions (same padding, ReLU) of
        32, 32 filters, max-pool 3, 32, 64 filters, max-pool 3; Dense 100,
        200, dropout 0.15, Dense 200, dropout 0.3 (ReLU); softmax over the
        classes. 200,614 weights at npix 40 and two classes; needs npix >= 9.
        "deeptop": the layout of DeepTop's network (arXiv:1701.08784): four
        4x4 convolutions (same padding, ReLU) of 8 filters with a 2x2
        max-pool after the second; three Dense layers of 64 (ReLU); softmax
        over the classes. No noise or dropout. 216,546 weights at npix 40
        (most in the first Dense layer, which sees (npix/2)^2 x 8 inputs);
        needs npix >= 2.
    npix : int
        Image side.
    input_scale : float or sequence of float
        Factor applied to the pixels first (see :func:`input_scale`); with
        ``n_channels``, one factor for every channel or one per channel.
    noise : float
        Standard deviation of the Gaussian noise on the scaled input during
        training ("challenge" only).
    n_channels : int, optional
        Channels of the images (the last axis): input (npix, npix, C). None
        (default): images without a channel axis, input (npix, npix), as
        stores without channels hold them (the first convolution sees one
        channel either way).
    n_classes : int
        Classes K >= 2 (the output's width): 2 for background and signal
        (signal probability ``[:, 1]``), K for a store whose ``label_names``
        name K classes.

    Returns
    -------
    keras.Model
        Input (npix, npix) or (npix, npix, C) float32, output (K,)
        probabilities; not compiled.
    """
    if arch in PARTICLE_ARCHS:
        raise InputError(f"arch={arch!r} is a particle tagger: use build_particle_model")
    if arch not in IMAGE_ARCHS:
        raise InputError(f"arch={arch!r} is not valid; choose one of {', '.join(IMAGE_ARCHS)}")
    npix = integer("npix", npix)
    if n_channels is not None:
        n_channels = integer("n_channels", n_channels)
    n_classes = integer("n_classes", n_classes)
    if n_classes < 2:
        raise InputError(f"n_classes={n_classes} is too few: a tagger needs at least 2 classes")
    if arch == "challenge" and npix < 9:
        raise InputError(f"arch 'challenge' pools by 3 twice and needs npix >= 9 (got {npix})")
    if arch == "deeptop" and npix < 2:
        raise InputError(f"arch 'deeptop' pools by 2 and needs npix >= 2 (got {npix})")
    scale = _scale(input_scale, n_channels)
    keras = _keras()
    layers = keras.layers
    if n_channels is None:
        inputs = keras.Input((npix, npix), name="images")
        x = layers.Rescaling(scale, name="input_scale")(inputs)
        x = layers.Reshape((npix, npix, 1), name="channel")(x)
    else:
        inputs = keras.Input((npix, npix, n_channels), name="images")
        x = layers.Rescaling(scale, name="input_scale")(inputs)

    def conv(x, filters, size):
        return layers.Conv2D(filters, size, padding="same", activation="relu")(x)

    if arch == "challenge":
        x = layers.GaussianNoise(float(noise), name="noise")(x)
        x = conv(conv(x, 32, 3), 32, 3)
        x = layers.MaxPooling2D(3)(x)
        x = conv(conv(x, 32, 3), 64, 3)
        x = layers.MaxPooling2D(3)(x)
        x = layers.Flatten()(x)
        x = layers.Dense(100, activation="relu")(x)
        x = layers.Dense(200, activation="relu")(x)
        x = layers.Dropout(0.15)(x)
        x = layers.Dense(200, activation="relu")(x)
        x = layers.Dropout(0.3)(x)
    else:
        x = conv(conv(x, 8, 4), 8, 4)
        x = layers.MaxPooling2D(2)(x)
        x = conv(conv(x, 8, 4), 8, 4)
        x = layers.Flatten()(x)
        for _ in range(3):
            x = layers.Dense(64, activation="relu")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"jetimg_{arch}")


def _scale(input_scale, n_channels):
    """The Rescaling factor: a float, or a list of one float per channel (checked)."""
    values = np.atleast_1d(np.asarray(input_scale, dtype=object))
    ok = values.ndim == 1 and len(values) > 0 and all(
        isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)
        and np.isfinite(v) and v > 0 for v in values)
    if not ok:
        raise InputError(f"input_scale={input_scale!r} must be a positive number"
                         + (" or one per channel" if n_channels else ""))
    if n_channels is None:
        if len(values) != 1:
            raise InputError(f"input_scale={input_scale!r}: images without channels take "
                             "one factor")
        return float(values[0])
    if len(values) not in (1, n_channels):
        raise InputError(f"input_scale={input_scale!r} has {len(values)} factors for "
                         f"{n_channels} channels: give one, or one per channel")
    return [float(v) for v in values] * (n_channels // len(values))


# -- particle taggers ------------------------------------------------------

_LAYERS = {}


def particle_layers():
    """The Keras layers of the particle taggers, defined and registered on first use.

    ``ParticleScale`` (per-feature standardisation, padding kept at zero),
    ``MaskedSum`` (the PFN's sum over real particles), ``CoLa`` and ``LoLa``
    (arXiv:1707.08966). Registered as serialisable (package "jetimg"), so
    ``keras.saving.load_model`` reads the model files once this has run
    (:func:`jetimg.train.load_model` calls it).
    """
    if _LAYERS:
        return _LAYERS
    keras = _keras()
    ops = keras.ops
    register = keras.saving.register_keras_serializable(package="jetimg")

    def real(x):
        """(n, P) float: 1 for a real particle (a row not all zero), 0 for padding."""
        return ops.cast(ops.any(ops.not_equal(x, 0.0), axis=-1), x.dtype)

    @register
    class ParticleScale(keras.layers.Layer):
        """(x - offset) * scale per feature on real particles; padding rows stay zero."""

        def __init__(self, offset, scale, **kwargs):
            super().__init__(**kwargs)
            self.offset = [float(v) for v in offset]
            self.scale = [float(v) for v in scale]

        def call(self, x):
            offset = ops.convert_to_tensor(np.asarray(self.offset, np.float32))
            scale = ops.convert_to_tensor(np.asarray(self.scale, np.float32))
            return (x - offset) * scale * ops.expand_dims(real(x), -1)

        def get_config(self):
            return {**super().get_config(), "offset": self.offset, "scale": self.scale}

    @register
    class ParticleMask(keras.layers.Layer):
        """(n, P, 1): 1 for a real particle (a stored row not all zero), 0 for padding."""

        def call(self, x):
            return ops.expand_dims(real(x), -1)

    @register
    class MaskedSum(keras.layers.Layer):
        """Sum over particles of (n, P, L) per-particle outputs times the (n, P, 1) mask."""

        def call(self, inputs):
            values, mask = inputs
            return ops.sum(values * mask, axis=1)

    @register
    class CoLa(keras.layers.Layer):
        """LoLa's combination layer: the P four-vectors and M learned linear combinations.

        Input (n, P, 4), output (n, P + M, 4): k~_j = sum_i k_i C_ij with
        C = [1_P | W], W (P, M) trainable.
        """

        def __init__(self, n_combinations=LOLA_COMBINATIONS, **kwargs):
            super().__init__(**kwargs)
            self.n_combinations = int(n_combinations)

        def build(self, input_shape):
            self.combinations = self.add_weight(
                shape=(int(input_shape[1]), self.n_combinations), name="combinations",
                initializer="glorot_uniform")

        def call(self, x):
            mixed = ops.einsum("npc,pm->nmc", x, self.combinations)
            return ops.concatenate([x, mixed], axis=1)

        def get_config(self):
            return {**super().get_config(), "n_combinations": self.n_combinations}

    @register
    class LoLa(keras.layers.Layer):
        """LoLa's Lorentz layer: Minkowski-metric features of each combined particle.

        Input (n, J, 4) four-vectors in (px, py, pz, e) order; output (n, J, 5) per
        particle j: m^2 = e^2 - px^2 - py^2 - pz^2, pT, e, a learned weighted sum of
        the energies sum_m w^E_jm e_m, and a learned weighted sum of the Minkowski
        distances sum_m w^d_jm d^2_jm, d^2_jm = (k_j - k_m)^mu g_mu_nu (k_j - k_m)^nu,
        g = diag(-1, -1, -1, +1) in (px, py, pz, e) order.
        """

        def build(self, input_shape):
            j = int(input_shape[1])
            self.energy_weights = self.add_weight(shape=(j, j), name="energy_weights",
                                                  initializer="glorot_uniform")
            self.distance_weights = self.add_weight(shape=(j, j), name="distance_weights",
                                                    initializer="glorot_uniform")

        def call(self, k):
            return lola_features(ops, k, self.energy_weights, self.distance_weights)

    _LAYERS.update(ParticleScale=ParticleScale, ParticleMask=ParticleMask,
                   MaskedSum=MaskedSum, CoLa=CoLa, LoLa=LoLa)
    return _LAYERS


def minkowski(ops, a, b):
    """a^mu g_mu_nu b^nu over the last axis, four-vectors in (px, py, pz, e) order."""
    return a[..., 3] * b[..., 3] - a[..., 0] * b[..., 0] - a[..., 1] * b[..., 1] \
        - a[..., 2] * b[..., 2]


def lola_features(ops, k, energy_weights, distance_weights):
    """LoLa's five features (n, J, 5) of four-vectors ``k`` (n, J, 4), (px, py, pz, e).

    m^2, pT, e, sum_m w^E_jm e_m, sum_m w^d_jm d^2_jm (see the ``LoLa`` layer of
    :func:`particle_layers`). ``ops`` is ``keras.ops`` (or ``numpy`` for a check).
    """
    m2 = minkowski(ops, k, k)
    pt = ops.sqrt(k[..., 0] * k[..., 0] + k[..., 1] * k[..., 1])
    e = k[..., 3]
    diff = ops.expand_dims(k, 2) - ops.expand_dims(k, 1)          # (n, J, J, 4)
    d2 = minkowski(ops, diff, diff)                                # (n, J, J)
    weighted_e = ops.sum(ops.expand_dims(e, 1) * energy_weights, axis=-1)
    weighted_d = ops.sum(d2 * distance_weights, axis=-1)
    return ops.stack([m2, pt, e, weighted_e, weighted_d], axis=-1)


def build_particle_model(arch, n_particles, n_features, *, offset=0.0, scale=1.0,
                         n_classes=2):
    """A Keras particle tagger on (P, F) particles, with a softmax over the classes.

    The first layer, ``ParticleScale``, standardises each feature of the
    real particles, (x - offset) * scale, and keeps padding rows (all zero in
    a store) at zero, so the model takes the store's particles as they are.

    Parameters
    ----------
    arch : {"dnn", "pfn", "lola"}
        "dnn": TopoDNN (arXiv:1704.02124, as compared in arXiv:1902.09914): the
        P x F scaled particles flattened (padding zeros) into dense layers of
        300, 102, 12 and 6 (ReLU). By default P = 30 and the features
        log_pt_rel, x, y: the pT (as ln of the fraction of the jet's pT) and
        position of the 30 leading particles.
        "pfn": a Particle Flow Network (arXiv:1810.05165): Phi, dense layers
        of 100, 100, 128 (ReLU) applied to each particle, summed over the
        real particles (a row of all zeros is padding and adds nothing), then
        F, dense layers of 100, 100, 100 (ReLU): EnergyFlow's default sizes.
        By default every stored particle and feature.
        "lola": LoLa (arXiv:1707.08966): the four-vectors px, py, pz, e (one
        common scale, so the Minkowski metric holds), CoLa (the P particles
        plus 15 learned linear combinations), LoLa (per combined particle m^2,
        pT, E, a learned weighted sum of energies and of Minkowski
        distances), flattened, batch-normalised, dense layers of 100 and 50
        (ReLU).
    n_particles, n_features : int
        P and F of the input.
    offset, scale : float or sequence of float
        Per feature (or one for all): the first layer's (x - offset) * scale.
    n_classes : int
        Classes K >= 2 (the output's width).

    Returns
    -------
    keras.Model
        Input ``particles`` (P, F) float32, output (K,) probabilities; not compiled.
    """
    if arch not in PARTICLE_ARCHS:
        raise InputError(f"arch={arch!r} is not a particle tagger; choose one of "
                         f"{', '.join(PARTICLE_ARCHS)}")
    n_particles = integer("n_particles", n_particles)
    n_features = integer("n_features", n_features)
    n_classes = integer("n_classes", n_classes)
    if n_classes < 2:
        raise InputError(f"n_classes={n_classes} is too few: a tagger needs at least 2 classes")
    if arch == "lola" and n_features != 4:
        raise InputError(f"arch 'lola' reads four features (px, py, pz, e), not {n_features}")
    offset = _per_feature("offset", offset, n_features, positive=False)
    scale = _per_feature("scale", scale, n_features, positive=True)
    keras = _keras()
    layers = keras.layers
    own = particle_layers()
    inputs = keras.Input((n_particles, n_features), name="particles")
    x = own["ParticleScale"](offset, scale, name="input_scale")(inputs)
    if arch == "dnn":
        x = layers.Flatten()(x)
        for width in DNN_LAYERS:
            x = layers.Dense(width, activation="relu")(x)
    elif arch == "pfn":
        mask = own["ParticleMask"](name="mask")(inputs)
        for width in PFN_PHI:
            x = layers.Dense(width, activation="relu")(x)
        x = own["MaskedSum"](name="sum")([x, mask])
        for width in PFN_F:
            x = layers.Dense(width, activation="relu")(x)
    else:
        x = own["CoLa"](LOLA_COMBINATIONS, name="cola")(x)
        x = own["LoLa"](name="lola")(x)
        x = layers.Flatten()(x)
        x = layers.BatchNormalization()(x)
        for width in LOLA_DENSE:
            x = layers.Dense(width, activation="relu")(x)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(x)
    return keras.Model(inputs, outputs, name=f"jetimg_{arch}")


def _per_feature(name, values, n_features, positive):
    """One finite float per feature (a single value repeated), checked."""
    values = np.atleast_1d(np.asarray(values, dtype=np.float64))
    if values.ndim != 1 or len(values) not in (1, n_features) or not np.isfinite(values).all() \
            or (positive and (values <= 0).any()):
        raise InputError(f"{name}={values.tolist()!r} must be one "
                         f"{'positive ' if positive else ''}number, or one per feature "
                         f"({n_features})")
    return [float(v) for v in np.broadcast_to(values, (n_features,))]

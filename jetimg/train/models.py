"""The CNN taggers, and Keras imported on demand with a backend that is installed.

Two architectures (:func:`build_model` lists their layers): "challenge",
jetimg's own compact CNN baseline for the top-tagging dataset (four 3x3
convolutions, two 3x3 max-pools, three dense layers with dropout, Gaussian
input noise), the default; and
"deeptop", the layout of DeepTop's network (arXiv:1701.08784: four 4x4
convolutions of 8 filters, one 2x2 max-pool, three dense layers of 64).

Keras and its backend are imported only inside functions (:func:`_keras`).
Without ``KERAS_BACKEND`` and with a configured backend that is not installed
(Keras' own default is TensorFlow), jetimg selects PyTorch where it is
installed (the ``torch`` extra), else JAX: on a CPU, PyTorch trains these
networks about three times as fast, keeping every core busy where JAX keeps
about 1.3 of 2 (``benchmarks/bench_loaders.py``).

>>> from jetimg.train.models import ARCHS
>>> ARCHS
('challenge', 'deeptop')
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

#: Architectures of :func:`build_model`.
ARCHS = ("challenge", "deeptop")

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
    if arch not in ARCHS:
        raise InputError(f"arch={arch!r} is not valid; choose one of {', '.join(ARCHS)}")
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

"""The model file: a Keras 3 ``.keras`` zip with jetimg's metadata as one more entry.

``keras.saving.load_model`` alone gives the network, input scaling included;
jetimg's metadata (architecture, npix, channels, input scale, the training
store's recipe, the training figures) is the zip entry ``jetimg.json``
(:func:`read_metadata`), which Keras ignores.

>>> from jetimg.train.modelfile import METADATA_NAME
>>> METADATA_NAME
'jetimg.json'
"""

import dataclasses
import json
import pathlib
import zipfile

from ..errors import InputError
from .models import _keras, _quiet_keras

#: Name of jetimg's metadata inside the ``.keras`` zip.
METADATA_NAME = "jetimg.json"


def _write_metadata(path, metadata):
    """Add jetimg's metadata to a ``.keras`` zip as the entry :data:`METADATA_NAME`."""
    with zipfile.ZipFile(path, "a") as z:
        z.writestr(METADATA_NAME, json.dumps(metadata, indent=1, allow_nan=True))


def read_metadata(path):
    """jetimg's metadata of a model file (the ``jetimg.json`` entry of the ``.keras`` zip).

    Returns
    -------
    dict
        arch, npix, channels (the training images' channel names; None, or
        absent in files written before channels, for one image per jet),
        input_scale (a float, or one per channel), recipe (of the training
        store; None for the pandas image layout), training figures, versions.
    """
    path = pathlib.Path(path)
    if not path.exists():
        raise InputError(f"model not found: {path}")
    try:
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read(METADATA_NAME))
    except zipfile.BadZipFile:
        raise InputError(f"{path} is not a Keras 3 model file (.keras zip)") from None
    except KeyError:
        raise InputError(f"{path} is a Keras model without jetimg's metadata "
                         f"({METADATA_NAME}): train it with jetimg train") from None


@dataclasses.dataclass
class TrainedModel:
    """A loaded model file: the Keras model, jetimg's metadata and the path."""

    model: object
    metadata: dict
    path: str


def load_model(path):
    """Load a model file written by :func:`train`.

    Returns
    -------
    TrainedModel
        ``.model`` (keras.Model, input scaling included), ``.metadata``.
    """
    metadata = read_metadata(path)
    keras = _keras()
    try:
        with _quiet_keras():
            model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:
        raise InputError(f"cannot load the model {path}: {exc}") from None
    return TrainedModel(model=model, metadata=metadata, path=str(path))


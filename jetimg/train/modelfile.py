"""The model file: a Keras 3 ``.keras`` zip with jetimg's metadata as one more entry.

``keras.saving.load_model`` alone gives the network, input scaling included;
jetimg's metadata (architecture, npix, channels, input scale, the classes,
the training store's recipe, the training figures) is the zip entry
``jetimg.json`` (:func:`read_metadata`), which Keras ignores.

The classes: a model has ``n_classes`` outputs (a softmax) named by the
training store's ``label_names`` (None where the store names none, and in
files written before classes were recorded: two classes, as every model was
then). Two lists of class names agree when they are equal, or when one is
unnamed and the other names two classes (:func:`check_label_names`).

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


def model_classes(metadata):
    """(n_classes, label_names) of a model's metadata.

    Files written before classes were recorded give (2, None): binary models.

    >>> model_classes({"n_classes": 3, "label_names": ["a", "b", "c"]})
    (3, ('a', 'b', 'c'))
    >>> model_classes({"arch": "challenge"})
    (2, None)
    """
    names = metadata.get("label_names")
    names = tuple(str(n) for n in names) if names else None
    return int(metadata.get("n_classes") or (len(names) if names else 2)), names


def label_names_text(names):
    """Class names for messages: ``[QCD, top]``, or what an unnamed list means.

    >>> label_names_text(("QCD", "top")), label_names_text(None)
    ('[QCD, top]', 'none (two unnamed classes)')
    """
    return "[" + ", ".join(names) + "]" if names else "none (two unnamed classes)"


def check_label_names(expected, found, found_path, what):
    """Raise unless the class names ``found`` (of ``found_path``) agree with ``expected``.

    They agree when equal, or when one side names none (None: two unnamed
    classes, as stores without ``label_names`` and older models are) and the
    other names two.

    Parameters
    ----------
    expected, found : sequence of str or None
    found_path : str
        The file ``found`` belongs to, named in the message.
    what : str
        What ``expected`` belongs to (e.g. "the model (its training store)").

    Raises
    ------
    InputError
        One line naming both lists.

    >>> check_label_names(("QCD", "top"), None, "s.zarr", "the model")
    >>> check_label_names(("QCD", "Hbb", "Zqq"), None, "s.zarr", "the model")
    ... # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    jetimg.errors.InputError: s.zarr has label_names none (two unnamed classes) but the model ...
    """
    expected = tuple(expected) if expected else None
    found = tuple(found) if found else None
    if expected is None or found is None:
        named = expected or found
        if named is None or len(named) == 2:
            return
    elif expected == found:
        return
    raise InputError(f"{found_path} has label_names {label_names_text(found)} but {what} has "
                     f"{label_names_text(expected)}: the classes must be the same, in the "
                     "same order")


def check_model_file(path, name="model"):
    """Raise unless ``path`` can be a model file: an existing file, not a folder or image store.

    Parameters
    ----------
    path : str or os.PathLike
    name : str
        What the caller calls the model in messages (``"model"`` in Python,
        ``"MODEL"`` on the command line).

    Raises
    ------
    InputError
        One line saying what ``path`` is and what the model must be.

    >>> import tempfile
    >>> check_model_file(tempfile.mkdtemp(), "MODEL")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
        ...
    jetimg.errors.InputError: MODEL ... is a folder, not a model: MODEL must be a .keras ...
    """
    path = pathlib.Path(path)
    must = f"{name} must be a .keras model file written by jetimg train"
    if not path.exists():
        raise InputError(f"{name} not found: {path}")
    from ..io.store.stores import image_layout

    layout = image_layout(path)
    if layout is not None:
        what = "an image store" if layout == "store" else "a pandas image file"
        raise InputError(f"{name} {path} is {what}, not a model: {must}")
    if path.is_dir():
        raise InputError(f"{name} {path} is a folder, not a model: {must}")
    if not zipfile.is_zipfile(path):
        raise InputError(f"{name} {path} is not a Keras 3 model file (.keras zip): {must}")


def read_metadata(path, name="model"):
    """jetimg's metadata of a model file (the ``jetimg.json`` entry of the ``.keras`` zip).

    ``name`` is what the caller calls the model in messages
    (:func:`check_model_file`).

    Returns
    -------
    dict
        kind ("image", or "particle" for dnn, pfn, lola; absent in files
        written before particle taggers: image), arch, npix, channels (the
        training images' channel names; None, or
        absent in files written before channels, for one image per jet),
        input_scale (a float, or one per channel), n_classes and label_names
        (absent in files written before classes were recorded: two classes,
        see :func:`model_classes`), recipe (of the training store; None for
        the pandas image layout), training figures, versions; particle
        models also n_particles, features (names, in the input's order) and
        input_offset (input_scale is then one factor per feature).
    """
    path = pathlib.Path(path)
    check_model_file(path, name)
    try:
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read(METADATA_NAME))
    except zipfile.BadZipFile:
        raise InputError(f"{name} {path} is not a Keras 3 model file (.keras zip)") from None
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
    from .models import particle_layers

    metadata = read_metadata(path)
    keras = _keras()
    if metadata.get("kind") == "particle":
        particle_layers()       # registers the particle taggers' layers for loading
    try:
        with _quiet_keras():
            model = keras.saving.load_model(str(path), compile=False)
    except Exception as exc:
        raise InputError(f"cannot load the model {path}: {exc}") from None
    return TrainedModel(model=model, metadata=metadata, path=str(path))


"""``BuildSettings``: how a build runs, checked once, as :class:`~jetimg.Recipe` is for what it makes.

The recipe says what an image is and is stored with it; the settings say
which input columns to read, how to cut the work into chunks, where to run
it and what to do with an existing output, and are not stored (a resume
checks the codec and chunk plan against the interrupted build's record).

>>> BuildSettings(chunk_size=1500).chunk_size, BuildSettings(chunk_size=1500).image_chunk_rows
(2000, 1000)
>>> BuildSettings(layout="png")
Traceback (most recent call last):
...
jetimg.errors.InputError: layout='png' is not valid; choose one of store, pandas-images
"""

from __future__ import annotations

import dataclasses

from ..checks import integer
from ..device import DEVICES
from ..errors import InputError
from ..io.store.stores import CODECS, DEFAULT_CODEC

__all__ = ["BuildSettings", "DEFAULT_CHUNK_SIZE", "IMAGE_CHUNK_ROWS", "LAYOUTS", "SCHEDULERS",
           "chunk_rows"]

DEFAULT_CHUNK_SIZE = 20_000
IMAGE_CHUNK_ROWS = 1_000
LAYOUTS = ("store", "pandas-images")
SCHEDULERS = ("threads", "processes", "synchronous")


def chunk_rows(chunk_size):
    """Pipeline chunk size and images' store-chunk rows (aligned to each other).

    >>> chunk_rows(500), chunk_rows(20_000), chunk_rows(1500)
    ((500, 500), (20000, 1000), (2000, 1000))
    """
    chunk_size = integer("chunk_size", chunk_size)
    if chunk_size <= IMAGE_CHUNK_ROWS:
        return chunk_size, chunk_size
    chunk_size = -(-chunk_size // IMAGE_CHUNK_ROWS) * IMAGE_CHUNK_ROWS  # round up
    return chunk_size, IMAGE_CHUNK_ROWS


@dataclasses.dataclass(frozen=True)
class BuildSettings:
    """How :func:`jetimg.build` runs: the input's names, the chunks, the workers, the output.

    Every field is a keyword argument of :func:`jetimg.build` with the same
    name and meaning (its docstring says each); they are checked here, when
    the settings are made, before any file is opened.

    Parameters
    ----------
    key, labels_key, pid_key : str, optional
        Which dataset / column / branch holds the jets, the labels and the PDG ids.
    chunk_size : int
        Jets per Dask task; above :data:`IMAGE_CHUNK_ROWS` rounded up to a
        multiple of it (the images' store chunks).
    limit : int, optional
        Only the first ``limit`` rows of the input.
    workers : int, optional
        Local threads or processes (None: the machine's cores).
    scheduler : str or distributed.Client
        One of :data:`SCHEDULERS`, or a dask.distributed address or Client.
    overwrite, resume : bool
        Replace an existing output; finish an interrupted Zarr build.
    layout : str
        One of :data:`LAYOUTS`.
    codec : str
        One of :data:`jetimg.io.store.stores.CODECS`.
    device : str
        One of :data:`jetimg.device.DEVICES`; resolved (``"auto"``, a usable
        GPU) by the build.
    """

    key: str | None = None
    labels_key: str | None = None
    pid_key: str | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    limit: int | None = None
    workers: int | None = None
    scheduler: object = "threads"
    overwrite: bool = False
    resume: bool = False
    layout: str = "store"
    codec: str = DEFAULT_CODEC
    device: str = "cpu"

    def __post_init__(self):
        if self.layout not in LAYOUTS:
            raise InputError(f"layout={self.layout!r} is not valid; choose one of "
                             f"{', '.join(LAYOUTS)}")
        if self.codec not in CODECS:
            raise InputError(f"codec={self.codec!r} is not valid; choose one of "
                             f"{', '.join(CODECS)}")
        object.__setattr__(self, "chunk_size", chunk_rows(self.chunk_size)[0])
        object.__setattr__(self, "workers",
                           integer("workers", self.workers, none_means="all cores"))
        object.__setattr__(self, "limit", integer("limit", self.limit, none_means="every row"))
        scheduler = self.scheduler
        if isinstance(scheduler, str) and scheduler not in SCHEDULERS and "://" not in scheduler:
            raise InputError(f"scheduler={scheduler!r} is not valid; choose one of "
                             f"{', '.join(SCHEDULERS)} or a dask.distributed address "
                             f"(tcp://host:8786)")
        if self.device not in DEVICES:
            raise InputError(f"device={self.device!r} is not valid; choose one of "
                             f"{', '.join(DEVICES)}")
        for name in ("overwrite", "resume"):
            object.__setattr__(self, name, bool(getattr(self, name)))

    @property
    def image_chunk_rows(self):
        """Rows of each stored chunk of images (a divisor of ``chunk_size``)."""
        return chunk_rows(self.chunk_size)[1]

    @property
    def local(self):
        """Whether the chunks run on dask's local schedulers (not dask.distributed)."""
        return isinstance(self.scheduler, str) and self.scheduler in SCHEDULERS

    @classmethod
    def names(cls):
        """The field names, which :func:`jetimg.build` takes as keywords."""
        return tuple(f.name for f in dataclasses.fields(cls))

    @classmethod
    def from_options(cls, settings=None, **options):
        """Settings from optional base settings and keyword overrides.

        >>> BuildSettings.from_options(BuildSettings(workers=2), resume=True).workers
        2
        """
        unknown = sorted(set(options) - set(cls.names()))
        if unknown:
            raise InputError(f"unknown build setting(s) {', '.join(unknown)}; valid settings "
                             f"are {', '.join(cls.names())}")
        if settings is None:
            return cls(**options)
        if not isinstance(settings, cls):
            raise InputError(f"settings must be a jetimg.BuildSettings, not "
                             f"{type(settings).__name__}")
        return dataclasses.replace(settings, **options) if options else settings

"""The build: an input of jets -> an image store, chunk by chunk with Dask.

build.py       ``build()``: checks, the store, the chunk plan, clean-up on failure
settings.py    ``BuildSettings``: how a build runs (input names, chunks, workers, output)
chunks.py      the body of one task: read rows, image them, write them
schedulers.py  Dask's local schedulers and dask.distributed
resume.py      the record of an interrupted build and the checks of a resume
"""

from .build import BuildResult, build
from .resume import build_progress
from .settings import DEFAULT_CHUNK_SIZE, LAYOUTS, SCHEDULERS, BuildSettings, chunk_rows

__all__ = ["build", "build_progress", "BuildResult", "BuildSettings", "DEFAULT_CHUNK_SIZE",
           "LAYOUTS", "SCHEDULERS", "chunk_rows"]

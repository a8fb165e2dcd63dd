"""Progress of :func:`~jetimg.train.train`: a Keras callback, what it reports, and two displays.

The callback times the training steps of every epoch and calls
``progress(status)`` after each step (``status.kind == "step"``) and once at
the end of each epoch, after validation (``"epoch"``); ``status`` is a
:class:`TrainStatus`. Two displays take these calls:

* :class:`ProgressBar`: one line redrawn in place (a terminal): epoch, steps,
  loss, accuracy, images/s and the time left in the epoch; the epoch's
  summary line stays above it.
* :class:`ProgressLines`: whole lines (a log file, a notebook): a line each
  time another tenth of the epoch's steps is done, or after ``seconds``
  without one, and the epoch's summary line.

Images per second count training steps only: a step lasts from the end of
the step before it (the start of the step, for an epoch's first) to its own
end, so validation, checkpointing and the epoch's bookkeeping are left out;
reading the batches is in. A step that runs a batch of a size not seen
before compiles the network on JAX and TensorFlow (seconds on a CPU): it is
timed, but left out of the rate (the rate takes every step where all of them
compile).

Keras is imported when :func:`train` makes the callback, not with this module.

>>> status = TrainStatus("step", epoch=1, epochs=20, step=40, steps=391, images=5120,
...                      seconds=11.0, images_per_second=465.5, seconds_left=96.4,
...                      loss=0.45213, accuracy=0.81)
>>> print(status)
epoch 1/20: step 40 of 391 (10%), loss 0.4521, acc 0.8100, 466 training images/s, 0:01:36 left
"""

from __future__ import annotations

import dataclasses
import math
import shutil
import sys
import time

__all__ = ["TrainStatus", "ProgressBar", "ProgressLines"]


def _clock(seconds):
    seconds = int(round(seconds))
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


def _known(value):
    return value is not None and math.isfinite(value)


@dataclasses.dataclass(frozen=True)
class TrainStatus:
    """Where training stands, after a step or at the end of an epoch.

    ``str(status)`` is :attr:`line`.

    Attributes
    ----------
    kind : {"step", "epoch"}
        After a training step, or at the end of an epoch (validation done).
    epoch, epochs : int
        This epoch (from 1) and the most epochs.
    step, steps : int
        Training steps (batches) done in this epoch, and per epoch.
    images : int
        Images trained on in this epoch so far.
    seconds : float
        Time of this epoch's training steps so far (validation left out).
    images_per_second : float
        This epoch's training images per second, steps that compile left out
        (NaN before a step is timed).
    seconds_left : float
        Estimated time to the end of this epoch's training steps (NaN unknown).
    loss, accuracy : float
        The epoch's running mean over its steps so far (its final figures at
        the end of the epoch).
    step_images, step_seconds : int, float
        The last step's batch size and time (``"step"`` only; 0 otherwise).
    compiles : bool
        The last step ran a batch size for the first time (left out of the rate).
    val_loss, val_accuracy : float
        Validation figures (``"epoch"`` only; NaN otherwise).
    best : bool
        The epoch has the lowest validation loss so far (``"epoch"`` only).
    epoch_seconds : float
        The whole epoch, validation and checkpoint included (``"epoch"`` only).
    """

    kind: str
    epoch: int
    epochs: int
    step: int
    steps: int
    images: int
    seconds: float
    images_per_second: float
    seconds_left: float
    loss: float
    accuracy: float
    step_images: int = 0
    step_seconds: float = 0.0
    compiles: bool = False
    val_loss: float = math.nan
    val_accuracy: float = math.nan
    best: bool = False
    epoch_seconds: float = math.nan

    @property
    def line(self):
        """One line: the step's progress, or the epoch's summary."""
        if self.kind == "epoch":
            rate = (f"  {self.images_per_second:,.0f} training images/s"
                    if _known(self.images_per_second) else "")
            return (f"epoch {self.epoch}/{self.epochs}  loss {self.loss:.4f}  "
                    f"acc {self.accuracy:.4f}  val_loss {self.val_loss:.4f}  "
                    f"val_acc {self.val_accuracy:.4f}  {self.epoch_seconds:.1f} s"
                    f"{rate}{'  *best' if self.best else ''}")
        parts = [f"epoch {self.epoch}/{self.epochs}: step {self.step:,} of {self.steps:,} "
                 f"({100 * self.step // max(self.steps, 1)}%)", f"loss {self.loss:.4f}",
                 f"acc {self.accuracy:.4f}"]
        if _known(self.images_per_second):
            parts.append(f"{self.images_per_second:,.0f} training images/s")
        if _known(self.seconds_left) and self.step < self.steps:
            parts.append(f"{_clock(self.seconds_left)} left")
        return ", ".join(parts)

    def bar(self, width=80):
        """The step's progress as a bar line of at most ``width`` characters.

        Its fields keep their widths through an epoch, so the bar stays put.
        """
        digits = len(f"{self.steps:,}")
        rate = (f"{self.images_per_second:,.0f} images/s"
                if _known(self.images_per_second) else "")
        left = (f"{_clock(self.seconds_left)} left"
                if _known(self.seconds_left) and self.step < self.steps else "")
        head = f"epoch {self.epoch}/{self.epochs} "
        tail = (f" {self.step:>{digits},}/{self.steps:,}  loss {self.loss:.4f}  "
                f"{rate:>14}  {left:>12}")
        room = min(25, width - len(head) - len(tail) - 2)
        if room < 5:        # no room for a bar: the fields that fit
            text = head.strip()
            for field in (f"{self.step:,}/{self.steps:,}", f"loss {self.loss:.4f}", rate, left):
                if field and len(text) + 2 + len(field) <= width:
                    text += "  " + field
            return text[:width]
        filled = room * self.step // max(self.steps, 1)
        return f"{head}[{'#' * filled}{'.' * (room - filled)}]{tail}"

    def __str__(self):
        return self.line


class ProgressLines:
    """``progress(status)`` as whole lines: every tenth of an epoch's steps, or after
    ``seconds`` without a line, and each epoch's summary.

    Parameters
    ----------
    write : callable
        Takes each line (default :func:`print`).
    every : float
        Fraction of an epoch's steps between lines.
    seconds : float
        Longest time without a line while steps are done.
    """

    def __init__(self, write=print, every=0.1, seconds=60.0):
        self.write, self.every, self.interval = write, float(every), float(seconds)
        self._epoch = None
        self._shown = 0          # fractions of the epoch already reported
        self._last = 0.0

    def __call__(self, status):
        now = time.perf_counter()
        if status.kind == "epoch":
            self.write(status.line)
            return
        if status.epoch != self._epoch:
            self._epoch, self._shown, self._last = status.epoch, 0, now - status.seconds
        mark = int(status.step / max(status.steps, 1) / self.every + 1e-9)
        if mark > self._shown or now - self._last >= self.interval:
            self._shown = max(self._shown, mark)
            self._last = now
            self.write(status.line)


class ProgressBar:
    """``progress(status)`` as one bar line redrawn in place on ``stream`` (a terminal),
    with each epoch's summary line printed above it.

    Call :meth:`close` when training stops, so that what follows starts on a
    new line (``with ProgressBar() as progress:`` does).

    Parameters
    ----------
    stream : file, optional
        Default ``sys.stderr``.
    interval : float
        Shortest time between redraws, in seconds (an epoch's last step is
        always drawn).
    width : int, optional
        Characters of the line (default: the terminal's width less one).
    """

    def __init__(self, stream=None, interval=0.1, width=None):
        self.stream = stream if stream is not None else sys.stderr
        self.interval = float(interval)
        self.width = width
        self._drawn = -math.inf
        self._width = 0          # characters of the bar on screen (0: none)

    def __call__(self, status):
        if status.kind == "epoch":
            self._clear()
            self.stream.write(status.line + "\n")
            self.stream.flush()
            return
        now = time.perf_counter()
        if now - self._drawn < self.interval and status.step < status.steps:
            return
        self._drawn = now
        text = status.bar(self.width or shutil.get_terminal_size((80, 24)).columns - 1)
        self.stream.write("\r" + text + " " * max(0, self._width - len(text)))
        self.stream.flush()
        self._width = len(text)

    def _clear(self):
        if self._width:
            self.stream.write("\r" + " " * self._width + "\r")
            self._width = 0

    def close(self):
        """End the bar's line (a message after an interruption starts on its own)."""
        if self._width:
            self.stream.write("\n")
            self.stream.flush()
            self._width = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Clock:
    """The timings of the training steps: per epoch, and over the whole run."""

    def __init__(self, n_images, batch_size):
        self.n_images, self.batch_size = int(n_images), int(batch_size)
        self.sizes = set()           # batch sizes already run (a new one compiles)
        self.epochs = []             # per epoch: the dict of :meth:`epoch_begin`

    def epoch_begin(self):
        self.epochs.append({"steps": 0, "images": 0, "seconds": 0.0, "timed_images": 0,
                            "timed_seconds": 0.0, "started": time.perf_counter(),
                            "step_began": None, "last_end": None})

    def step_end(self, steps_done, began, now):
        """Record the step that ends at ``now``; (images, seconds, compiles) of it."""
        e = self.epochs[-1]
        done = min(self.n_images, steps_done * self.batch_size)
        images = done - e["images"]
        start = e["last_end"] if e["last_end"] is not None else began
        seconds = now - start
        compiles = images not in self.sizes
        self.sizes.add(images)
        e["steps"], e["images"], e["last_end"] = steps_done, done, now
        e["seconds"] += seconds
        if not compiles:
            e["timed_images"] += images
            e["timed_seconds"] += seconds
        return images, seconds, compiles

    @staticmethod
    def rate(epochs):
        """Training images per second over ``epochs`` (steps that compile left out
        unless every step compiled); NaN without time."""
        images = sum(e["timed_images"] for e in epochs)
        seconds = sum(e["timed_seconds"] for e in epochs)
        if seconds <= 0:
            images = sum(e["images"] for e in epochs)
            seconds = sum(e["seconds"] for e in epochs)
        return images / seconds if seconds > 0 else math.nan

    def run_rate(self):
        """Training images per second over the whole run."""
        return self.rate(self.epochs)

    def train_seconds(self):
        """Time of all training steps of the run, compiling ones included."""
        return float(sum(e["seconds"] for e in self.epochs))

    def compile_seconds(self):
        """Time of the steps that compiled (those left out of the rate)."""
        return float(sum(e["seconds"] - e["timed_seconds"] for e in self.epochs))


def _progress_callback(keras, progress, *, epochs, n_images, batch_size):
    """The Keras callback that times the training steps and calls ``progress(status)``.

    Its ``clock`` (:class:`_Clock`) holds the timings once training ends.
    """

    class TrainProgress(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.clock = _Clock(n_images, batch_size)
            self.best = math.inf
            self.steps = -(-int(n_images) // int(batch_size))

        def on_epoch_begin(self, epoch, logs=None):
            self.clock.epoch_begin()
            self.steps = int((self.params or {}).get("steps") or self.steps)

        def on_train_batch_begin(self, batch, logs=None):
            self.clock.epochs[-1]["step_began"] = time.perf_counter()

        def on_train_batch_end(self, batch, logs=None):
            now = time.perf_counter()
            e = self.clock.epochs[-1]
            images, seconds, compiles = self.clock.step_end(batch + 1, e["step_began"], now)
            if progress is None:
                return
            # no rate (nor time left) until a step that does not compile is timed
            rate = self.clock.rate([e]) if e["timed_seconds"] > 0 else math.nan
            left = (self.clock.n_images - e["images"]) / rate if _known(rate) else math.nan
            logs = logs or {}
            progress(TrainStatus(
                "step", epoch=len(self.clock.epochs), epochs=epochs, step=batch + 1,
                steps=self.steps, images=e["images"], seconds=e["seconds"],
                images_per_second=rate, seconds_left=left, loss=float(logs.get("loss", math.nan)),
                accuracy=float(logs.get("accuracy", math.nan)), step_images=images,
                step_seconds=seconds, compiles=compiles))

        def on_epoch_end(self, epoch, logs=None):
            now = time.perf_counter()
            logs = logs or {}
            e = self.clock.epochs[-1]
            val = float(logs.get("val_loss", math.nan))
            best = val < self.best
            if best:
                self.best = val
            if progress is None:
                return
            progress(TrainStatus(
                "epoch", epoch=epoch + 1, epochs=epochs, step=e["steps"], steps=self.steps,
                images=e["images"], seconds=e["seconds"],
                images_per_second=self.clock.rate([e]), seconds_left=0.0,
                loss=float(logs.get("loss", math.nan)),
                accuracy=float(logs.get("accuracy", math.nan)), val_loss=val,
                val_accuracy=float(logs.get("val_accuracy", math.nan)), best=best,
                epoch_seconds=now - e["started"]))

    return TrainProgress()

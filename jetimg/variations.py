"""Systematic variations of the input (docs/recipe.md "Variations"): the recipe's ``vary``.

A :class:`Vary` scales, smears or drops each jet's valid constituents before
the recipe's steps, with random numbers drawn from (seed, input row, slot) so
that a varied store is the same for any chunking, worker count, device or
resume. It is built from a mapping or from the command line's text:

>>> v = Vary.parse("scale=1.05,smear=0.1,seed=3")
>>> v.scale, v.smear, v.seed
(1.05, 0.1, 3)
>>> v.to_attrs()
{'scale': 1.05, 'neutral_scale': 1.0, 'smear': 0.1, 'drop': 0.0, 'seed': 3}
>>> Vary.parse("") is None
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import numpy as np

from .errors import RecipeError

__all__ = ["Vary", "VaryRanges", "VARY_NAMES", "SMEAR_MAX", "SEED_LIMIT", "vary_arrays"]

#: the variation's names, in the recipe attribute's order
VARY_NAMES = ("scale", "neutral_scale", "smear", "drop", "seed")
#: the largest smear (sigma): 1 + sigma g with g clipped to [-3, 3] stays >= 0.1
SMEAR_MAX = 0.3
#: seeds are 0 <= S < SEED_LIMIT
SEED_LIMIT = 2 ** 32


def _shown(value):
    """A value as the user gave it: text as typed, anything else as its repr."""
    return value if isinstance(value, str) else repr(value)


def _number(text, name, value):
    """``value`` as a float, or a RecipeError naming ``name`` in ``text``."""
    if isinstance(value, bool):
        raise RecipeError(f"vary={text!r}: {name}={_shown(value)} is not a number")
    try:
        return float(value)
    except (TypeError, ValueError):
        raise RecipeError(f"vary={text!r}: {name}={_shown(value)} is not a number") from None


def _name_values(value, form, example):
    """``(text, [(name, value), ...])`` of ``"name=value,..."`` text or of a mapping,
    the names checked (known, none repeated); None for empty text or mapping.
    ``text`` is what messages quote; ``form`` and ``example`` say what is expected."""
    if isinstance(value, str):
        text = value
        if not text.strip():
            return None
        items = []
        for part in value.split(","):
            name, eq, val = part.partition("=")
            if not part.strip():
                raise RecipeError(f"vary={text!r} has an empty entry: separate name=value "
                                  f"pairs by single commas")
            if not eq or not val.strip():
                raise RecipeError(f"vary={text!r}: {part.strip()!r} is not {form} (names: "
                                  f"{', '.join(VARY_NAMES)})")
            items.append((name.strip(), val.strip()))
    elif isinstance(value, dict):
        items = list(value.items())
        text = ",".join(f"{k}={v}" for k, v in items)
    else:
        raise RecipeError(f"vary={value!r} is not valid; give {form} pairs such as {example} "
                          f"or a dict of them")
    if not items:
        return None
    names = [name for name, _ in items]
    for name in names:
        if name not in VARY_NAMES:
            raise RecipeError(f"vary={text!r}: unknown name {name!r}; the names are "
                              f"{', '.join(VARY_NAMES)}")
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        raise RecipeError(f"vary={text!r} names {', '.join(repeated)} more than once")
    return text, items


@dataclass(frozen=True)
class Vary:
    """A systematic variation of every jet's valid constituents (docs/recipe.md
    "Variations"), applied in this order: drop, smear, neutral_scale, scale.

    Parameters
    ----------
    scale : float
        E, px, py, pz of every valid constituent times ``scale`` (finite, > 0).
    neutral_scale : float
        Photons and neutral hadrons only, times ``neutral_scale`` (finite,
        > 0); a value other than 1 needs an input with particle kinds.
    smear : float
        Each constituent's four-vector times 1 + smear g, g a standard normal
        draw clipped to [-3, 3]; 0 <= smear <= 0.3.
    drop : float
        Each constituent but the leading one of the unvaried jet is removed
        with probability ``drop``; 0 <= drop < 1.
    seed : int
        The draws' seed, 0 <= seed < 2**32; one seed gives the same g at
        every smear and nested drops at every drop.
    """

    scale: float = 1.0
    neutral_scale: float = 1.0
    smear: float = 0.0
    drop: float = 0.0
    seed: int = 0

    def __post_init__(self):
        self._check(self.to_text())

    def _check(self, text):
        put = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen)
        for name in ("scale", "neutral_scale"):
            value = _number(text, name, getattr(self, name))
            if not (math.isfinite(value) and value > 0):
                raise RecipeError(f"vary={text!r}: {name}={_shown(getattr(self, name))} is not "
                                  f"valid; choose a finite number > 0")
            put(name, value)
        smear = _number(text, "smear", self.smear)
        if not 0 <= smear <= SMEAR_MAX:
            raise RecipeError(f"vary={text!r}: smear={_shown(self.smear)} is not valid; choose "
                              f"sigma from 0 to {SMEAR_MAX}")
        put("smear", smear)
        drop = _number(text, "drop", self.drop)
        if not 0 <= drop < 1:
            raise RecipeError(f"vary={text!r}: drop={_shown(self.drop)} is not valid; choose a "
                              f"probability from 0 up to (not including) 1")
        put("drop", drop)
        seed = self.seed
        if isinstance(seed, str):
            try:
                seed = int(seed)
            except ValueError:
                raise RecipeError(f"vary={text!r}: seed={_shown(self.seed)} is not valid; choose "
                                  f"an integer from 0 to 2**32 - 1") from None
        if isinstance(seed, bool) or not isinstance(seed, int | float) \
                or not float(seed).is_integer() or not 0 <= seed < SEED_LIMIT:
            raise RecipeError(f"vary={text!r}: seed={_shown(self.seed)} is not valid; choose an "
                              f"integer from 0 to 2**32 - 1")
        put("seed", int(seed))

    @classmethod
    def parse(cls, value):
        """A Vary of ``value``: a Vary, a mapping of :data:`VARY_NAMES` to values,
        or text ``"name=value,name=value"``; None for None, ``""`` or an empty
        mapping (no variation).

        >>> Vary.parse({"drop": 0.1}).drop
        0.1

        Raises
        ------
        RecipeError
            An unknown or repeated name, a value that is not a number, or a
            value out of its range (one line, quoting what was given).
        """
        if value is None or isinstance(value, cls):
            return value
        parsed = _name_values(value, "name=value", "'scale=1.05,smear=0.1,seed=3'")
        if parsed is None:
            return None
        text, items = parsed
        out = cls.__new__(cls)
        for f in fields(cls):
            object.__setattr__(out, f.name, dict(items).get(f.name, f.default))
        out._check(text)
        return out

    def to_attrs(self):
        """The recipe attribute's canonical form: all five names, defaults filled in."""
        return asdict(self)

    def to_text(self):
        """The names that differ from the defaults as ``name=value,...`` (as the
        command line takes them; ``seed`` always).

        >>> Vary(scale=0.9, seed=2).to_text()
        'scale=0.9,seed=2'
        """
        parts = [f"{f.name}={getattr(self, f.name)!r}" for f in fields(self)
                 if f.name == "seed" or getattr(self, f.name) != f.default]
        return ",".join(parts)

    def __str__(self):
        return self.to_text()

    @property
    def needs_kinds(self):
        """Whether the variation reads particle kinds (``neutral_scale`` other than 1)."""
        return self.neutral_scale != 1.0


# ---------------------------------------------------------------------------
# The same draws in NumPy, with a value per jet: variations drawn in training


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
#: the streams of a jet's own draws (its scale, neutral_scale, smear and drop
#: values) are 2^63 + j: far from every constituent's 4 k + t
JET_STREAM = 2 ** 63
#: the draws of training epoch e use the 64-bit seed S + 2^32 (e + 1): never
#: the draws of a build (S < 2^32), another for every epoch
EPOCH_SEED_STEP = 2 ** 32


def _mix(z):
    """SplitMix64's output function on uint64 arrays (wrapping modulo 2^64)."""
    z = z + _GOLDEN
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


def _uniform(h):
    """u = ((h >> 11) + 0.5) 2^-53 of uint64 hashes ``h``, in (0, 1)."""
    return ((h >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0 ** -53


def row_keys(seed, rows):
    """mix(mix(S) ^ n) of every input row n (uint64 (N,)), ``seed`` < 2^64."""
    with np.errstate(over="ignore"):
        s = _mix(np.array([seed], np.uint64))
        return _mix(s ^ np.asarray(rows, np.uint64).reshape(-1))


def slot_uniforms(keys, n_slots, t):
    """u_t of slots 0 .. n_slots - 1 of the jets of ``keys``: (N, n_slots) float64."""
    with np.errstate(over="ignore"):
        streams = np.arange(n_slots, dtype=np.uint64) * np.uint64(4) + np.uint64(t)
        return _uniform(_mix(keys[:, None] ^ streams[None, :]))


def jet_uniforms(keys, j):
    """The jet's own draw j (0 scale, 1 neutral_scale, 2 smear, 3 drop): (N,) float64."""
    with np.errstate(over="ignore"):
        return _uniform(_mix(keys ^ np.uint64(JET_STREAM + j)))


def vary_arrays(jets, rows, *, seed, scale=1.0, neutral_scale=1.0, smear=0.0, drop=0.0,
                kinds=None):
    """docs/recipe.md's variation of jets (N, M, 4) in NumPy, with values per jet.

    ``scale``, ``neutral_scale``, ``smear`` and ``drop`` are numbers or (N,)
    arrays (one value per jet); ``rows`` (N,) the jets' input rows, ``seed``
    the draws' seed (any integer 0 <= seed < 2^64); ``kinds`` (N, M) kind
    codes for ``neutral_scale``. Returns the varied jets, float64 (N, M, 4):
    dropped constituents as padding (zeros), every constituent where it was,
    invalid jets unchanged. With numbers and a seed below 2^32 this is what
    the kernels do with ``vary`` (tests/test_variations.py holds them equal).
    """
    jets = np.asarray(jets)
    n, m = jets.shape[:2]
    out = jets.astype(np.float64)
    if n == 0:
        return out
    e, px, py, pz = (out[..., c] for c in range(4))
    padding = (e == 0) & (px == 0) & (py == 0) & (pz == 0)
    good = np.isfinite(out).all(axis=2) & (e > 0) & ((px != 0) | (py != 0))
    valid_jet = (padding | good).all(axis=1)
    slots = good & valid_jet[:, None]
    keys = row_keys(seed, rows)
    per_jet = [np.broadcast_to(np.asarray(v, np.float64), (n,))
               for v in (scale, neutral_scale, smear, drop)]
    factor = np.broadcast_to(per_jet[0][:, None], (n, m)).copy()
    if (per_jet[3] > 0).any():
        pt2 = np.where(slots, px * px + py * py, -1.0)
        lead = np.argmax(pt2, axis=1)          # the first slot of the largest pT
        dropped = slots & (slot_uniforms(keys, m, 0) < per_jet[3][:, None])
        dropped[np.arange(n), lead] = False
    else:
        dropped = np.zeros((n, m), bool)
    f_smear = np.ones((n, m))
    if (per_jet[2] > 0).any():
        g = np.sqrt(-2.0 * np.log(slot_uniforms(keys, m, 1))) * np.cos(
            2.0 * np.pi * slot_uniforms(keys, m, 2))
        f_smear = 1.0 + per_jet[2][:, None] * np.clip(g, -3.0, 3.0)
    f_neutral = np.ones((n, m))
    if kinds is not None and (per_jet[1] != 1).any():
        neutral = np.isin(np.asarray(kinds), (1, 5))      # photon, neutral_hadron
        f_neutral = np.where(neutral, per_jet[1][:, None], 1.0)
    varied = ((out * f_smear[..., None]) * f_neutral[..., None]) * factor[..., None]
    varied[dropped] = 0.0
    return np.where(slots[..., None], varied, out)


def _range(text, name, value):
    """(lo, hi) of a value "a:b" or a number, as floats."""
    if isinstance(value, str) and ":" in value:
        lo, _, hi = value.partition(":")
        return _number(text, name, lo.strip()), _number(text, name, hi.strip())
    if isinstance(value, list | tuple) and len(value) == 2:
        return _number(text, name, value[0]), _number(text, name, value[1])
    v = _number(text, name, value)
    return v, v


@dataclass(frozen=True)
class VaryRanges:
    """A variation drawn afresh for every jet and epoch in training (hardened training).

    Each of ``scale``, ``neutral_scale``, ``smear`` and ``drop`` is a range
    (lo, hi): each jet of each epoch takes a value uniform in it (one number
    is a range of width 0), then the variation of docs/recipe.md with that
    value. The draws of epoch e are those of the 64-bit seed ``seed`` + 2^32
    (e + 1), for the jet's input row and slot; its own values use streams
    2^63 + j (j = 0 scale, 1 neutral_scale, 2 smear, 3 drop). So the same
    seed, epoch, row and slot give the same draw, in any worker.

    >>> r = VaryRanges.parse("scale=0.9:1.1,smear=0.05")
    >>> r.scale, r.smear, r.drop
    ((0.9, 1.1), (0.05, 0.05), (0.0, 0.0))
    >>> r.to_text()
    'scale=0.9:1.1,smear=0.05'
    """

    scale: tuple = (1.0, 1.0)
    neutral_scale: tuple = (1.0, 1.0)
    smear: tuple = (0.0, 0.0)
    drop: tuple = (0.0, 0.0)
    seed: int | None = None

    @classmethod
    def parse(cls, value):
        """A VaryRanges of text ``"scale=0.9:1.1,smear=0:0.1,seed=3"``, a mapping
        of the same (ranges as "a:b" or [a, b]), or a VaryRanges; None for None
        or ``""``. Both ends of every range are checked as :class:`Vary`
        checks a value, and a range must not run backwards."""
        if value is None or isinstance(value, cls):
            return value
        parsed = _name_values(value, "name=value or name=low:high",
                              "'scale=0.9:1.1,smear=0.1'")
        if parsed is None:
            return None
        text, items = parsed
        given = dict(items)
        ranges = {}
        for name in VARY_NAMES[:4]:
            lo, hi = _range(text, name, given.get(name, Vary.__dataclass_fields__[name].default))
            if lo > hi:
                raise RecipeError(f"vary={text!r}: {name} runs from {lo:g} down to {hi:g}; "
                                  f"give low:high")
            for end in (lo, hi):   # each end must be a valid value, as Vary checks it
                _check_end(text, name, end)
            ranges[name] = (lo, hi)
        seed = given.get("seed")
        return cls(**ranges, seed=None if seed is None else _seed_of(text, seed))

    def to_attrs(self):
        """A JSON-able dict: each name as [low, high], and the seed (or None)."""
        out = {name: list(getattr(self, name)) for name in VARY_NAMES[:4]}
        out["seed"] = self.seed
        return out

    @classmethod
    def from_attrs(cls, attrs):
        return None if attrs is None else cls.parse(dict(attrs))

    def to_text(self):
        """The ranges that differ from nothing, as the command line writes them."""
        parts = []
        for name in VARY_NAMES[:4]:
            lo, hi = getattr(self, name)
            default = Vary.__dataclass_fields__[name].default
            if (lo, hi) != (default, default):
                parts.append(f"{name}={lo:g}" if lo == hi else f"{name}={lo:g}:{hi:g}")
        if self.seed is not None:
            parts.append(f"seed={self.seed}")
        return ",".join(parts)

    def __str__(self):
        return self.to_text()

    @property
    def needs_kinds(self):
        """Whether the variation reads particle kinds (a neutral_scale other than 1)."""
        return self.neutral_scale != (1.0, 1.0)

    def apply(self, jets, rows, epoch, seed=None, kinds=None):
        """The jets of input ``rows`` as epoch ``epoch`` varies them (float64 (N, M, 4));
        ``seed`` is used where the ranges name none (then 0)."""
        base = self.seed if self.seed is not None else (seed or 0)
        full = int(base) + EPOCH_SEED_STEP * (int(epoch) + 1)
        keys = row_keys(full, rows)
        values = {}
        for j, name in enumerate(VARY_NAMES[:4]):
            lo, hi = getattr(self, name)
            values[name] = lo if lo == hi else lo + (hi - lo) * jet_uniforms(keys, j)
        return vary_arrays(jets, rows, seed=full, kinds=kinds, **values)


def _check_end(text, name, value):
    """Raise as :class:`Vary` does for a value out of its range."""
    try:
        Vary.parse({name: value})
    except RecipeError as exc:
        detail = str(exc).split(": ", 1)[1]
        raise RecipeError(f"vary={text!r}: {detail}") from None


def _seed_of(text, seed):
    try:
        return Vary.parse({"seed": seed}).seed
    except RecipeError as exc:
        detail = str(exc).split(": ", 1)[1]
        raise RecipeError(f"vary={text!r}: {detail}") from None

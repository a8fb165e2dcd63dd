"""Systematic variations of the input (docs/recipe.md "Variations"): the recipe's ``vary``.

A :class:`Vary` scales, smears or drops each jet's valid constituents before
the recipe's steps, with random numbers drawn from (seed, input row, slot) so
that a varied store is the same for any chunking, worker count, device or
resume. It is built from a mapping or from the command line's text:

>>> v = Vary.parse("scale=1.05,smear=0.1,seed=3")
>>> v.scale, v.smear, v.seed
(1.05, 0.1, 3)
>>> v.to_attrs()
{'scale': 1.05, 'neutral_scale': 1.0, 'smear': 0.0, 'drop': 0.0, 'seed': 3}
>>> Vary.parse("") is None
True
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

from .errors import RecipeError

__all__ = ["Vary", "VARY_NAMES", "SMEAR_MAX", "SEED_LIMIT"]

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
        if isinstance(value, str):
            text = value
            if not text.strip():
                return None
            items = []
            for part in value.split(","):
                name, eq, val = part.partition("=")
                name = name.strip()
                if not part.strip():
                    raise RecipeError(f"vary={text!r} has an empty entry: separate "
                                      f"name=value pairs by single commas")
                if not eq or not val.strip():
                    raise RecipeError(f"vary={text!r}: {part.strip()!r} is not name=value "
                                      f"(names: {', '.join(VARY_NAMES)})")
                items.append((name, val.strip()))
        elif isinstance(value, dict):
            text = ",".join(f"{k}={v}" for k, v in value.items())
            items = list(value.items())
        else:
            raise RecipeError(f"vary={value!r} is not valid; give name=value pairs such as "
                              f"'scale=1.05,smear=0.1,seed=3' or a dict of them")
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

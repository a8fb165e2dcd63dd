"""The preprocessing recipe: every option of docs/recipe.md in one checked, hashable object.

>>> r = Recipe(npix=32, normalise="max")
>>> r.npix, r.normalise, r.center
(32, 'max', 'centroid')
>>> Recipe.from_attrs(r.to_attrs()) == r
True
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from .errors import RecipeError
from .kinds import GROUPS
from .variations import Vary

__all__ = ["Recipe", "DEFAULT_PIXEL_SIZE", "CHANNEL_NAMES", "QUANTITIES", "parse_channel",
           "PARTICLE_FEATURES", "KIND_FEATURES", "particle_features"]

#: (dx, dy): a 180 x 180 grid over |eta| < 2.6 and the full phi circle.
DEFAULT_PIXEL_SIZE = (5.2 / 180.0, 2.0 * math.pi / 180.0)

CENTERS = ("centroid", "jet", "leading")
INTENSITIES = ("pt", "e")
NORMALISES = ("sum", "max", "none")
INVALIDS = ("raise", "skip")

#: what a channel adds per constituent, in kernel code order
QUANTITIES = ("pt", "e", "count")
#: every valid channel name: QUANTITY or KIND_QUANTITY (docs/recipe.md, step 6)
CHANNEL_NAMES = QUANTITIES + tuple(f"{kind}_{q}" for kind in GROUPS for q in QUANTITIES)

#: the features of every particle (docs/recipe.md, step 7), in store order
PARTICLE_FEATURES = ("x", "y", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "delta_r",
                     "px", "py", "pz", "e")
#: the six more features of inputs with particle kinds
KIND_FEATURES = ("charge", "is_charged_hadron", "is_neutral_hadron", "is_photon",
                 "is_electron", "is_muon")


def particle_features(with_kinds):
    """The names of the F particle features: 11, or 17 for an input with particle kinds.

    >>> len(particle_features(False)), particle_features(True)[11:13]
    (11, ('charge', 'is_charged_hadron'))
    """
    return PARTICLE_FEATURES + (KIND_FEATURES if with_kinds else ())


# Integer codes the kernels take (numba kernels take numbers, not strings).
CENTER_CODE = {name: i for i, name in enumerate(CENTERS)}
INTENSITY_CODE = {name: i for i, name in enumerate(INTENSITIES)}
NORMALISE_CODE = {name: i for i, name in enumerate(NORMALISES)}


def _choice(name, value, valid):
    if not isinstance(value, str) or value.lower() not in valid:
        raise RecipeError(f"{name}={value!r} is not valid; choose one of "
                          + ", ".join(repr(v) for v in valid))
    return value.lower()


def _boolean(name, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise RecipeError(f"{name}={value!r} is not valid; choose True or False")


def _particles(value):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) \
            or int(value) != value or value < 1:
        raise RecipeError(f"particles={value!r} is not valid; choose an integer >= 1 "
                          f"(the most particles kept per jet) or None")
    return int(value)


def parse_channel(name):
    """(kind group or None, quantity) of a valid channel name.

    >>> parse_channel("charged_pt"), parse_channel("neutral_hadron_count"), parse_channel("e")
    (('charged', 'pt'), ('neutral_hadron', 'count'), (None, 'e'))
    """
    kind, _, quantity = name.rpartition("_")
    return (kind or None), quantity


def _channels(value):
    if value is None or (isinstance(value, list | tuple) and len(value) == 0):
        return None
    text = isinstance(value, str)
    if text:
        value = [name.strip() for name in value.split(",")]
    if not isinstance(value, list | tuple):
        raise RecipeError(f"channels={value!r} is not valid; give a list of channel names "
                          f"such as ['charged_pt', 'neutral_pt', 'charged_count']")
    empty = [i for i, name in enumerate(value, 1) if isinstance(name, str) and not name]
    if empty:
        given = ",".join(value) if text else list(value)
        which = (f"an empty entry (number {empty[0]})" if len(empty) == 1
                 else f"empty entries (numbers {', '.join(map(str, empty))})")
        fix = ("separate the names by single commas, e.g. charged_pt,neutral_pt" if text
               else "leave it out")
        raise RecipeError(f"channels={given!r} has {which}: {fix}")
    for name in value:
        if not isinstance(name, str) or name not in CHANNEL_NAMES:
            raise RecipeError(f"channels={name!r} is not a channel name; a channel is QUANTITY "
                              f"or KIND_QUANTITY with QUANTITY one of {', '.join(QUANTITIES)} "
                              f"and KIND one of {', '.join(GROUPS)} (lower case), "
                              f"e.g. charged_pt")
    repeated = sorted({n for n in value if value.count(n) > 1})
    if repeated:
        raise RecipeError(f"channels={','.join(value)!r} names {', '.join(repeated)} "
                          f"more than once")
    return tuple(value)


def _positive_float(name, value):
    try:
        out = float(value)
    except (TypeError, ValueError):
        raise RecipeError(f"{name}={value!r} is not a number") from None
    if not (math.isfinite(out) and out > 0):
        raise RecipeError(f"{name}={value!r} must be a finite number > 0")
    return out


@dataclass(frozen=True)
class Recipe:
    """How jets become images; the options of docs/recipe.md, checked when built.

    Parameters
    ----------
    center : {"centroid", "jet", "leading"}
        What goes to (0, 0): the pT-weighted centroid, the summed four-vector's
        direction, or the leading (highest-pT) constituent.
    rotate : bool
        Rotate the major principal axis to the vertical (y, phi) direction.
    flip : bool
        Flip so that more intensity sits at x < 0 and at y > 0.
    npix : int
        Image side in pixels (images are npix x npix).
    pixel_size : (float, float) or float
        Pixel width (dx along eta, dy along phi), one number for both (square
        pixels); default (5.2/180, 2 pi/180).
    intensity : {"pt", "e"}
        Pixel weight: transverse momentum or energy of the constituents (GeV).
    threshold : float
        Raw pixel intensities below this (GeV) are set to zero; default 0.
    normalise : {"sum", "max", "none"}
        Divide each image by its sum or its maximum, or keep raw GeV.
    invalid : {"raise", "skip"}
        An invalid jet (NaN/Inf, negative energy, E > 0 with pT = 0) raises
        :class:`~jetimg.errors.InvalidJetError`, or is skipped: all-zero
        image, ``valid = 0``.
    channels : sequence of str, optional
        Several images per jet, (npix, npix, C), channel last: each name is
        ``QUANTITY`` (``pt``, ``e``, ``count``) or ``KIND_QUANTITY`` with KIND
        one of ``charged``, ``neutral``, ``photon``, ``electron``, ``muon``,
        ``charged_hadron``, ``neutral_hadron`` (:data:`CHANNEL_NAMES`). None
        (default) or empty: one image of ``intensity``. A comma-separated
        string is also accepted.
    particles : int, optional
        Also keep each jet's valid constituents after centring, rotation and
        flips, the first P by pT, as P rows of F features (docs/recipe.md,
        step 7); None (default): images only.
    vary : Vary, dict or str, optional
        A systematic variation of the input, applied before everything else
        (docs/recipe.md "Variations"): :class:`jetimg.variations.Vary`, a dict
        of its names (``{"scale": 1.05, "seed": 3}``) or the command line's
        text (``"scale=1.05,smear=0.1,seed=3"``); None (default), ``""`` or
        ``{}``: the nominal jets.
    """

    center: str = "centroid"
    rotate: bool = True
    flip: bool = True
    npix: int = 40
    pixel_size: tuple = field(default=DEFAULT_PIXEL_SIZE)
    intensity: str = "pt"
    threshold: float = 0.0
    normalise: str = "sum"
    invalid: str = "raise"
    channels: tuple | None = None
    particles: int | None = None
    vary: Vary | None = None

    def __post_init__(self):
        put = lambda k, v: object.__setattr__(self, k, v)  # noqa: E731 (frozen)
        put("center", _choice("center", self.center, CENTERS))
        put("rotate", _boolean("rotate", self.rotate))
        put("flip", _boolean("flip", self.flip))
        if isinstance(self.npix, bool) or not isinstance(self.npix, int | float) \
                or int(self.npix) != self.npix or not 1 <= int(self.npix) <= 4096:
            raise RecipeError(f"npix={self.npix!r} is not valid; choose an integer from 1 to 4096")
        put("npix", int(self.npix))
        ps = self.pixel_size
        if isinstance(ps, int | float):
            ps = (ps, ps)
        try:
            dx, dy = ps
        except (TypeError, ValueError):
            raise RecipeError(f"pixel_size={self.pixel_size!r} is not valid; "
                              "give two numbers (dx, dy)") from None
        put("pixel_size", (_positive_float("pixel_size[0]", dx),
                           _positive_float("pixel_size[1]", dy)))
        put("intensity", _choice("intensity", self.intensity, INTENSITIES))
        try:
            threshold = float(self.threshold)
        except (TypeError, ValueError):
            raise RecipeError(f"threshold={self.threshold!r} is not a number") from None
        if not (math.isfinite(threshold) and threshold >= 0):
            raise RecipeError(f"threshold={self.threshold!r} must be a finite number >= 0 (GeV)")
        put("threshold", threshold)
        put("normalise", _choice("normalise", self.normalise, NORMALISES))
        put("invalid", _choice("invalid", self.invalid, INVALIDS))
        put("channels", _channels(self.channels))
        put("particles", _particles(self.particles))
        put("vary", Vary.parse(self.vary))

    @property
    def n_channels(self):
        """The number of channels C, or None without channels (one image)."""
        return None if self.channels is None else len(self.channels)

    @property
    def needs_kinds(self):
        """The channels that select particles by kind (they need an input with
        particle kinds), in order; empty without such channels."""
        return tuple(c for c in self.channels or () if parse_channel(c)[0] is not None)

    def reads_identity(self, has_kinds):
        """``(kinds, charges)``: whether this recipe's outputs read the particle kinds
        and the charges of an input (one with particle kinds when ``has_kinds``).

        Kinds for the channels that select them and for a variation's
        ``neutral_scale``, and kinds and charges for the particles of an input
        with kinds (F = 17); an input without kinds gives particles of F = 11
        and reads neither.

        >>> Recipe(particles=30).reads_identity(True), Recipe(particles=30).reads_identity(False)
        ((True, True), (False, False))
        >>> Recipe(channels=["charged_pt"]).reads_identity(True)
        (True, False)
        """
        charges = self.particles is not None and bool(has_kinds)
        vary_kinds = self.vary is not None and self.vary.needs_kinds
        return bool(self.needs_kinds) or charges or vary_kinds, charges

    @classmethod
    def from_options(cls, recipe=None, **options):
        """A recipe from an optional base recipe and keyword overrides.

        Unknown option names are an error listing the valid ones.

        >>> Recipe.from_options(Recipe(npix=20), flip=False).npix
        20
        """
        names = [f.name for f in dataclasses.fields(cls)]
        unknown = sorted(set(options) - set(names))
        if unknown:
            raise RecipeError(f"unknown recipe option(s) {', '.join(unknown)}; "
                              f"valid options are {', '.join(names)}")
        if recipe is None:
            return cls(**options)
        if not isinstance(recipe, cls):
            raise RecipeError(f"recipe must be a jetimg.Recipe, not {type(recipe).__name__}")
        return dataclasses.replace(recipe, **options) if options else recipe

    def to_attrs(self):
        """A plain JSON-able dict of every option (pixel_size as [dx, dy])."""
        out = dataclasses.asdict(self)
        out["pixel_size"] = list(self.pixel_size)
        out["channels"] = None if self.channels is None else list(self.channels)
        out["vary"] = None if self.vary is None else self.vary.to_attrs()
        return out

    @classmethod
    def from_attrs(cls, attrs):
        """The recipe stored by :meth:`to_attrs` (unknown keys are an error)."""
        try:
            return cls.from_options(**dict(attrs))
        except TypeError:
            raise RecipeError(f"recipe attributes {attrs!r} are not a mapping") from None

    def differences(self, other):
        """Names of the options where this recipe and ``other`` differ."""
        return [f.name for f in dataclasses.fields(self)
                if getattr(self, f.name) != getattr(other, f.name)]

"""Slow, obvious float64 reference of SPEC.md: one jet at a time, line by line.

Everything else (the numba kernels on CPU and CUDA, the Dask pipeline, the
stores) is held against this module, so it depends on nothing but the
standard library and NumPy (it never imports jetimg) and every SPEC.md
sentence can be traced to a line below: comments name the SPEC section.

Shapes: jet (M, 4) in (E, px, py, pz) order, GeV; jets (N, M, 4);
image (npix, npix), row index along y (phi), column index along x (eta);
with channels (SPEC Step 6) image (npix, npix, C), channel last; kinds
(M,) (or (N, M)) integer particle-kind codes (``KIND_CODE``; 0 = none).

Options are SPEC.md's, by name, with SPEC.md's defaults (``DEFAULTS``);
they may come from keywords, from any object with those attributes (such
as a ``jetimg.Recipe``) passed as ``recipe``, or both (keywords win).

>>> r = reference_jet([[100.0, 100.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]])
>>> r["valid"], r["n_constituents"], float(r["image"][20, 20]), float(r["image"].sum())
(1, 1, 1.0, 1.0)
"""

import math

import numpy as np

__all__ = ["DEFAULTS", "ReferenceInvalidJet", "reference_jet", "reference_preprocess",
           "near_pixel_edge", "wrap_phi", "SNAP", "QUANTITIES", "KIND_SELECTS", "KIND_CODE",
           "CHANNEL_NAMES", "parse_channel", "reference_geometry", "reference_channels",
           "PARTICLE_FEATURES", "KIND_FEATURES", "reference_particles", "VARY_DEFAULTS",
           "splitmix64", "reference_uniform", "reference_vary"]

#: SPEC.md options and their defaults.
DEFAULTS = {
    "center": "centroid",
    "rotate": True,
    "flip": True,
    "npix": 40,
    "pixel_size": (5.2 / 180.0, 2.0 * math.pi / 180.0),
    "intensity": "pt",
    "threshold": 0.0,
    "normalise": "sum",
    "invalid": "raise",
    "channels": None,
}

#: SPEC Step 4: |x'| or |y'| below this counts as 0 before the floor.
SNAP = 1e-9

#: SPEC Step 2: relative tolerance of "no principal axis".
ISOTROPIC = 1e-12

#: SPEC Step 6: "QUANTITY is pt, e (energy) or count (1 per constituent)".
QUANTITIES = ("pt", "e", "count")

#: SPEC Step 6: each KIND of a channel name and the particle kinds it selects
#: ("charged = charged_hadron, electron or muon; neutral = photon or neutral_hadron").
KIND_SELECTS = {
    "charged": ("charged_hadron", "electron", "muon"),
    "neutral": ("photon", "neutral_hadron"),
    "photon": ("photon",),
    "neutral_hadron": ("neutral_hadron",),
    "charged_hadron": ("charged_hadron",),
    "electron": ("electron",),
    "muon": ("muon",),
}

#: The int8 codes of a kinds array (the library's jetimg.kinds.KIND_CODE, which
#: the channel tests check against this); 0 is padding or no kind.
KIND_CODE = {"none": 0, "photon": 1, "electron": 2, "muon": 3, "charged_hadron": 4,
             "neutral_hadron": 5}

#: Every valid channel name: QUANTITY, then KIND_QUANTITY for each KIND.
CHANNEL_NAMES = QUANTITIES + tuple(f"{kind}_{q}" for kind in KIND_SELECTS for q in QUANTITIES)


class ReferenceInvalidJet(ValueError):
    """An invalid jet in ``invalid="raise"`` mode (SPEC Input).

    Attributes: ``reason`` (e.g. ``"slot 3: E=nan not finite"``), ``slot``
    (0-based slot in the jet) and ``row`` (0-based row in the input, or
    None when raised by :func:`reference_jet` on a single jet).
    """

    def __init__(self, reason, slot=None, row=None):
        self.reason = reason
        self.slot = slot
        self.row = row
        super().__init__(reason if row is None else f"row {row}: {reason}")


# --------------------------------------------------------------------------
# options


def _options(recipe, options):
    """DEFAULTS, overridden by the attributes of ``recipe``, then by keywords."""
    unknown = sorted(set(options) - set(DEFAULTS))
    if unknown:
        raise TypeError(f"unknown option(s) {unknown}; valid: {sorted(DEFAULTS)}")
    opt = dict(DEFAULTS)
    if recipe is not None:
        for name in DEFAULTS:
            if name == "channels" and not hasattr(recipe, name):
                continue  # a recipe-like object from before channels: none
            opt[name] = getattr(recipe, name)
    opt.update(options)

    choices = {"center": ("centroid", "jet", "leading"), "intensity": ("pt", "e"),
               "normalise": ("sum", "max", "none"), "invalid": ("raise", "skip")}
    for name, valid in choices.items():
        if opt[name] not in valid:
            raise ValueError(f"{name}={opt[name]!r}; choose one of {valid}")
    for name in ("rotate", "flip"):
        if opt[name] not in (True, False):  # also admits 0 and 1
            raise ValueError(f"{name}={opt[name]!r}; choose True or False")
        opt[name] = bool(opt[name])
    if isinstance(opt["npix"], bool) or int(opt["npix"]) != opt["npix"] or opt["npix"] < 1:
        raise ValueError(f"npix={opt['npix']!r}; must be an integer >= 1")
    opt["npix"] = int(opt["npix"])
    ps = opt["pixel_size"]
    if np.ndim(ps) == 0:
        ps = (ps, ps)
    dx, dy = (float(v) for v in ps)
    if not (math.isfinite(dx) and dx > 0 and math.isfinite(dy) and dy > 0):
        raise ValueError(f"pixel_size={opt['pixel_size']!r}; need two finite numbers > 0")
    opt["pixel_size"] = (dx, dy)
    opt["threshold"] = float(opt["threshold"])
    if not (math.isfinite(opt["threshold"]) and opt["threshold"] >= 0):
        raise ValueError(f"threshold={opt['threshold']!r}; need a finite number >= 0 (GeV)")
    opt["channels"] = _channels(opt["channels"])
    return opt


def _channels(channels):
    """SPEC Step 6: None for "no channels" (absent, null or []), else a tuple of names."""
    if channels is None or (not isinstance(channels, str) and len(channels) == 0):
        return None
    if isinstance(channels, str) or not all(isinstance(c, str) for c in channels):
        raise ValueError(f"channels={channels!r}; need a list of names")
    for c in channels:
        parse_channel(c)  # lower case, a known name
    repeated = sorted({c for c in channels if list(channels).count(c) > 1})
    if repeated:  # "each at most once in the list"
        raise ValueError(f"channels={list(channels)!r}: {repeated} more than once")
    return tuple(channels)


def parse_channel(name):
    """(KIND or None, QUANTITY) of a channel name (SPEC Step 6).

    >>> parse_channel("pt"), parse_channel("neutral_hadron_count")
    ((None, 'pt'), ('neutral_hadron', 'count'))
    """
    if name in QUANTITIES:  # "QUANTITY": no KIND, every valid constituent
        return None, name
    kind, _, quantity = name.rpartition("_")  # "KIND_QUANTITY" (KINDs may hold "_")
    if kind in KIND_SELECTS and quantity in QUANTITIES:
        return kind, quantity
    raise ValueError(f"channel {name!r} is not one of {list(CHANNEL_NAMES)}")


# --------------------------------------------------------------------------
# small pieces


def wrap_phi(a):
    """An angle wrapped into [-pi, pi) (SPEC Step 1), by whole turns of 2 pi."""
    a = float(a)
    if not math.isfinite(a):
        return a  # (never for finite inputs; avoids looping forever)
    while not (-math.pi <= a < math.pi):
        a = a - 2.0 * math.pi if a >= math.pi else a + 2.0 * math.pi
    return a


def _is_padding(E, px, py, pz):
    # SPEC Input: "E == 0 and px == py == pz == 0 (-0.0 counts as 0) is padding".
    # (-0.0 == 0 is True in IEEE arithmetic; NaN == 0 is False, so NaN is no padding.)
    return E == 0 and px == 0 and py == 0 and pz == 0


def _invalid_reason(slot, E, px, py, pz):
    """None for a valid constituent (SPEC Input), else why it is not one."""
    values = {"E": E, "px": px, "py": py, "pz": pz}
    # SPEC Input: "all four values are finite"
    bad = [f"{name}={v!r}" for name, v in values.items() if not math.isfinite(v)]
    if bad:
        return f"slot {slot}: {', '.join(bad)} not finite"
    # SPEC Input: "E > 0"
    if E < 0:
        return f"slot {slot}: negative energy E={E!r}"
    if not E > 0:  # E == 0 (or -0.0) with a nonzero momentum: not padding, not valid
        return f"slot {slot}: E={E!r} is not > 0 but the momentum is nonzero " \
               f"(px={px!r}, py={py!r}, pz={pz!r})"
    # SPEC Input: "pT = hypot(px, py) > 0"; "E > 0 with pT == 0" is invalid
    if not math.hypot(px, py) > 0:
        return f"slot {slot}: pT=0 (px={px!r}, py={py!r}) with E={E!r} > 0"
    return None


def _pixel_index(c, half, d, npix):
    """SPEC Step 4: floor((c + npix*d/2) / d) in float64, -1 when cropped.

    ``half`` is ``npix*d/2`` computed once; ``c`` has already been snapped.
    """
    if c == 0.0:
        # SPEC Step 4: a constituent on the centre "falls in column npix//2
        # and row npix//2 (the pixel whose lower edge is 0) for even npix,
        # whatever the rounding". The literal float64 formula can give
        # npix//2 - 1 here for some d (fl(npix*d/2)/d rounding just below
        # npix/2), so the guarantee is applied as stated. For odd npix the
        # pixel holding 0 is npix//2 as well.
        return npix // 2
    u = (c + half) / d
    if not (0.0 <= u < npix):  # SPEC Step 4: "outside [0, npix) are cropped"
        return -1  # (also catches a non-finite u)
    return math.floor(u)


def _zero_result(npix, valid, n_constituents=0):
    return {
        "image": np.zeros((npix, npix), dtype=np.float64),
        "jet_pt": 0.0, "jet_eta": 0.0, "jet_phi": 0.0, "jet_mass": 0.0,
        "n_constituents": n_constituents,
        "valid": valid,
        "points": np.zeros((0, 3), dtype=np.float64),
        "pixels": np.zeros((0, 2), dtype=np.int64),
        "slots": np.zeros(0, dtype=np.int64),
        "phi_ref": 0.0, "eta_c": 0.0, "phi_c": 0.0,
        "rotated": False, "alpha": math.nan, "beta": math.nan,
        "flipped": (False, False),
    }


# --------------------------------------------------------------------------
# the reference


def reference_jet(jet, recipe=None, **options):
    """One jet's image and per-jet quantities, float64, straight from SPEC.md.

    Parameters
    ----------
    jet : array_like, shape (M, 4)
        Slots (E, px, py, pz) in GeV, zero-padded anywhere.
    recipe : object, optional
        Anything with SPEC.md's option names as attributes (a jetimg.Recipe).
    **options
        center="centroid", rotate=True, flip=True, npix=40,
        pixel_size=(5.2/180, 2*pi/180), intensity="pt", threshold=0.0,
        normalise="sum", invalid="raise" (see ``DEFAULTS``).

    Returns
    -------
    dict
        ``image`` (npix, npix) float64; ``jet_pt``, ``jet_eta``, ``jet_phi``,
        ``jet_mass`` floats (GeV); ``n_constituents`` int; ``valid`` 0 or 1;
        ``points`` (n, 3) float64: (x', y', w) of each valid constituent in
        slot order after centre, rotation and flips, before the 1e-9 snap
        and the pixelation; ``pixels`` (n, 2) int: its (row, column), or
        (-1, -1) when cropped; ``slots`` (n,) int: its slot; and the
        intermediate ``phi_ref``, ``eta_c``, ``phi_c``, ``rotated`` (bool),
        ``alpha``, ``beta`` (nan when not rotated), ``flipped`` (x, y bools).

    Raises
    ------
    ReferenceInvalidJet (a ValueError)
        For an invalid jet when invalid="raise"; the message is the reason.
    """
    opt = _options(recipe, options)
    if opt["channels"] is not None:
        raise ValueError("reference_jet makes the one image of `intensity`; "
                         "reference_channels makes channels")
    npix = opt["npix"]
    dx, dy = opt["pixel_size"]
    jet = np.asarray(jet, dtype=np.float64)
    if jet.ndim != 2 or jet.shape[1] != 4:
        raise ValueError(f"a jet has shape (M, 4), not {jet.shape}")

    # ---- SPEC Input: padding, valid constituents, invalid jets -------------
    slots, Es, pxs, pys, pzs = [], [], [], [], []
    for k in range(jet.shape[0]):
        E, px, py, pz = (float(v) for v in jet[k])
        if _is_padding(E, px, py, pz):
            continue  # "is padding and is ignored"
        reason = _invalid_reason(k, E, px, py, pz)
        if reason is not None:
            if opt["invalid"] == "raise":
                raise ReferenceInvalidJet(reason, slot=k)
            # "With the skip option they get an all-zero image, valid = 0,
            # and zero for every per-jet quantity."
            return _zero_result(npix, valid=0)
        slots.append(k)
        Es.append(E)
        pxs.append(px)
        pys.append(py)
        pzs.append(pz)
    n = len(slots)

    # ---- SPEC Per-jet quantities: from the summed four-vector (float64) ----
    # (all valid constituents, cropped or not, whatever the intensity option)
    sE = spx = spy = spz = 0.0
    for i in range(n):  # summed in slot order
        sE += Es[i]
        spx += pxs[i]
        spy += pys[i]
        spz += pzs[i]
    jet_pt = math.hypot(spx, spy)
    jet_eta = math.asinh(spz / jet_pt) if jet_pt > 0 else 0.0  # "0 when jet_pt is 0"
    jet_phi = math.atan2(spy, spx)  # "atan2 in (-pi, pi]": atan2 gives -pi for
    if jet_phi <= -math.pi:         # y = -0.0, x < 0; that angle is +pi
        jet_phi = math.pi
    p2 = spx * spx + spy * spy + spz * spz
    jet_mass = math.sqrt(max(sE * sE - p2, 0.0))  # "sqrt(max(E^2 - p^2, 0))"

    if n == 0:
        # SPEC Input: "A jet with no valid constituent (all padding) is valid:
        # all-zero image, valid = 1, n_constituents = 0 and every per-jet quantity 0."
        return _zero_result(npix, valid=1)

    # ---- SPEC Kinematics (float64) ---------------------------------------
    pts, etas, phis, ws = [], [], [], []
    for i in range(n):
        pt = math.hypot(pxs[i], pys[i])      # pT = hypot(px, py)
        pts.append(pt)
        etas.append(math.asinh(pzs[i] / pt))  # eta = asinh(pz / pT)
        phis.append(math.atan2(pys[i], pxs[i]))  # phi = atan2(py, px)
        ws.append(pt if opt["intensity"] == "pt" else Es[i])  # w = pT, or E

    # ---- SPEC Step 1: center ---------------------------------------------
    # phi_ref = phi of the constituent with the largest pT (first such slot on ties)
    lead = 0
    for i in range(1, n):
        if pts[i] > pts[lead]:  # strictly greater: the first slot wins ties
            lead = i
    phi_ref = phis[lead]
    # dphi_i = wrap(phi_i - phi_ref) into [-pi, pi)
    dphis = [wrap_phi(phis[i] - phi_ref) for i in range(n)]

    if opt["center"] == "centroid":
        # eta_c = sum(w*eta)/sum(w), phi_c = sum(w*dphi)/sum(w)
        sw = swe = swp = 0.0
        for i in range(n):
            sw += ws[i]
            swe += ws[i] * etas[i]
            swp += ws[i] * dphis[i]
        eta_c = swe / sw
        phi_c = swp / sw
    elif opt["center"] == "jet":
        # pseudorapidity and (wrapped, relative to phi_ref) azimuth of the summed
        # four-vector of the valid constituents; eta_c = 0 if its pT is 0
        eta_c = math.asinh(spz / jet_pt) if jet_pt > 0 else 0.0
        phi_c = wrap_phi(math.atan2(spy, spx) - phi_ref)
    else:  # "leading": eta_c = eta of the largest-pT constituent, phi_c = 0
        eta_c = etas[lead]
        phi_c = 0.0
    # x_i = eta_i - eta_c, y_i = dphi_i - phi_c
    xs = [etas[i] - eta_c for i in range(n)]
    ys = [dphis[i] - phi_c for i in range(n)]

    # ---- SPEC Step 2: rotate ---------------------------------------------
    rotated, alpha, beta = False, math.nan, math.nan
    if opt["rotate"]:
        Sxx = Syy = Sxy = 0.0  # moments about the center
        for i in range(n):
            Sxx += ws[i] * xs[i] * xs[i]
            Syy += ws[i] * ys[i] * ys[i]
            Sxy += ws[i] * xs[i] * ys[i]
        tol = ISOTROPIC * (Sxx + Syy)
        no_axis = (abs(Sxx - Syy) <= tol and abs(Sxy) <= tol) or n == 1
        if not no_axis:  # else "there is no principal axis: skip the rotation"
            alpha = 0.5 * math.atan2(2.0 * Sxy, Sxx - Syy)
            beta = math.pi / 2.0 - alpha
            c, s = math.cos(beta), math.sin(beta)
            # x' = x cos(beta) - y sin(beta), y' = x sin(beta) + y cos(beta)
            xs, ys = ([xs[i] * c - ys[i] * s for i in range(n)],
                      [xs[i] * s + ys[i] * c for i in range(n)])
            rotated = True

    # ---- SPEC Step 3: flip twice -----------------------------------------
    flip_x = flip_y = False
    if opt["flip"]:
        w_xpos = sum(ws[i] for i in range(n) if xs[i] > 0)
        w_xneg = sum(ws[i] for i in range(n) if xs[i] < 0)
        if w_xpos > w_xneg:  # ties do not flip
            xs = [-x for x in xs]
            flip_x = True
        w_yneg = sum(ws[i] for i in range(n) if ys[i] < 0)
        w_ypos = sum(ws[i] for i in range(n) if ys[i] > 0)
        if w_yneg > w_ypos:  # ties do not flip
            ys = [-y for y in ys]
            flip_y = True
    points = np.array([[xs[i], ys[i], ws[i]] for i in range(n)], dtype=np.float64)

    # ---- SPEC Step 4: pixelate and crop ----------------------------------
    image = np.zeros((npix, npix), dtype=np.float64)
    half_x = npix * dx / 2.0
    half_y = npix * dy / 2.0
    pixels = np.full((n, 2), -1, dtype=np.int64)
    for i in range(n):
        x = 0.0 if abs(xs[i]) < SNAP else xs[i]  # "below 1e-9 counts as 0"
        y = 0.0 if abs(ys[i]) < SNAP else ys[i]
        col = _pixel_index(x, half_x, dx, npix)  # j = floor((x' + npix*dx/2) / dx)
        row = _pixel_index(y, half_y, dy, npix)  # i = floor((y' + npix*dy/2) / dy)
        if row < 0 or col < 0:
            continue  # cropped away
        pixels[i] = (row, col)
        image[row, col] += ws[i]  # image[i, j] += w, in slot order
    # threshold: after pixelation, raw intensities below it are set to zero
    for row in range(npix):
        for col in range(npix):
            if image[row, col] < opt["threshold"]:
                image[row, col] = 0.0

    # ---- SPEC Step 5: normalise ------------------------------------------
    # an image whose sum is zero stays all-zero, never NaN
    if opt["normalise"] == "sum":
        total = float(image.sum())  # the sum after cropping and threshold
        if total > 0:
            image = image / total
    elif opt["normalise"] == "max":
        top = float(image.max())
        if top > 0:
            image = image / top
    # "none": raw GeV

    return {
        "image": image,
        "jet_pt": jet_pt, "jet_eta": jet_eta, "jet_phi": jet_phi, "jet_mass": jet_mass,
        "n_constituents": n,
        "valid": 1,
        "points": points,
        "pixels": pixels,
        "slots": np.array(slots, dtype=np.int64),
        "phi_ref": phi_ref, "eta_c": eta_c, "phi_c": phi_c,
        "rotated": rotated, "alpha": alpha, "beta": beta,
        "flipped": (flip_x, flip_y),
    }


# --------------------------------------------------------------------------
# SPEC Step 6: channels


def reference_geometry(jet, recipe=None, **options):
    """Steps 1-4 of one jet without threshold or normalisation: what channels build on.

    :func:`reference_jet` with ``threshold=0``, ``normalise="none"`` and no
    channels: its ``image`` is the raw image of w over every valid
    constituent (the one SPEC Step 6 takes the pixel mask from), its
    ``pixels`` and ``slots`` say where each valid constituent lands. The
    same for every ``threshold``, ``normalise`` and ``channels``, so a caller
    trying many of them may compute it once and pass it to
    :func:`reference_channels`.
    """
    opt = _options(recipe, options)
    opt.update(threshold=0.0, normalise="none", channels=None)
    return reference_jet(jet, **opt)


def reference_channels(jet, kinds=None, recipe=None, *, geometry=None, **options):
    """One jet's multi-channel image (SPEC Step 6), float64, shape (npix, npix, C).

    Parameters
    ----------
    jet : array_like, shape (M, 4)
        Slots (E, px, py, pz) in GeV, zero-padded anywhere.
    kinds : array_like of int, shape (M,), optional
        The particle kind code (``KIND_CODE``) of each slot; needed when a
        channel names a KIND. A valid constituent of code 0 belongs to no KIND.
    recipe : object, optional
        As :func:`reference_jet`; ``channels`` (a list of names) must be set.
    geometry : dict, optional
        :func:`reference_geometry` of this jet with these options (else computed).
    **options
        As :func:`reference_jet`, and ``channels``.

    Returns
    -------
    dict
        As :func:`reference_jet` (per-jet quantities, ``points``, ``pixels``,
        ...), with ``image`` (npix, npix, C) float64 in the order of
        ``channels``, ``raw_w`` (npix, npix) the raw all-kinds image of w and
        ``masked`` (npix, npix) bool, the pixels the threshold zeroes.

    >>> jet = [[100.0, 100.0, 0.0, 0.0], [50.0, 50.0, 0.0, 0.0]]
    >>> r = reference_channels(jet, [4, 1], channels=["neutral_pt", "charged_count"])
    >>> r["image"][20, 20].tolist()
    [0.3333333333333333, 1.0]
    """
    opt = _options(recipe, options)
    channels = opt["channels"]
    if channels is None:
        raise ValueError("no channels: reference_jet makes the one image of `intensity`")
    parsed = [parse_channel(c) for c in channels]
    jet = np.asarray(jet, dtype=np.float64)
    # "A channel with a KIND on an input without particle kinds is an error"
    if kinds is None:
        needing = [c for c, (kind, _) in zip(channels, parsed) if kind is not None]
        if needing:
            raise ValueError(f"channel {needing[0]!r} needs particle kinds; none given")
    else:
        kinds = np.asarray(kinds)
        if kinds.shape != jet.shape[:1]:
            raise ValueError(f"kinds have shape {kinds.shape}, not {jet.shape[:1]} (one per slot)")
    kind_names = {code: name for name, code in KIND_CODE.items()}

    # "Steps 1-3 (centre, rotate, flips) and the crop are unchanged: they use
    # the weight w of every valid constituent, whatever the channels."
    geo = reference_geometry(jet, **opt) if geometry is None else geometry
    npix = opt["npix"]
    if geo["image"].shape != (npix, npix):
        raise ValueError("geometry was computed for another npix")
    out = dict(geo)
    out["raw_w"] = geo["image"]
    # "Threshold: the pixel mask is computed from the raw image of w over every
    # valid constituent (as in step 4); a masked pixel is zero in every channel."
    out["masked"] = geo["image"] < opt["threshold"]
    # What a constituent of each kind adds to each channel: 1 where the channel
    # takes the kind ("no KIND: every valid constituent"; code 0, or no kinds
    # given, is in no KIND), else 0; times the channel's QUANTITY below.
    takes = {name: np.array([kind is None or name in KIND_SELECTS[kind] for kind, _ in parsed],
                            dtype=np.float64) for name in KIND_CODE}
    which = [QUANTITIES.index(q) for _, q in parsed]
    rows, cols, values, kind_of = [], [], [], []
    masked = out["masked"].tolist()
    for slot, (row, col) in zip(geo["slots"].tolist(), geo["pixels"].tolist()):
        # valid constituents, in slot order
        if row < 0 or masked[row][col]:
            continue  # cropped away, or in a masked pixel
        E, px, py, pz = jet[slot].tolist()
        rows.append(row)
        cols.append(col)
        # "QUANTITY is pt, e (energy) or count (1 per constituent)", in QUANTITIES' order
        values.append([math.hypot(px, py), E, 1.0])
        kind = "none"
        if kinds is not None:
            code = int(kinds[slot])
            if code not in kind_names:
                raise ValueError(f"slot {slot}: kind code {code} is not one of {KIND_CODE}")
            kind = kind_names[code]
        kind_of.append(takes[kind])
    values = np.array(values, dtype=np.float64).reshape(-1, len(QUANTITIES))
    # Channel c of pixel (i, j) = sum of QUANTITY over the valid constituents of KIND in it;
    # np.add.at adds every constituent (a pixel may hold several), in slot order.
    raw = np.zeros((npix, npix, len(channels)), dtype=np.float64)
    pixels = (np.array(rows, dtype=np.intp), np.array(cols, dtype=np.intp))
    np.add.at(raw, pixels, values[:, which] * np.array(kind_of).reshape(len(rows), len(channels)))
    # the all-kinds image of each QUANTITY after masking (the denominators' source)
    every = np.zeros((npix, npix, len(QUANTITIES)), dtype=np.float64)
    np.add.at(every, pixels, values)

    # "Normalise: each pt or e channel is divided by a denominator shared by its
    # QUANTITY"; count channels never.
    image = raw.copy()
    for c, (_, q) in enumerate(parsed):
        if q == "count" or opt["normalise"] == "none":
            continue
        if opt["normalise"] == "sum":
            # the sum of QUANTITY over every valid constituent in an unmasked pixel
            denominator = float(every[:, :, QUANTITIES.index(q)].sum())
        else:  # "max": the largest pixel of the all-kinds image of QUANTITY after masking
            denominator = float(every[:, :, QUANTITIES.index(q)].max())
        if denominator > 0:  # "A zero denominator leaves the channel all-zero"
            image[:, :, c] = raw[:, :, c] / denominator
    out["image"] = image
    return out


def reference_preprocess(jets, recipe=None, kinds=None, **options):
    """SPEC.md's output arrays for jets (N, M, 4), one jet at a time.

    Computed in float64 by :func:`reference_jet` (with channels:
    :func:`reference_channels`, ``kinds`` (N, M) giving each slot's kind),
    stored in SPEC's dtypes: ``images`` (N, npix, npix) float32 (with
    channels (N, npix, npix, C)); ``jet_pt``, ``jet_eta``, ``jet_phi``,
    ``jet_mass`` (N,) float32; ``n_constituents`` (N,) int16; ``valid`` (N,)
    int8. Rows keep the input order. With invalid="raise" an invalid jet
    raises :class:`ReferenceInvalidJet` naming its 0-based row and reason.

    >>> out = reference_preprocess(np.zeros((2, 3, 4)), npix=8)
    >>> out["images"].shape, out["valid"].tolist(), out["n_constituents"].dtype.name
    ((2, 8, 8), [1, 1], 'int16')
    >>> reference_preprocess(np.zeros((2, 3, 4)), npix=8, channels=["e", "count"])["images"].shape
    (2, 8, 8, 2)
    """
    opt = _options(recipe, options)
    jets = np.asarray(jets, dtype=np.float64)
    if jets.ndim != 3 or jets.shape[2] != 4:
        raise ValueError(f"jets have shape (N, M, 4), not {jets.shape}")
    if kinds is not None and np.shape(kinds) != jets.shape[:2]:
        raise ValueError(f"kinds have shape {np.shape(kinds)}, not {jets.shape[:2]}")
    N, npix, channels = jets.shape[0], opt["npix"], opt["channels"]
    shape = (N, npix, npix) if channels is None else (N, npix, npix, len(channels))
    out = {
        "images": np.zeros(shape, dtype=np.float32),
        "jet_pt": np.zeros(N, dtype=np.float32),
        "jet_eta": np.zeros(N, dtype=np.float32),
        "jet_phi": np.zeros(N, dtype=np.float32),
        "jet_mass": np.zeros(N, dtype=np.float32),
        "n_constituents": np.zeros(N, dtype=np.int16),
        "valid": np.zeros(N, dtype=np.int8),
    }
    for row in range(N):
        try:
            if channels is None:
                r = reference_jet(jets[row], **opt)
            else:
                r = reference_channels(jets[row], None if kinds is None else kinds[row], **opt)
        except ReferenceInvalidJet as err:  # the error names the jet's row and the reason
            raise ReferenceInvalidJet(err.reason, slot=err.slot, row=row) from None
        out["images"][row] = r["image"].astype(np.float32)
        for name in ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "n_constituents", "valid"):
            out[name][row] = r[name]
    return out


# --------------------------------------------------------------------------
# SPEC Step 7: particles

#: SPEC Step 7: "Features, in this order"
PARTICLE_FEATURES = ("x", "y", "log_pt", "log_e", "log_pt_rel", "log_e_rel", "delta_r",
                     "px", "py", "pz", "e")
#: "With particle kinds ... six more"
KIND_FEATURES = ("charge", "is_charged_hadron", "is_neutral_hadron", "is_photon",
                 "is_electron", "is_muon")


def reference_particles(jet, recipe=None, kinds=None, charges=None, *, particles, **options):
    """One jet's particles (SPEC Step 7), float64, shape (P, F).

    Parameters
    ----------
    jet : array_like, shape (M, 4)
        Slots (E, px, py, pz) in GeV.
    recipe, **options
        As :func:`reference_jet` (threshold, normalise and channels play no part).
    kinds, charges : array_like of int, shape (M,), optional
        Each slot's kind code (``KIND_CODE``) and electric charge (units of
        e). With kinds (charges then needed): F = 17, else F = 11.
    particles : int
        P, the rows kept.

    >>> p = reference_particles([[5.0, 3.0, 4.0, 0.0], [10.0, 6.0, 8.0, 0.0]], particles=3)
    >>> p.shape, p[0, 7:].tolist(), bool(p[2].any())   # the larger pT first; row 2 empty
    ((3, 11), [6.0, 8.0, 0.0, 10.0], False)
    """
    opt = _options(recipe, options)
    opt.update(threshold=0.0, normalise="none", channels=None)
    P = int(particles)
    if P < 1:
        raise ValueError(f"particles={particles!r}; need an integer >= 1")
    jet = np.asarray(jet, dtype=np.float64)
    with_kinds = kinds is not None
    if with_kinds and charges is None:
        raise ValueError("particles with kinds need charges")
    F = len(PARTICLE_FEATURES) + (len(KIND_FEATURES) if with_kinds else 0)
    out = np.zeros((P, F), dtype=np.float64)
    # "A skipped invalid jet, and a jet with no valid constituent, have all-zero rows."
    r = reference_jet(jet, **opt)
    n = r["n_constituents"]
    if r["valid"] == 0 or n == 0:
        return out
    slots = r["slots"]
    # jet_pt and jet_e: "the summed four-vector of all valid constituents ...
    # float64 sums in slot order"
    sE = spx = spy = 0.0
    for k in slots:
        sE += jet[k, 0]
        spx += jet[k, 1]
        spy += jet[k, 2]
    jet_pt = math.hypot(spx, spy)
    jet_e = sE
    # "sorted by pT (as computed in Kinematics, float64) descending, equal
    # values in slot order": a stable sort of -pT over the slots in order
    pts = [math.hypot(jet[k, 1], jet[k, 2]) for k in slots]
    order = sorted(range(n), key=lambda i: -pts[i])  # sorted() is stable
    for row, i in enumerate(order[:P]):  # "the first P kept"
        k = slots[i]
        E, px, py, pz = (float(v) for v in jet[k])
        x, y = r["points"][i, 0], r["points"][i, 1]  # x', y' after steps 1-3, unsnapped
        pt = pts[i]
        feats = [x, y, math.log(pt), math.log(E),
                 math.log(pt / jet_pt) if jet_pt != 0 else 0.0,  # "0 when ... exactly 0"
                 math.log(E / jet_e), math.hypot(x, y), px, py, pz, E]
        if with_kinds:
            code = int(kinds[k])
            feats.append(float(charges[k]))
            for name in ("charged_hadron", "neutral_hadron", "photon", "electron", "muon"):
                feats.append(1.0 if code == KIND_CODE[name] else 0.0)
        out[row] = feats
    return out


# --------------------------------------------------------------------------
# SPEC Variations

#: "vary as all five keys with defaults filled in"
VARY_DEFAULTS = {"scale": 1.0, "neutral_scale": 1.0, "smear": 0.0, "drop": 0.0, "seed": 0}

_MASK64 = (1 << 64) - 1


def splitmix64(z):
    """"mix(z) is one SplitMix64 output ... (all modulo 2^64)", on Python integers.

    >>> hex(splitmix64(0))   # SplitMix64's first output for state 0
    '0xe220a8397b1dcdaf'
    """
    z = (z + 0x9E3779B97F4A7C15) & _MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return z ^ (z >> 31)


def reference_uniform(seed, row, slot, t):
    """u_t of the constituent in ``slot`` of input row ``row``: "h =
    mix(mix(mix(S) ^ n) ^ (4 k + t)) and u_t = ((h >> 11) + 0.5) * 2^-53"."""
    h = splitmix64(splitmix64(splitmix64(seed) ^ row) ^ (4 * slot + t))
    return ((h >> 11) + 0.5) * 2.0 ** -53


def reference_vary(jet, row, vary, kinds=None):
    """SPEC Variations of one jet (M, 4): the varied jet, float64, dropped slots
    turned to padding (zeros) and every other slot where it was.

    ``row`` is the jet's 0-based row in the whole input; ``vary`` a mapping
    of any of VARY_DEFAULTS' names; ``kinds`` (M,) the slots' kind codes
    (needed for neutral_scale). An invalid jet comes back unchanged: "after
    the validity check (an invalid jet stays invalid ...)".

    >>> reference_vary([[10.0, 6.0, 8.0, 0.0]], 0, {"scale": 2})[0].tolist()
    [20.0, 12.0, 16.0, 0.0]
    """
    v = dict(VARY_DEFAULTS)
    v.update(vary or {})
    jet = np.array(jet, dtype=np.float64)
    valid = []
    for k in range(jet.shape[0]):
        E, px, py, pz = (float(x) for x in jet[k])
        if _is_padding(E, px, py, pz):
            continue
        if _invalid_reason(k, E, px, py, pz) is not None:
            return jet
        valid.append(k)
    if not valid:
        return jet
    # "Step 1's leading constituent of the unvaried jet (largest pT, first slot on ties)"
    pts = [math.hypot(jet[k, 1], jet[k, 2]) for k in valid]
    lead = valid[pts.index(max(pts))]
    out = np.zeros_like(jet)
    for k in valid:
        # Order: drop, then smear, then neutral_scale, then scale.
        if k != lead and reference_uniform(v["seed"], row, k, 0) < v["drop"]:
            continue  # "removed ... as if never measured"
        u1 = reference_uniform(v["seed"], row, k, 1)
        u2 = reference_uniform(v["seed"], row, k, 2)
        g = min(max(math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2), -3.0), 3.0)
        f_smear = 1.0 + v["smear"] * g
        neutral = kinds is not None and int(kinds[k]) in (KIND_CODE["photon"],
                                                          KIND_CODE["neutral_hadron"])
        f_neutral = v["neutral_scale"] if neutral else 1.0
        for c in range(4):
            out[k, c] = ((jet[k, c] * f_smear) * f_neutral) * v["scale"]
    return out


def near_pixel_edge(points, npix, pixel_size, tol):
    """Whether any point sits within ``tol`` of a place where its pixel is fragile.

    For each coordinate c (x' with dx, y' with dy) of each point: c within
    tol of the snap band boundary (| |c| - 1e-9 | <= tol), or c not snapped
    and c + npix*d/2 within tol of a multiple of d, inside the grid or on its
    border (crop). A computation with rounding errors up to tol may then put
    the point in another pixel (or crop it differently) than this reference.
    A point at exactly 0 is near the band boundary when tol >= 1e-9: a
    float32 computation can land it at +-1e-8, outside the snap band.

    Parameters
    ----------
    points : array_like, shape (n, 2) or (n, 3)
        (x', y'[, w]) as in ``reference_jet(...)["points"]``.
    npix : int
    pixel_size : (float, float)
        (dx, dy).
    tol : float
        Absolute distance (in eta/phi units).

    >>> dx, dy = DEFAULTS["pixel_size"]
    >>> near_pixel_edge([[dx, 0.1, 1.0]], 40, (dx, dy), 1e-6)
    True
    >>> near_pixel_edge([[0.5 * dx, 0.1, 1.0], [-0.2, -0.2, 1.0]], 40, (dx, dy), 1e-6)
    False
    >>> near_pixel_edge([[0.0, 0.1, 1.0]], 40, (dx, dy), 1e-6)  # 0 is 1e-9 from the band edge
    True
    """
    pts = np.asarray(points, dtype=np.float64)
    if pts.size == 0:
        return False
    dx, dy = (float(v) for v in pixel_size)
    for p in pts:
        for c, d in ((float(p[0]), dx), (float(p[1]), dy)):
            if abs(abs(c) - SNAP) <= tol:
                return True  # on the "counts as 0" band boundary
            if abs(c) < SNAP:
                continue  # snapped to exactly 0: its pixel is fixed by SPEC
            half = npix * d / 2.0
            u = c + half
            if -tol <= u <= npix * d + tol:  # only the grid and its border matter
                k = round(u / d)
                if abs(u - k * d) <= tol:
                    return True
    return False

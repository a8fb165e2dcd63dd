"""Slow, obvious float64 reference of SPEC.md: one jet at a time, line by line.

Everything else (the numba kernels on CPU and CUDA, the Dask pipeline, the
stores) is held against this module, so it depends on nothing but the
standard library and NumPy (it never imports jetimg) and every SPEC.md
sentence can be traced to a line below: comments name the SPEC section.

Shapes: jet (M, 4) in (E, px, py, pz) order, GeV; jets (N, M, 4);
image (npix, npix), row index along y (phi), column index along x (eta).

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
           "near_pixel_edge", "wrap_phi", "SNAP"]

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
}

#: SPEC Step 4: |x'| or |y'| below this counts as 0 before the floor.
SNAP = 1e-9

#: SPEC Step 2: relative tolerance of "no principal axis".
ISOTROPIC = 1e-12


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
    return opt


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


def reference_preprocess(jets, recipe=None, **options):
    """SPEC.md's output arrays for jets (N, M, 4), one jet at a time.

    Computed in float64 by :func:`reference_jet`, stored in SPEC's dtypes:
    ``images`` (N, npix, npix) float32; ``jet_pt``, ``jet_eta``, ``jet_phi``,
    ``jet_mass`` (N,) float32; ``n_constituents`` (N,) int16; ``valid`` (N,)
    int8. Rows keep the input order. With invalid="raise" an invalid jet
    raises :class:`ReferenceInvalidJet` naming its 0-based row and reason.

    >>> out = reference_preprocess(np.zeros((2, 3, 4)), npix=8)
    >>> out["images"].shape, out["valid"].tolist(), out["n_constituents"].dtype.name
    ((2, 8, 8), [1, 1], 'int16')
    """
    opt = _options(recipe, options)
    jets = np.asarray(jets, dtype=np.float64)
    if jets.ndim != 3 or jets.shape[2] != 4:
        raise ValueError(f"jets have shape (N, M, 4), not {jets.shape}")
    N, npix = jets.shape[0], opt["npix"]
    out = {
        "images": np.zeros((N, npix, npix), dtype=np.float32),
        "jet_pt": np.zeros(N, dtype=np.float32),
        "jet_eta": np.zeros(N, dtype=np.float32),
        "jet_phi": np.zeros(N, dtype=np.float32),
        "jet_mass": np.zeros(N, dtype=np.float32),
        "n_constituents": np.zeros(N, dtype=np.int16),
        "valid": np.zeros(N, dtype=np.int8),
    }
    for row in range(N):
        try:
            r = reference_jet(jets[row], **opt)
        except ReferenceInvalidJet as err:  # the error names the jet's row and the reason
            raise ReferenceInvalidJet(err.reason, slot=err.slot, row=row) from None
        out["images"][row] = r["image"].astype(np.float32)
        for name in ("jet_pt", "jet_eta", "jet_phi", "jet_mass", "n_constituents", "valid"):
            out[name][row] = r[name]
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

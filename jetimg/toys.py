"""Realistic toy jets for tests and benchmarks.

Shapes used here: a jet is (M, 4) and jets are (N, M, 4), four-vectors in
(E, px, py, pz) order in GeV, zero-padded; pts, etas, phis are (..., M).

`toy_jets` draws top-like (three-prong) and QCD-like (one- or two-prong) jets
of massless constituents, vectorised over jets. `write_toptag` stores jets in
the layout of the Top Quark Tagging Reference Dataset (it lives in
:mod:`jetimg.io.writers.toptag` and is handed on here).
"""

import numpy as np

from .checks import integer
from .io.writers.toptag import toptag_columns, write_toptag

__all__ = ["jets_from_ptetaphi", "toy_jets", "write_toptag", "toptag_columns"]

KINDS = ("mixed", "top", "qcd")

# Jets are generated in blocks of this many, so that memory stays bounded.
_BLOCK_JETS = 20_000

# Jet radius: every constituent lies within this distance of the jet axis.
_R_JET = 0.8
# Physics knobs of the toy (GeV and radians).
_M_TOP, _SIGMA_M_TOP = 165.0, 9.0
_M_W, _SIGMA_M_W = 80.4, 4.0
_P_QCD_TWO_PRONG = 0.6
_QCD_MASS_MIN, _QCD_MASS_SCALE = 15.0, 30.0
_FRAG_ALPHA = 0.4  # Dirichlet concentration of momentum fractions in a prong
_FRAG_FLOOR = 0.004  # added to gamma draws: no vanishing fractions
_LAM_A, _LAM_B = -4.0, 4.5  # prong multiplicity 1 + Poisson(a + b ln pT)
_LAM_QCD_SCALE = 1.25  # QCD prongs fragment a bit more (gluon-like)
_LAM_SOFT = 15.0  # wide-angle soft particles per jet
_SOFT_PT_MIN, _SOFT_PT_SCALE = 0.2, 0.6


def jets_from_ptetaphi(pts, etas, phis):
    """Massless four-vectors (E, px, py, pz) from pT, eta and phi.

    Parameters
    ----------
    pts, etas, phis : array_like, shape (..., M)
        Transverse momentum (GeV), pseudorapidity and azimuth (rad) of each
        slot; broadcast against each other. A slot with pT == 0 is padding.

    Returns
    -------
    ndarray, shape (..., M, 4), float64
        E = pT cosh(eta), px = pT cos(phi), py = pT sin(phi),
        pz = pT sinh(eta), in GeV. Padding slots are exactly +0.0. Values are
        not checked: a NaN or negative pT goes through as given.

    Examples
    --------
    >>> p4 = jets_from_ptetaphi([[100.0, 0.0]], [[0.0, 1.0]], [[0.0, 2.0]])
    >>> p4.shape
    (1, 2, 4)
    >>> p4[0].tolist()
    [[100.0, 100.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]]
    """
    pts, etas, phis = np.broadcast_arrays(
        np.asarray(pts, dtype=np.float64),
        np.asarray(etas, dtype=np.float64),
        np.asarray(phis, dtype=np.float64),
    )
    p4s = np.empty(pts.shape + (4,), dtype=np.float64)
    p4s[..., 0] = pts * np.cosh(etas)
    p4s[..., 1] = pts * np.cos(phis)
    p4s[..., 2] = pts * np.sin(phis)
    p4s[..., 3] = pts * np.sinh(etas)
    p4s[pts == 0] = 0.0
    return p4s


def toy_jets(
    n, kind="mixed", n_slots=200, seed=0, pt=600.0, eta_max=2.0, wrap_fraction=None
):
    """Draw toy top-like and QCD-like jets of massless constituents.

    Top-like jets have three prongs (b and the two W-daughter quarks) placed
    so that the jet mass is about 175 GeV and the W-pair mass about 80 GeV;
    QCD-like jets have one hard core and, 60% of the time, a softer second
    prong (mass falling from about 20 GeV). Each prong fragments into
    constituents with Dirichlet momentum fractions and an angular spread of
    0.01-0.1 growing for softer ones, plus about 15 soft (0.2-2 GeV)
    particles spread over the jet disc; all lie within 0.8 of the jet axis.
    About 77 constituents for top and 59 for QCD (20-120), sorted by pT and
    truncated to `n_slots`. Jet masses: top median about 175 GeV, QCD about
    60 GeV with a falling tail.

    Parameters
    ----------
    n : int
        Number of jets N (>= 0).
    kind : {"mixed", "top", "qcd"}
        "mixed": N // 2 top and N - N // 2 QCD jets in an order shuffled by
        the seed.
    n_slots : int
        Slots per jet M (>= 1). Jets with more constituents lose the softest:
        with `wrap_fraction` None, ``toy_jets(n, n_slots=M)`` is
        ``toy_jets(n)`` cut (or zero-padded) to M slots.
    seed : int
        Seed of ``np.random.default_rng``; the output is a pure function of
        all arguments.
    pt : float
        Mean jet pT in GeV (5% spread). The prong geometry is tuned for the
        default 600 GeV.
    eta_max : float
        Jet eta is uniform in (-eta_max, eta_max).
    wrap_fraction : float or None
        None: jet phi uniform in (-pi, pi], so that about 20% of jets
        straddle phi = +-pi. A number in [0, 1]: exactly
        round(wrap_fraction * N) jets, chosen at random, have constituents on
        both sides of phi = +-pi (when they have two at different phi) and
        no other jet does.

    Returns
    -------
    jets : ndarray, shape (N, M, 4), float32
        (E, px, py, pz) in GeV, constituents sorted by pT = hypot(px, py)
        (from the stored float32 values) descending, then zero padding.
        Every constituent has pT > 0 and E > 0.
    labels : ndarray, shape (N,), int8
        1 for top-like, 0 for QCD-like.

    Examples
    --------
    >>> jets, labels = toy_jets(6, seed=1)
    >>> jets.shape, jets.dtype, labels.dtype
    ((6, 200, 4), dtype('float32'), dtype('int8'))
    >>> int(labels.sum())
    3
    >>> bool((jets[:, 0, 0] > 0).all() and (jets[:, -1] == 0).all())
    True
    """
    n = integer("n", n, minimum=0)
    n_slots = integer("n_slots", n_slots)
    if kind not in KINDS:
        raise ValueError(f"kind={kind!r} is not one of {', '.join(map(repr, KINDS))}")
    pt = float(pt)
    eta_max = float(eta_max)
    if not (np.isfinite(pt) and pt > 0):
        raise ValueError(f"pt={pt!r} GeV must be finite and > 0")
    if not (np.isfinite(eta_max) and eta_max >= 0):
        raise ValueError(f"eta_max={eta_max!r} must be finite and >= 0")
    if wrap_fraction is not None:
        wrap_fraction = float(wrap_fraction)
        if not 0.0 <= wrap_fraction <= 1.0:
            raise ValueError(f"wrap_fraction={wrap_fraction!r} must be in [0, 1] or None")

    rng = np.random.default_rng(seed)
    if kind == "top":
        labels = np.ones(n, dtype=np.int8)
    elif kind == "qcd":
        labels = np.zeros(n, dtype=np.int8)
    else:
        labels = np.zeros(n, dtype=np.int8)
        labels[: n // 2] = 1
        labels = rng.permutation(labels)
    wraps = None
    if wrap_fraction is not None:
        wraps = np.zeros(n, dtype=bool)
        wraps[: int(round(wrap_fraction * n))] = True
        wraps = rng.permutation(wraps)

    jets = np.zeros((n, n_slots, 4), dtype=np.float32)
    for start in range(0, n, _BLOCK_JETS):
        stop = min(start + _BLOCK_JETS, n)
        _fill_block(
            rng,
            jets[start:stop],
            labels[start:stop] == 1,
            pt,
            eta_max,
            None if wraps is None else wraps[start:stop],
        )
    return jets, labels


def _unit_vectors(rng, size):
    angle = rng.uniform(0.0, 2.0 * np.pi, size)
    return np.cos(angle), np.sin(angle)


def _prongs(rng, is_top, jet_pt):
    """Prong pT fractions, (deta, dphi) offsets from the axis, presence: (B, 3)."""
    b = is_top.size
    # Top: t -> b W, W -> q q'. Small-angle masses:
    # m_W^2 = z (1 - z) pT_W^2 dR_qq^2, m_t^2 = m_W^2 / x_W + x_b x_W pT^2 dR_bW^2.
    m_t = np.clip(rng.normal(_M_TOP, _SIGMA_M_TOP, b), 140.0, 210.0)
    m_w = np.clip(rng.normal(_M_W, _SIGMA_M_W, b), 65.0, 95.0)
    x_b = rng.uniform(0.2, 0.5, b)
    x_w = 1.0 - x_b
    z = rng.uniform(0.25, 0.75, b)
    dr_qq = m_w / (x_w * jet_pt * np.sqrt(z * (1.0 - z)))
    dr_bw = np.sqrt(np.maximum(m_t**2 - m_w**2 / x_w, 100.0) / (x_b * x_w)) / jet_pt
    ux, uy = _unit_vectors(rng, b)
    vx, vy = _unit_vectors(rng, b)
    w_x, w_y = -x_b * dr_bw * ux, -x_b * dr_bw * uy
    top_frac = np.stack([x_b, x_w * z, x_w * (1.0 - z)], axis=1)
    top_x = np.stack([x_w * dr_bw * ux, w_x + (1 - z) * dr_qq * vx, w_x - z * dr_qq * vx], 1)
    top_y = np.stack([x_w * dr_bw * uy, w_y + (1 - z) * dr_qq * vy, w_y - z * dr_qq * vy], 1)

    # QCD: a hard core and, sometimes, a soft prong with a falling mass.
    two = rng.random(b) < _P_QCD_TWO_PRONG
    zs = 0.05 + 0.40 * rng.random(b) ** 2
    m2 = _QCD_MASS_MIN + rng.exponential(_QCD_MASS_SCALE, b)
    dr = np.minimum(m2 / (jet_pt * np.sqrt(zs * (1.0 - zs))), 0.6)
    zs = np.where(two, zs, 0.0)
    dr = np.where(two, dr, 0.0)
    qx, qy = _unit_vectors(rng, b)
    zero = np.zeros(b)
    qcd_frac = np.stack([1.0 - zs, zs, zero], axis=1)
    qcd_x = np.stack([zs * dr * qx, -(1.0 - zs) * dr * qx, zero], axis=1)
    qcd_y = np.stack([zs * dr * qy, -(1.0 - zs) * dr * qy, zero], axis=1)

    t = is_top[:, None]
    frac = np.where(t, top_frac, qcd_frac)
    dx = np.where(t, top_x, qcd_x)
    dy = np.where(t, top_y, qcd_y)
    return frac, dx, dy, frac > 0


def _fill_block(rng, out, is_top, pt, eta_max, wraps):
    """Draw len(out) jets into out, a zeroed float32 (B, M, 4) view."""
    b, n_slots = out.shape[:2]
    if b == 0:
        return
    jet_pt = pt * np.clip(1.0 + 0.05 * rng.standard_normal(b), 0.8, 1.2)
    jet_eta = rng.uniform(-eta_max, eta_max, b)
    frac, deta_off, dphi_off, present = _prongs(rng, is_top, jet_pt)
    prong_pt = frac * jet_pt[:, None]

    # Hard constituents: 1 + Poisson(a + b ln pT) per prong, Dirichlet fractions.
    lam = _LAM_A + _LAM_B * np.log(np.maximum(prong_pt, 1.0))
    lam = np.maximum(lam, 1.0) * np.where(is_top, 1.0, _LAM_QCD_SCALE)[:, None]
    counts = np.where(present, 1 + rng.poisson(np.where(present, lam, 0.0)), 0)
    pid = np.repeat(np.arange(3 * b), counts.ravel())
    g = rng.gamma(_FRAG_ALPHA, size=pid.size) + _FRAG_FLOOR
    z = g / np.bincount(pid, weights=g, minlength=3 * b)[pid]
    pt_h = z * prong_pt.ravel()[pid]
    sigma = np.clip(0.1 / np.sqrt(pt_h), 0.01, 0.1)
    deta_h = deta_off.ravel()[pid] + sigma * rng.standard_normal(pid.size)
    dphi_h = dphi_off.ravel()[pid] + sigma * rng.standard_normal(pid.size)
    jid_h = pid // 3

    # Soft wide-angle particles, uniform over the jet disc.
    n_soft = rng.poisson(_LAM_SOFT, b)
    jid_s = np.repeat(np.arange(b), n_soft)
    pt_s = _SOFT_PT_MIN + rng.exponential(_SOFT_PT_SCALE, jid_s.size)
    r = _R_JET * np.sqrt(rng.random(jid_s.size))
    cx, cy = _unit_vectors(rng, jid_s.size)

    pts = np.concatenate([pt_h, pt_s])
    detas = np.concatenate([deta_h, r * cx])
    dphis = np.concatenate([dphi_h, r * cy])
    jid = np.concatenate([jid_h, jid_s])
    # Keep everything inside the jet radius (pulls the rare stray inwards).
    dist = np.hypot(detas, dphis)
    scale = np.where(dist > _R_JET, _R_JET / np.maximum(dist, _R_JET), 1.0)
    detas *= scale
    dphis *= scale

    # Slot of each constituent in its jet: hard ones first, then soft ones.
    n_hard = counts.sum(axis=1)
    n_all = n_hard + n_soft
    pos_h = np.arange(jid_h.size) - np.repeat(np.cumsum(n_hard) - n_hard, n_hard)
    pos_s = n_hard[jid_s] + np.arange(jid_s.size) - np.repeat(np.cumsum(n_soft) - n_soft, n_soft)
    pos = np.concatenate([pos_h, pos_s])
    width = int(n_all.max())
    grid_pt = np.zeros((b, width))
    grid_eta = np.zeros((b, width))
    grid_phi = np.zeros((b, width))
    grid_pt[jid, pos] = pts
    grid_eta[jid, pos] = detas
    grid_phi[jid, pos] = dphis

    # Hardest first, softest truncated.
    keep = min(n_slots, width)
    order = np.argsort(-grid_pt, axis=1)[:, :keep]
    grid_pt = np.take_along_axis(grid_pt, order, axis=1)
    grid_eta = np.take_along_axis(grid_eta, order, axis=1)
    grid_phi = np.take_along_axis(grid_phi, order, axis=1)
    valid = grid_pt > 0

    if wraps is None:
        jet_phi = np.pi - rng.uniform(0.0, 2.0 * np.pi, b)
    else:
        # Put the phi = +-pi seam strictly inside (wrapping jets) or strictly
        # outside (the others) each jet's span of constituent dphi.
        lo = np.where(valid, grid_phi, np.inf).min(axis=1)
        hi = np.where(valid, grid_phi, -np.inf).max(axis=1)
        inside = np.pi - (lo + rng.uniform(0.1, 0.9, b) * (hi - lo))
        gap = 2.0 * np.pi - (hi - lo) - 2e-3
        outside = -np.pi - lo + 1e-3 + rng.random(b) * gap
        jet_phi = np.where(wraps, inside, outside)
        jet_phi = np.pi - np.mod(np.pi - jet_phi, 2.0 * np.pi)

    grid_eta += jet_eta[:, None]
    grid_phi += jet_phi[:, None]
    p4s = out[:, :keep]
    p4s[..., 0] = grid_pt * np.cosh(grid_eta)
    p4s[..., 1] = grid_pt * np.cos(grid_phi)
    p4s[..., 2] = grid_pt * np.sin(grid_phi)
    p4s[..., 3] = grid_pt * np.sinh(grid_eta)
    p4s[~valid] = 0.0

    # Float32 rounding can swap near-equal neighbours: re-sort those rows.
    pt32 = np.hypot(p4s[..., 1].astype(np.float64), p4s[..., 2].astype(np.float64))
    bad = np.flatnonzero((np.diff(pt32, axis=1) > 0).any(axis=1))
    if bad.size:
        order = np.argsort(-pt32[bad], axis=1, kind="stable")
        p4s[bad] = np.take_along_axis(p4s[bad], order[..., None], axis=1)

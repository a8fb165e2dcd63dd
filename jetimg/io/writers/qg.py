"""Files in EnergyFlow's quark/gluon layout (QG_jets*.npz), and toy jets for them.

:func:`write_qg` writes ``X`` (N, M, 4) = (pt, y, phi, pid) and ``y`` (N,)
as ``np.savez_compressed`` (or ``np.savez``) does for EnergyFlow's files;
:func:`toy_qg` draws quark-like and gluon-like jets in that layout (pT
500-550 GeV, |y| < 1.7, R = 0.4, realistic multiplicities and particle
mix), padded to the largest multiplicity drawn, as each released file is.

>>> X, y = toy_qg(200, seed=3)
>>> X.shape[0], X.shape[2], sorted(set(y.tolist()))
(200, 4, [0.0, 1.0])
>>> bool((X[..., 0][y == 0] > 0).sum(1).mean() > (X[..., 0][y == 1] > 0).sum(1).mean())
True
"""

import os

import numpy as np

from jetimg.checks import integer

__all__ = ["write_qg", "toy_qg"]

# Particle mix of a jet, by PDG id (charge-conjugates drawn half the time for
# the charged ones): photons from pi0, pi+-, K+-, K0L, p, n, e, mu.
_PIDS = np.array([22, 211, 321, 130, 2212, 2112, 11, 13])
_PID_P = np.array([0.27, 0.47, 0.10, 0.06, 0.04, 0.04, 0.015, 0.005])
_SELF_CONJUGATE = np.isin(_PIDS, (22, 130))
# Mean multiplicities at pT ~ 500 GeV, R = 0.4 (gluon jets have more).
_MEAN_N = {1: 33.0, 0: 53.0}
_R_JET = 0.4


def write_qg(path, X, y, compressed=True):
    """Write jets in EnergyFlow's quark/gluon ``.npz`` layout.

    Parameters
    ----------
    path : str or os.PathLike
        The file to write (no ``.npz`` is appended).
    X : array_like, shape (N, M, 4)
        (pt [GeV], rapidity, phi [rad], PDG id) per particle, zero rows as padding.
    y : array_like, shape (N,)
        Labels: 0 gluon, 1 quark.
    compressed : bool
        Deflate the members (``np.savez_compressed``, as the released files);
        False stores them (``np.savez``).

    Raises
    ------
    ValueError
        X is not (N, M, 4) or y not (N,).
    """
    X, y = np.asarray(X), np.asarray(y)
    if X.ndim != 3 or X.shape[2] != 4:
        raise ValueError(f"X has shape {X.shape}, expected (N, M, 4) of (pt, y, phi, pid)")
    if y.shape != (X.shape[0],):
        raise ValueError(f"y has shape {y.shape}, expected ({X.shape[0]},)")
    save = np.savez_compressed if compressed else np.savez
    with open(os.fspath(path), "wb") as fh:
        save(fh, X=X, y=y)


def toy_qg(n, seed=0, quark_fraction=0.5):
    """Toy quark and gluon jets as EnergyFlow's QG files hold them.

    Parameters
    ----------
    n : int
        Number of jets.
    seed : int
        Random seed.
    quark_fraction : float
        Probability of a quark jet.

    Returns
    -------
    X : numpy.ndarray
        float64, shape (n, M, 4): (pt, y, phi, pid) per particle, sorted by
        decreasing pt, zero rows as padding; M the largest multiplicity drawn.
    y : numpy.ndarray
        float64, shape (n,): 1 quark, 0 gluon.
    """
    n = integer("n", n, minimum=0)
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < quark_fraction).astype(np.float64)
    mean = np.where(y == 1, _MEAN_N[1], _MEAN_N[0])
    mult = np.maximum(rng.poisson(mean), 2)
    m = int(mult.max()) if n else 1
    X = np.zeros((n, m, 4), np.float64)
    slot = np.arange(m)
    live = slot[None, :] < mult[:, None]
    jet_pt = rng.uniform(500.0, 550.0, n)
    jet_y = rng.uniform(-1.7, 1.7, n)
    jet_phi = rng.uniform(0.0, 2 * np.pi, n)
    # momentum fractions: a Dirichlet-like draw, harder for quark jets
    alpha = np.where(y == 1, 0.35, 0.5)[:, None]
    frac = rng.gamma(alpha * np.ones((n, m)), 1.0) * live
    frac /= frac.sum(axis=1, keepdims=True)
    pts = np.sort(frac, axis=1)[:, ::-1] * jet_pt[:, None]
    # angles: softer particles further out, inside R
    spread = np.clip(0.02 + 0.15 * (1 - pts / pts[:, :1]), 0, _R_JET)
    r = np.minimum(np.abs(rng.normal(0, 1, (n, m))) * spread, _R_JET)
    theta = rng.uniform(0, 2 * np.pi, (n, m))
    ys = jet_y[:, None] + r * np.cos(theta)
    phis = np.mod(jet_phi[:, None] + r * np.sin(theta), 2 * np.pi)
    pids = _PIDS[rng.choice(len(_PIDS), size=(n, m), p=_PID_P)]
    flip = (rng.random((n, m)) < 0.5) & ~np.isin(pids, _PIDS[_SELF_CONJUGATE])
    pids = np.where(flip, -pids, pids)
    X[..., 0] = pts
    X[..., 1] = ys
    X[..., 2] = phis
    X[..., 3] = pids
    X[~live] = 0.0
    return X, y

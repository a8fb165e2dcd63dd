"""The per-jet body of the recipe (docs/recipe.md steps 1-5, 7, and the variations),
written once.

``make_jet_body(jit, asinh, atan2)`` compiles the same Python source for the
CPU (``numba.njit``) and for CUDA (``numba.cuda.jit(device=True)``), with the
target's own ``asinh`` and ``atan2`` for the per-constituent kinematics;
``make_channels_body`` is its twin for several channels (step 6). Both share
steps 1-4 (``make_geometry``: the pixel of every constituent) and differ only
in what they add to the pixels. Both write the jet's particles (step 7,
``make_particles``) right after the geometry when ``options.n_particles`` > 0,
so one compiled kernel serves recipes with and without particles; likewise a
variation (``options.vary``, ``make_variation``) is applied inside the
geometry, between its validity pass and step 1, and the draws follow the
jet's input row (``options.row0`` + its index). The bodies never allocate: the caller hands them one jet, one image, one particles block
and a scratch block. All kinematics are float64; the images are accumulated
in float32, the particles computed in float64 and stored as float32.

Shapes: jet (M, 4) (E, px, py, pz) in GeV, float32 or float64; image
(npix, npix) float32, or (npix, npix, C) with channels; kinds (M,) int8
(:mod:`jetimg.kinds` codes; any other length: no kinds); charges (M,) int8
(electric charge in units of e; read only for particles with kinds);
particles (P, F) float32 (F = 11, or 17 with kinds); seven scratch rows (M,)
float64 (see ``new_scratch``).

The body returns ``(code, jet_pt, jet_eta, jet_phi, jet_mass)``: ``code >= 0``
is the number of valid constituents; ``code < 0`` marks an invalid jet (its
image is zeroed): ``-(1 + 4 * slot + reason)``, see :func:`decode_invalid`.
"""

import math
from typing import NamedTuple

import numpy as np

N_SCRATCH = 7  # scratch rows the body takes: px, py, pz, w, x, y, slot

# Invalid-slot reasons, in the order the body tests them.
REASONS = ("not finite", "negative energy", "zero energy with non-zero momentum",
           "positive energy with zero transverse momentum")

PI = math.pi
TWO_PI = 2.0 * math.pi
SNAP = 1e-9        # |x'|, |y'| below this count as 0 before pixelation (recipe step 4)
ROT_TOL = 1e-12    # relative test for "no principal axis" (recipe step 2)
F32_HALF_TINY = 2.0 ** -150  # weights up to this round to 0 when added to a float32 pixel


class KernelOptions(NamedTuple):
    """The recipe as every kernel takes it: one record of numbers (numba kernels
    take numbers, not strings); built by :meth:`jetimg.Recipe.kernel_options`."""

    center: int        # 0 centroid, 1 summed four-vector ("jet"), 2 leading
    rotate: bool
    flip: bool
    npix: int
    dx: float          # pixel width along x (eta)
    dy: float          # pixel width along y (phi)
    intensity: int     # 0 pT, 1 E
    threshold: float   # GeV
    normalise: int     # 0 sum, 1 max, 2 none
    n_particles: int = 0  # P particles per jet (step 7); 0: none
    vary: bool = False    # a variation (docs/recipe.md "Variations"); the five below
    vary_scale: float = 1.0
    vary_neutral_scale: float = 1.0
    vary_smear: float = 0.0
    vary_drop: float = 0.0
    vary_seed: int = 0
    row0: int = 0         # the input row of the first jet given: the variations' n


#: channel quantity codes (the kernels' ``chan_qty``), as jetimg.recipe.QUANTITIES
QTY_PT, QTY_E, QTY_COUNT = 0, 1, 2

#: particle features without kinds (docs/recipe.md step 7; jetimg.recipe.PARTICLE_FEATURES)
N_BASE_FEATURES = 11
#: the jetimg.kinds codes the particle kind flags test, in feature order
#: (is_charged_hadron, is_neutral_hadron, is_photon, is_electron, is_muon);
#: tests/test_particles.py holds them to jetimg.kinds.KIND_CODE.
FLAG_KIND_CODES = (4, 5, 1, 2, 3)


def decode_invalid(code):
    """(slot, reason) of a negative body code.

    >>> decode_invalid(-(1 + 4 * 7 + 1))
    (7, 'negative energy')
    """
    k = -int(code) - 1
    return k // 4, REASONS[k % 4]


def describe_invalid(jet, code):
    """The human-readable reason of a negative body code for ``jet`` (M, 4).

    >>> import numpy as np
    >>> describe_invalid(np.array([[1.0, 1, 0, 0], [-2.0, 1, 0, 0]]), -(1 + 4 * 1 + 1))
    'slot 1: negative energy (E=-2, px=1, py=0, pz=0 GeV)'
    """
    slot, reason = decode_invalid(code)
    e, px, py, pz = (float(v) for v in jet[slot])
    return f"slot {slot}: {reason} (E={e:g}, px={px:g}, py={py:g}, pz={pz:g} GeV)"


# SplitMix64 (docs/recipe.md "Variations"), in uint64 arithmetic modulo 2^64.
# (Under numba's CUDA simulator these are NumPy scalars, which warn on the
# intended wrap-around; the simulator tests ignore that warning.)
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31 = np.uint64(11), np.uint64(27), np.uint64(30), np.uint64(31)
_TWO_M53 = 2.0 ** -53
#: the jetimg.kinds codes neutral_scale takes: photon, neutral_hadron
NEUTRAL_KIND_CODES = (1, 5)


def make_variation(jit):
    """The variations compiled by ``jit``: ``(vary_jet, row_key, factors, varied)``.

    ``row_key(seed, row)`` is mix(mix(seed) ^ row), a jet's key;
    ``factors(kinds, n_slots, key, slot, options)`` gives ``(keep, f_smear,
    f_neutral, f_scale)`` of the constituent in ``slot`` of the jet whose
    draws ``key`` (``row_key(seed, row)``) seeds; ``varied(v, f_smear,
    f_neutral, f_scale)`` is ``((v * f_smear) * f_neutral) * f_scale``, the
    varied value of one component (float64). ``vary_jet`` applies them to the
    compacted constituents the geometry's first pass left in the scratch rows.
    """

    @jit
    def mix(z):
        z = z + _GOLDEN
        z = (z ^ (z >> _S30)) * _MIX1
        z = (z ^ (z >> _S27)) * _MIX2
        return z ^ (z >> _S31)

    @jit
    def row_key(seed, row):
        return mix(mix(np.uint64(seed)) ^ np.uint64(row))

    @jit
    def uniform(key, slot, t):
        h = mix(key ^ np.uint64(4 * slot + t))
        return (float(h >> _S11) + 0.5) * _TWO_M53

    @jit
    def factors(kinds, n_slots, key, slot, options):
        drop = options[14]
        smear = options[13]
        keep = not (drop > 0.0 and uniform(key, slot, 0) < drop)
        f_smear = 1.0
        if smear > 0.0:
            g = math.sqrt(-2.0 * math.log(uniform(key, slot, 1))) * math.cos(
                TWO_PI * uniform(key, slot, 2))
            g = -3.0 if g < -3.0 else (3.0 if g > 3.0 else g)
            f_smear = 1.0 + smear * g
        f_neutral = 1.0
        if kinds.shape[0] == n_slots:
            code = kinds[slot]
            if code == NEUTRAL_KIND_CODES[0] or code == NEUTRAL_KIND_CODES[1]:
                f_neutral = options[12]
        return keep, f_smear, f_neutral, options[11]

    @jit
    def varied(v, f_smear, f_neutral, f_scale):
        return ((v * f_smear) * f_neutral) * f_scale

    @jit
    def vary_jet(kinds, n_slots, row, k, lead, px_s, py_s, pz_s, w_s, s_s, options):
        # Drop (never the unvaried jet's leading constituent ``lead``), then
        # the factors, compacting in place; returns the new k and lead.
        key = row_key(options[15], row)
        kept = 0
        for i in range(k):
            m = int(s_s[i])
            keep, f_smear, f_neutral, f_scale = factors(kinds, n_slots, key, m, options)
            if not keep and i != lead:
                continue
            px_s[kept] = varied(px_s[i], f_smear, f_neutral, f_scale)
            py_s[kept] = varied(py_s[i], f_smear, f_neutral, f_scale)
            pz_s[kept] = varied(pz_s[i], f_smear, f_neutral, f_scale)
            w_s[kept] = varied(w_s[i], f_smear, f_neutral, f_scale)
            s_s[kept] = s_s[i]
            kept += 1
        new_lead = 0
        lead_pt2 = -1.0
        for i in range(kept):
            pt2 = px_s[i] * px_s[i] + py_s[i] * py_s[i]
            if pt2 > lead_pt2:  # strict: the first slot wins ties
                lead_pt2 = pt2
                new_lead = i
        return kept, new_lead, lead_pt2

    return vary_jet, row_key, factors, varied


def make_geometry(jit, asinh, atan2):
    """Steps 1-4 of one jet compiled by ``jit`` using the given asinh/atan2:
    the per-jet quantities and the pixel of every valid constituent.

    ``geometry(jet, kinds, row, px_s, py_s, pz_s, w_s, x_s, y_s, s_s, options)``
    (``row``: the jet's input row, for a variation's draws) returns
    ``(code, jet_pt, jet_eta, jet_phi, jet_mass)`` as the bodies do; for the
    ``k = code`` valid constituents (compacted, in slot order) it leaves the
    pixel row in ``px_s[i]`` (-1.0 outside the crop), the column in ``py_s[i]``,
    the weight w in ``w_s[i]``, the other quantity (E when w is pT, pT when
    w is E) in ``pz_s[i]``, the slot in ``s_s[i]``, and x', y' after steps
    1-3 (unsnapped, uncropped) in ``x_s[i]``, ``y_s[i]``; the caller may
    overwrite ``x_s`` and ``y_s`` afterwards. With ``options.vary`` the
    constituents are varied after the first pass (validity) and before
    everything else.
    """
    vary_jet = make_variation(jit)[0]

    @jit
    def geometry(jet, kinds, row, px_s, py_s, pz_s, w_s, x_s, y_s, s_s, options):
        # Scratch rows, (M,) float64 each: px, py (later each constituent's
        # pixel row and column), pz, E (later the weight w), x, y, slot.
        # Separate arrays, not rows of one block: LLVM then vectorises the
        # per-constituent loops.
        center = options[0]
        rotate = options[1]
        flip = options[2]
        npix = options[3]
        dx = options[4]
        dy = options[5]
        intensity = options[6]
        n_slots = jet.shape[0]

        # Pass 1: padding, validity, compaction, leading constituent, sums.
        k = 0
        lead = 0
        lead_pt2 = -1.0
        sum_e = 0.0
        sum_px = 0.0
        sum_py = 0.0
        sum_pz = 0.0
        for m in range(n_slots):
            e = float(jet[m, 0])
            px = float(jet[m, 1])
            py = float(jet[m, 2])
            pz = float(jet[m, 3])
            if e == 0.0 and px == 0.0 and py == 0.0 and pz == 0.0:
                continue  # padding (-0.0 == 0.0 too)
            reason = -1
            if not (math.isfinite(e) and math.isfinite(px)
                    and math.isfinite(py) and math.isfinite(pz)):
                reason = 0
            elif e < 0.0:
                reason = 1
            elif e == 0.0:
                reason = 2
            elif px == 0.0 and py == 0.0:
                reason = 3
            if reason >= 0:
                return -(1 + 4 * m + reason), 0.0, 0.0, 0.0, 0.0
            px_s[k] = px
            py_s[k] = py
            pz_s[k] = pz
            # From the float64 rows: numba's float() keeps float32 input float32.
            pt2 = px_s[k] * px_s[k] + py_s[k] * py_s[k]
            if pt2 > lead_pt2:  # strict: the first slot wins ties
                lead_pt2 = pt2
                lead = k
            w_s[k] = e
            s_s[k] = m
            sum_e += e
            sum_px += px
            sum_py += py
            sum_pz += pz
            k += 1

        if options[10] and k > 0:
            # The variation, then the sums of the varied constituents, in slot order.
            k, lead, lead_pt2 = vary_jet(kinds, n_slots, row, k, lead, px_s, py_s, pz_s,
                                         w_s, s_s, options)
            sum_e = 0.0
            sum_px = 0.0
            sum_py = 0.0
            sum_pz = 0.0
            for i in range(k):
                sum_e += w_s[i]
                sum_px += px_s[i]
                sum_py += py_s[i]
                sum_pz += pz_s[i]

        if k == 0:
            return 0, 0.0, 0.0, 0.0, 0.0
        jet_pt = math.sqrt(sum_px * sum_px + sum_py * sum_py)
        jet_eta = math.asinh(sum_pz / jet_pt) if jet_pt > 0.0 else 0.0
        jet_phi = math.atan2(sum_py, sum_px)
        jet_phi = PI if jet_phi == -PI else jet_phi  # (-pi, pi]
        m2 = sum_e * sum_e - (sum_px * sum_px + sum_py * sum_py + sum_pz * sum_pz)
        jet_mass = math.sqrt(m2) if m2 > 0.0 else 0.0

        # Pass 2: eta, phi relative to the leading constituent, weights, centroid.
        lead_pt = math.sqrt(lead_pt2)
        ux = px_s[lead] / lead_pt
        uy = py_s[lead] / lead_pt
        sw = 0.0
        swx = 0.0
        swy = 0.0
        for i in range(k):
            px = px_s[i]
            py = py_s[i]
            pt = math.sqrt(px * px + py * py)
            eta = asinh(pz_s[i] / pt)
            dphi = atan2(ux * py - uy * px, ux * px + uy * py)
            dphi = dphi - TWO_PI if dphi >= PI else dphi  # [-pi, pi)
            w = pt if intensity == 0 else w_s[i]
            pz_s[i] = w_s[i] if intensity == 0 else pt  # the other quantity: E or pT
            w_s[i] = w
            x_s[i] = eta
            y_s[i] = dphi
            sw += w
            swx += w * eta
            swy += w * dphi

        # The leading constituent is at dphi = 0 exactly, as phi_ref - phi_ref
        # is; rounding in the cross product must not put it off the axis (with
        # center="leading" it sits on the centre, where it must not sway the flips).
        y_s[lead] = 0.0

        # Step 1: the centre.
        if center == 0:      # centroid
            eta_c = swx / sw
            phi_c = swy / sw
        elif center == 1:    # summed four-vector
            eta_c = jet_eta
            d = jet_phi - math.atan2(py_s[lead], px_s[lead])
            phi_c = d - TWO_PI * math.floor((d + PI) / TWO_PI)
            if phi_c >= PI:
                phi_c -= TWO_PI
        else:                # leading constituent
            eta_c = x_s[lead]
            phi_c = 0.0

        # Step 2 (moments): x, y about the centre.
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        for i in range(k):
            x = x_s[i] - eta_c
            y = y_s[i] - phi_c
            x_s[i] = x
            y_s[i] = y
            w = w_s[i]
            sxx += w * x * x
            syy += w * y * y
            sxy += w * x * y

        cos_b = 1.0
        sin_b = 0.0
        if rotate and k > 1:
            tol = ROT_TOL * (sxx + syy)
            if not (abs(sxx - syy) <= tol and abs(sxy) <= tol):
                alpha = 0.5 * math.atan2(2.0 * sxy, sxx - syy)
                beta = 0.5 * PI - alpha
                cos_b = math.cos(beta)
                sin_b = math.sin(beta)

        # Step 2 (rotation) and step 3 (flip sums).
        w_xpos = 0.0
        w_xneg = 0.0
        w_ypos = 0.0
        w_yneg = 0.0
        for i in range(k):
            x = x_s[i]
            y = y_s[i]
            xr = x * cos_b - y * sin_b
            yr = x * sin_b + y * cos_b
            x_s[i] = xr
            y_s[i] = yr
            w = w_s[i]
            w_xpos += w if xr > 0.0 else 0.0
            w_xneg += w if xr < 0.0 else 0.0
            w_ypos += w if yr > 0.0 else 0.0
            w_yneg += w if yr < 0.0 else 0.0
        sign_x = -1.0 if (flip and w_xpos > w_xneg) else 1.0
        sign_y = -1.0 if (flip and w_yneg > w_ypos) else 1.0

        # Step 4: pixelate and crop. Each constituent's pixel (row, col, or
        # row -1 outside the crop) goes to the px, py rows in a loop LLVM
        # vectorises; the scatter into the image is a loop of its own.
        half_x = 0.5 * npix * dx
        half_y = 0.5 * npix * dy
        for i in range(k):
            x = sign_x * x_s[i]
            y = sign_y * y_s[i]
            x_s[i] = x  # x', y' after the flips: step 7's x and y
            y_s[i] = y
            x = 0.0 if abs(x) < SNAP else x
            y = 0.0 if abs(y) < SNAP else y
            # A point on the centre lands in pixel npix//2 even where
            # fl(npix*d/2)/d rounds below npix/2 (docs/recipe.md, step 4).
            col = math.floor((x + half_x) / dx) if x != 0.0 else float(npix // 2)
            row = math.floor((y + half_y) / dy) if y != 0.0 else float(npix // 2)
            inside = col >= 0.0 and col < npix and row >= 0.0 and row < npix
            # A weight that float32 rounds to 0 changes no pixel; left out, it
            # cannot leave a -0.0 behind in the negated accumulation below.
            inside = inside and w_s[i] > F32_HALF_TINY
            px_s[i] = row if inside else -1.0
            py_s[i] = col

        return k, jet_pt, jet_eta, jet_phi, jet_mass

    return geometry


def make_particles(jit):
    """Step 7 compiled by ``jit``: the first P valid constituents by pT.

    ``fill_particles(jet, kinds, charges, parts, k, jet_pt, w_s, pz_s, x_s,
    y_s, s_s, options, row)`` runs after the geometry (``k`` its code, the
    scratch rows as it left them) and fills ``parts`` (P, F): row p holds
    the constituent of p-th largest pT (float64, as the geometry computed it;
    equal pT in slot order) when p < min(k, P), zeros otherwise (all zeros
    for k <= 0). F = 11 features, or 17 with ``kinds`` and ``charges`` rows
    (M,) (docs/recipe.md step 7). Reads the scratch rows, writes none of them.
    The order is found by P scans over the k constituents, each taking the
    largest pT after the previous one's (pT, slot) place: no scratch, no
    sort, and P x k steps, small for the P of particle taggers. With a
    variation the four-vector is the input's times the constituent's factors,
    drawn again for its slot and ``row``.
    """
    _, row_key, factors, varied = make_variation(jit)

    @jit
    def fill_particles(jet, kinds, charges, parts, k, jet_pt, w_s, pz_s, x_s, y_s, s_s,
                       options, row):
        intensity = options[6]
        n_rows = parts.shape[0]
        n_feat = parts.shape[1]
        for p in range(n_rows):
            for f in range(n_feat):
                parts[p, f] = 0.0
        if k <= 0:
            return
        # jet_e: the summed energy of every valid constituent, in slot order
        jet_e = 0.0
        for i in range(k):
            jet_e += pz_s[i] if intensity == 0 else w_s[i]
        with_kinds = n_feat > N_BASE_FEATURES
        prev_pt = math.inf
        prev = -1
        for p in range(min(k, n_rows)):
            best = -1
            best_pt = -1.0
            for i in range(k):
                pt = w_s[i] if intensity == 0 else pz_s[i]
                after = pt < prev_pt or (pt == prev_pt and i > prev)
                if after and pt > best_pt:  # strict: the first slot wins ties
                    best_pt = pt
                    best = i
            prev_pt = best_pt
            prev = best
            pt = best_pt
            e = pz_s[best] if intensity == 0 else w_s[best]
            x = x_s[best]
            y = y_s[best]
            m = int(s_s[best])
            parts[p, 0] = x
            parts[p, 1] = y
            parts[p, 2] = math.log(pt)
            parts[p, 3] = math.log(e)
            parts[p, 4] = math.log(pt / jet_pt) if jet_pt > 0.0 else 0.0
            parts[p, 5] = math.log(e / jet_e)
            parts[p, 6] = math.sqrt(x * x + y * y)
            f_smear = 1.0
            f_neutral = 1.0
            f_scale = 1.0
            if options[10]:
                _, f_smear, f_neutral, f_scale = factors(
                    kinds, jet.shape[0], row_key(options[15], row), m, options)
            parts[p, 7] = varied(float(jet[m, 1]), f_smear, f_neutral, f_scale)
            parts[p, 8] = varied(float(jet[m, 2]), f_smear, f_neutral, f_scale)
            parts[p, 9] = varied(float(jet[m, 3]), f_smear, f_neutral, f_scale)
            parts[p, 10] = varied(float(jet[m, 0]), f_smear, f_neutral, f_scale)
            if with_kinds:
                code = kinds[m]
                parts[p, 11] = float(charges[m])
                parts[p, 12] = 1.0 if code == FLAG_KIND_CODES[0] else 0.0
                parts[p, 13] = 1.0 if code == FLAG_KIND_CODES[1] else 0.0
                parts[p, 14] = 1.0 if code == FLAG_KIND_CODES[2] else 0.0
                parts[p, 15] = 1.0 if code == FLAG_KIND_CODES[3] else 0.0
                parts[p, 16] = 1.0 if code == FLAG_KIND_CODES[4] else 0.0

    return fill_particles


def make_jet_body(jit, asinh, atan2):
    """The per-jet body (one image of w, steps 1-5, and the particles of step 7)
    compiled by ``jit`` using the given asinh/atan2."""
    geometry = make_geometry(jit, asinh, atan2)
    fill_particles = make_particles(jit)

    @jit
    def jet_body(jet, kinds, charges, image, parts, px_s, py_s, pz_s, w_s, x_s, y_s, s_s,
                 options, row):
        npix = options[3]
        threshold = options[7]
        normalise = options[8]
        for r in range(npix):
            for c in range(npix):
                image[r, c] = 0.0
        k, jet_pt, jet_eta, jet_phi, jet_mass = geometry(
            jet, kinds, row, px_s, py_s, pz_s, w_s, x_s, y_s, s_s, options)
        if options[9] > 0:
            fill_particles(jet, kinds, charges, parts, k, jet_pt, w_s, pz_s, x_s, y_s, s_s,
                           options, row)
        if k <= 0:
            return k, jet_pt, jet_eta, jet_phi, jet_mass

        # With no threshold the image is accumulated negated (a pixel < 0 is
        # one not yet normalised), and the sum and peak of its float32 pixels
        # are kept on the way: step 5 is then one pass over the constituents.
        fused = threshold == 0.0 and normalise != 2
        sign = -1.0 if fused else 1.0
        total = 0.0
        peak = 0.0
        for i in range(k):
            r, c = int(px_s[i]), int(py_s[i])
            if r >= 0:
                old = float(image[r, c])
                image[r, c] = old + sign * w_s[i]
                new = float(image[r, c])
                total += old - new
                peak = -new if -new > peak else peak

        if not fused and (threshold > 0.0 or normalise != 2):
            # Threshold: the first visit of a pixel thresholds it, adds it to
            # the sum and peak and marks it negative.
            total = 0.0
            peak = 0.0
            for i in range(k):
                r, c = int(px_s[i]), int(py_s[i])
                if r >= 0:
                    v = float(image[r, c])
                    if v > 0.0:
                        if v < threshold:
                            image[r, c] = 0.0
                        else:
                            total += v
                            peak = v if v > peak else peak  # numba.cuda: no max(f64, f32)
                            image[r, c] = -v
        if threshold > 0.0 or normalise != 2:
            # Step 5: each negative (not yet normalised) pixel once.
            scale = total if normalise == 0 else (peak if normalise == 1 else 1.0)
            for i in range(k):
                r, c = int(px_s[i]), int(py_s[i])
                if r >= 0:
                    v = float(image[r, c])
                    image[r, c] = -v / scale if v < 0.0 else v
        return k, jet_pt, jet_eta, jet_phi, jet_mass

    return jet_body




def make_channels_body(jit, asinh, atan2):
    """The per-jet body with channels (steps 1-4, then step 6) compiled by
    ``jit`` using the given asinh/atan2.

    ``chan_qty`` (C,) holds each channel's quantity (QTY_PT, QTY_E,
    QTY_COUNT); ``chan_mask`` (C,) the kinds it takes, bit ``1 << code`` per
    :mod:`jetimg.kinds` code. Both are run-time arrays, so one compiled kernel
    serves every channel list.
    """
    geometry = make_geometry(jit, asinh, atan2)
    fill_particles = make_particles(jit)

    @jit
    def channels_body(jet, kinds, charges, image, parts, px_s, py_s, pz_s, w_s, x_s, y_s, s_s,
                      options, row, chan_qty, chan_mask):
        npix = options[3]
        threshold = options[7]
        normalise = options[8]
        n_chan = chan_qty.shape[0]
        for r in range(npix):
            for c in range(npix):
                for h in range(image.shape[2]):  # not n_chan: LLVM then writes whole rows
                    image[r, c, h] = 0.0
        k, jet_pt, jet_eta, jet_phi, jet_mass = geometry(
            jet, kinds, row, px_s, py_s, pz_s, w_s, x_s, y_s, s_s, options)
        if options[9] > 0:
            fill_particles(jet, kinds, charges, parts, k, jet_pt, w_s, pz_s, x_s, y_s, s_s,
                           options, row)
        if k <= 0:
            return k, jet_pt, jet_eta, jet_phi, jet_mass

        # The threshold mask, from the raw image of w over every constituent
        # (accumulated in channel 0, then cleared): a constituent in a masked
        # pixel leaves the grid (row -1) for every channel.
        if threshold > 0.0:
            for i in range(k):
                r, c = int(px_s[i]), int(py_s[i])
                if r >= 0:
                    image[r, c, 0] += w_s[i]
            for i in range(k):
                r, c = int(px_s[i]), int(py_s[i])
                x_s[i] = 1.0 if (r >= 0 and image[r, c, 0] < threshold) else 0.0
            for i in range(k):
                r, c = int(px_s[i]), int(py_s[i])
                if r >= 0:
                    image[r, c, 0] = 0.0
                    if x_s[i] > 0.0:
                        px_s[i] = -1.0

        # Each constituent's pT (x_s), E (y_s) and kind bit (pz_s); the
        # geometry left w in w_s and the other quantity in pz_s.
        with_kinds = kinds.shape[0] == jet.shape[0]
        intensity = options[6]
        sum_pt = 0.0
        sum_e = 0.0
        for i in range(k):
            pt = w_s[i] if intensity == 0 else pz_s[i]
            e = pz_s[i] if intensity == 0 else w_s[i]
            x_s[i] = pt
            y_s[i] = e
            pz_s[i] = float(1 << (kinds[int(s_s[i])] if with_kinds else 0))
            if px_s[i] >= 0.0:
                sum_pt += pt
                sum_e += e
        den_pt = 1.0
        den_e = 1.0
        if normalise == 0:
            den_pt = sum_pt
            den_e = sum_e
        elif normalise == 1:
            # "max": the peak of the all-kinds image of each quantity,
            # accumulated in channel 0 and cleared again.
            for q in range(2):
                peak = 0.0
                for i in range(k):
                    r, c = int(px_s[i]), int(py_s[i])
                    if r >= 0:
                        image[r, c, 0] += x_s[i] if q == 0 else y_s[i]
                        v = float(image[r, c, 0])
                        peak = v if v > peak else peak
                for i in range(k):
                    r, c = int(px_s[i]), int(py_s[i])
                    if r >= 0:
                        image[r, c, 0] = 0.0
                if q == 0:
                    den_pt = peak
                else:
                    den_e = peak
        # A zero denominator leaves the channel all-zero.
        inv_pt = 1.0 / den_pt if den_pt > 0.0 else 0.0
        inv_e = 1.0 / den_e if den_e > 0.0 else 0.0
        for i in range(k):
            x_s[i] *= inv_pt
            y_s[i] *= inv_e

        # Step 6: each constituent adds its quantity, already divided by its
        # denominator (counts never are), to the channels of its kind.
        for i in range(k):
            r, c = int(px_s[i]), int(py_s[i])
            if r >= 0:
                bit = int(pz_s[i])
                for h in range(n_chan):
                    if chan_mask[h] & bit:
                        q = chan_qty[h]
                        image[r, c, h] += 1.0 if q == 2 else (x_s[i] if q == 0 else y_s[i])
        return k, jet_pt, jet_eta, jet_phi, jet_mass

    return channels_body


def make_store_result(jit):
    """``store_result(n, result, jet_pt, ..., codes)``: a body's ``result``
    (code, pT, eta, phi, mass) for jet ``n``, stored as the output arrays hold it."""

    @jit
    def store_result(n, result, jet_pt, jet_eta, jet_phi, jet_mass, n_constituents, valid,
                     codes):
        code, pt, eta, phi, mass = result
        codes[n] = code
        ok = code >= 0
        valid[n] = 1 if ok else 0
        n_constituents[n] = code if ok else 0
        jet_pt[n] = pt
        jet_eta[n] = eta
        jet_phi[n] = phi
        jet_mass[n] = mass

    return store_result


def make_fill_jet(jit, jet_body):
    """Jet ``n`` through ``jet_body``, its results stored as the output arrays
    hold them (compiled by ``jit``; the CPU and CUDA loops both call it).

    ``kinds`` and ``charges`` (N, M) int8 are read for particles with kinds;
    ``particles`` (N, P, F) is written when ``options.n_particles`` > 0. Any
    of them may be a placeholder of one row ((1, 1), (1, 1, 1)) when unused.
    """
    store_result = make_store_result(jit)

    @jit
    def fill_jet(jets, kinds, charges, n, images, particles, px_s, py_s, pz_s, w_s, x_s, y_s,
                 s_s, options, jet_pt, jet_eta, jet_phi, jet_mass, n_constituents, valid,
                 codes):
        result = jet_body(jets[n], kinds[n if kinds.shape[0] > n else 0],
                          charges[n if charges.shape[0] > n else 0], images[n],
                          particles[n if particles.shape[0] > n else 0],
                          px_s, py_s, pz_s, w_s, x_s, y_s, s_s, options, options[16] + n)
        store_result(n, result, jet_pt, jet_eta, jet_phi, jet_mass, n_constituents, valid,
                     codes)

    return fill_jet


def make_fill_jet_channels(jit, channels_body):
    """As :func:`make_fill_jet` for :func:`make_channels_body`: jet ``n`` with
    its kinds row (``kinds`` (N, M); a (1, 1) array of 0 for no kinds, which
    makes every constituent kind 0, as a channel without KIND takes it), its
    charges and particles as :func:`make_fill_jet` takes them."""
    store_result = make_store_result(jit)

    @jit
    def fill_jet_channels(jets, kinds, charges, n, images, particles, px_s, py_s, pz_s, w_s,
                          x_s, y_s, s_s, options, chan_qty, chan_mask, jet_pt, jet_eta,
                          jet_phi, jet_mass, n_constituents, valid, codes):
        result = channels_body(jets[n], kinds[n if kinds.shape[0] > n else 0],
                               charges[n if charges.shape[0] > n else 0], images[n],
                               particles[n if particles.shape[0] > n else 0],
                               px_s, py_s, pz_s, w_s, x_s, y_s, s_s, options,
                               options[16] + n, chan_qty, chan_mask)
        store_result(n, result, jet_pt, jet_eta, jet_phi, jet_mass, n_constituents, valid,
                     codes)

    return fill_jet_channels

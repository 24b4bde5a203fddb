"""The ``cxr`` modality: chest-X-ray-like images (a torso, lungs, ribs, a heart) with
lesion-like findings (opacities, a nodule, effusions) drawn from the image and shared factors."""

from __future__ import annotations

import numpy as np
import torch

from mindkit.data.synthetic.world import C0, C1, C2, F32, IMG, S0, S1, sigmoid

N_BLOBS = 5
CY, AX, AY = 15.0, 5.6, 10.8  # lung centre row and semi-axes on the 32-pixel reference grid


def _soft_step(v, width):
    return sigmoid(v / width)


def make_cxr(z: np.ndarray, info: float, noise: float, rng, size: int,
              rows: np.ndarray | None = None) -> np.ndarray:
    """Patient ``i``'s image ``[1, size, size]`` at row ``rows[i]`` of the result (row ``i``
    without ``rows``). ``rows`` (a permutation of ``range(n)``) lets the builder lay images out
    split by split while generating them, so each split is a slice of one array rather than a
    copy of it (at 18,000 patients of 224 px the images alone are 3.6 GB); the images do not
    depend on it."""
    n = z.shape[0]
    if rows is not None and (rows.shape != (n,) or not np.array_equal(np.sort(rows),
                                                                       np.arange(n))):
        raise ValueError(f"rows must be a permutation of range({n})")
    u = lambda *s: rng.random(s)  # noqa: E731
    g = lambda *s: rng.standard_normal(s)  # noqa: E731
    # per-image draws, all up front (results do not depend on the chunking below)
    dx, dy = 0.8 * noise * g(n), 0.6 * noise * g(n)
    scale = 1 + 0.04 * noise * g(n)
    contrast = 1 + 0.12 * noise * g(n)
    exposure = 0.05 * noise * g(n)
    rib_phase = u(n) * 2 * np.pi
    heart_w = 4.6 * np.exp(0.11 * info * z[:, S1])
    haze = 0.16 * sigmoid(1.6 * info * z[:, S0] - 1.0)
    # opacities (consolidation): count, size and intensity grow with C0
    lam = np.exp(-0.1 + info * (0.9 * z[:, C0] + 0.2 * z[:, S0]))
    count = np.minimum(rng.poisson(lam), N_BLOBS)
    # positions: uniform over a lung field, 3 in 4 in its lower half (lobar consolidation)
    b_side, b_rad = rng.integers(0, 2, (n, N_BLOBS)), np.sqrt(u(n, N_BLOBS))
    b_ang = u(n, N_BLOBS) * np.pi + np.pi * (u(n, N_BLOBS) < 0.25)
    b_r0 = np.clip(1.5 * np.exp(0.3 * info * z[:, C0, None] + 0.2 * g(n, N_BLOBS)), 0.8, 4.5)
    b_amp = (0.08 + 0.24 * sigmoid(1.6 * info * z[:, C0] - 0.5))[:, None] * (
        0.8 + 0.4 * u(n, N_BLOBS))
    b_harm, b_phase = 0.3 * u(n, N_BLOBS, 2), u(n, N_BLOBS, 2) * 2 * np.pi
    # nodule / mass: probability and size grow with C1; sharp, lobulated edge; upper zones
    has_mass = u(n) < sigmoid(-0.6 + 2.0 * info * z[:, C1])
    m_r = np.clip(1.2 * np.exp(0.4 * info * z[:, C1] + 0.15 * g(n)), 0.8, 4.5)
    m_side, m_x, m_y = rng.integers(0, 2, n), u(n) * 2 - 1, -0.2 - 0.5 * u(n)
    m_harm, m_phase = 0.12 * u(n, 2), u(n, 2) * 2 * np.pi
    # effusion: fluid height grows with C2 (and the respiratory factor); side(s) random
    eff_h = np.clip(0.5 + 2.5 * info * (z[:, C2] + 0.25 * z[:, S1]) + 0.6 * noise * g(n),
                    0.0, 11.0)
    side_u = u(n)
    # [left, right] image sides: both 60%, left only 20%, right only 20%
    eff_side = np.stack([side_u < 0.8, (side_u < 0.6) | (side_u >= 0.8)], axis=1)

    out = np.empty((n, 1, size, size), dtype=F32)
    chunk = max(1, (1 << 20) // (size * size))
    chunk_seeds = rng.integers(0, 2**62, size=(n + chunk - 1) // chunk)
    grid = ((np.arange(size) + 0.5) * IMG / size - 0.5).astype(F32)
    for ci, start in enumerate(range(0, n, chunk)):
        sl = slice(start, min(n, start + chunk))
        crng = np.random.default_rng(int(chunk_seeds[ci]))
        m = sl.stop - sl.start
        col = lambda v: np.asarray(v[sl], dtype=F32)[:, None, None]  # noqa: E731
        yy, xx = grid[None, :, None], grid[None, None, :]
        cx0, cy, sc = 15.5 + col(dx), CY + col(dy), col(scale)
        ax, ay = AX * sc, AY * sc
        # torso: a rounded square (super-ellipse) with shoulders at the top corners
        body = _soft_step(1 - ((xx - cx0) / (15.0 * sc)) ** 4 - ((yy - cy - 4.0) / (19 * sc)) ** 4,
                          0.1)
        img = 0.06 + 0.52 * body
        img = img + 0.06 * np.exp(-(((xx - cx0) / 1.6) ** 2)) * body  # spine
        lungs_side = []
        for s, off in enumerate((-6.2, 6.2)):
            cx = cx0 + off * sc
            ell = _soft_step(1 - ((xx - cx) / ax) ** 2 - ((yy - cy) / ay) ** 2, 0.12)
            dome = cy + 0.6 * ay + 0.09 * (xx - cx) ** 2 / sc
            lungs_side.append((cx, ell, ell * _soft_step(dome - yy, 0.6)))
        lungs = np.maximum(lungs_side[0][2], lungs_side[1][2])
        img = img - 0.38 * lungs
        ribs = np.maximum(np.cos(2 * np.pi * (yy - 0.05 * (xx - cx0) ** 2) / 3.4
                                 + col(rib_phase)), 0) ** 2
        img = img + 0.05 * ribs * lungs
        heart = _soft_step(1 - ((xx - cx0 - 1.8) / (col(heart_w) * sc)) ** 2
                           - ((yy - cy - 5.5) / (4.8 * sc)) ** 2, 0.1)
        img = img + (0.5 - img) * heart
        # smooth opacity texture (shared by the findings of one image)
        low = torch.from_numpy(crng.standard_normal((m, 1, 8, 8)).astype(F32))
        tex = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic")[:, 0]
        tex = tex.numpy()
        fine = torch.from_numpy(crng.standard_normal((m, 1, 16, 16)).astype(F32))
        ftex = torch.nn.functional.interpolate(fine, size=(size, size), mode="bicubic")[:, 0]
        ftex = ftex.numpy()
        hil = np.exp(-((np.abs(xx - cx0) - 4.5 * sc) ** 2) / (2 * 3.5**2)
                     - (yy - cy) ** 2 / (2 * 5.0**2))
        finding = col(haze) * hil * (1 + 0.3 * ftex)
        for k in range(N_BLOBS):
            act = np.flatnonzero(count[sl] > k)  # only the images with a k-th opacity
            if len(act) == 0:
                break
            i = act + sl.start
            c = lambda v: np.asarray(v, dtype=F32)[:, None, None]  # noqa: E731
            sca = c(scale[i])
            cx = 15.5 + c(dx[i]) + c(np.where(b_side[i, k] == 0, -6.2, 6.2)) * sca
            bx = cx + 0.8 * AX * sca * c(b_rad[i, k] * np.cos(b_ang[i, k]))
            by = CY + c(dy[i]) + 0.75 * AY * sca * c(b_rad[i, k] * np.sin(b_ang[i, k]))
            d = np.hypot(xx - bx, yy - by)
            th = np.arctan2(yy - by, xx - bx)
            r = c(b_r0[i, k]) * sca * (1 + c(b_harm[i, k, 0]) * np.cos(2 * th + c(
                b_phase[i, k, 0])) + c(b_harm[i, k, 1]) * np.cos(3 * th + c(b_phase[i, k, 1])))
            blob = _soft_step(r - d, 0.7) * (0.7 + 0.3 * ftex[act])
            finding[act] += c(b_amp[i, k]) * blob
        mx = cx0 + col(np.where(m_side == 0, -6.2, 6.2)) * sc + col(m_x) * 0.5 * ax
        my = cy + col(m_y) * 0.8 * ay
        d = np.hypot(xx - mx, yy - my)
        th = np.arctan2(yy - my, xx - mx)
        r = col(m_r) * sc * (1 + col(m_harm[:, 0]) * np.cos(4 * th + col(m_phase[:, 0]))
                             + col(m_harm[:, 1]) * np.cos(5 * th + col(m_phase[:, 1])))
        finding = finding + 0.35 * col(has_mass) * _soft_step(r - d, 0.25)
        img = img + finding * lungs
        for s, (cx, ell, _) in enumerate(lungs_side):
            lat = np.clip((xx - cx) * (1 if s else -1) / ax, 0, 1)
            top = cy + 0.7 * ay - col(eff_h) - 1.5 * np.sqrt(col(eff_h)) * lat
            fluid = _soft_step(yy - top, 0.6) * ell * col(eff_side[:, s] & (eff_h > 0.3))
            img = img + (0.5 - img) * 0.8 * fluid
        img = (img - 0.4) * col(contrast) + 0.4 + col(exposure)
        img = img + 0.05 * noise * tex
        img = img + 0.03 * noise * crng.standard_normal((m, size, size)).astype(F32)
        out[sl if rows is None else rows[sl], 0] = np.clip(img, 0.0, 1.0)
    return out

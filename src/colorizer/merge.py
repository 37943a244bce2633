"""Upsample and merge: the predicted a,b (at the network's output size) are upsampled
bilinearly to the photo's full size and merged with its own full-resolution L into
8-bit sRGB, in strips of rows so that memory stays small on large photos.
Per pixel this is lab_to_rgb (lab.py) reorganised so that one strip of rows goes
through ~15 vectorised torch ops with preallocated out= buffers (no full-size float
temporaries):
  f = (fx, fz, fy) = (fy + a/500, max(fy - b/200, 0), (L + 16)/116)
  kappa * finv(f) = kappa * max(f, eps)^3 + (f - max(f, eps))      (the f^3 / linear
      split of lab_to_rgb: its linear piece is the tangent of f^3 at eps)
  linear RGB * N = M @ (kappa * finv(f)),  M = RGB_FROM_XYZ * white / kappa * N
  sRGB code = LUT[trunc(clamp(linear * N, 0, N))]                   (no pow per pixel)
The LUT holds the 8-bit sRGB code of each bin's centre: a pixel differs from the
direct computation by at most one level, and only within 1/N of a rounding threshold.

merge_full_res16 is the 16-bit merge (--depth 16): the same upsampling, then lab_to_rgb
itself in float32 and a rounding to 16 bits, so a 16-bit scan keeps its L* to 16-bit
precision (about 8x slower than the 8-bit table; only asked for 16-bit outputs).
"""
import functools

import numpy as np
import torch

from .lab import F_EPS, KAPPA, RGB_FROM_XYZ, WHITE_D65, lab_to_rgb, linear_to_srgb


@functools.lru_cache(maxsize=64)
def _bilinear_weights(n_out, n_in):
    """Source indices and weights for align_corners=False bilinear resampling (cached: the
    same sizes come back photo after photo; callers must not change them)."""
    x = (np.arange(n_out, dtype=np.float64) + 0.5) * (n_in / n_out) - 0.5
    x = np.clip(x, 0, n_in - 1)
    i0 = np.floor(x).astype(np.int64)
    i1 = np.minimum(i0 + 1, n_in - 1)
    w1 = (x - i0).astype(np.float32)
    return torch.from_numpy(i0), torch.from_numpy(i1), torch.from_numpy(w1)


_LUT_N = 1 << 16
_STRIP_PIXELS = 1 << 16   # pixels per strip: the buffers stay in cache


@functools.cache
def _srgb8_lut():
    x = ((torch.arange(_LUT_N + 1, dtype=torch.float64) + 0.5) / _LUT_N).clamp_(max=1.0)
    return linear_to_srgb(x).mul_(255).round_().clamp_(0, 255).to(torch.uint8)


def _strip_rows(H, W, strip=None):
    """Rows per strip: `strip` when given, else about _STRIP_PIXELS pixels."""
    return max(1, min(H, int(strip) if strip else _STRIP_PIXELS // W))


@functools.cache
def _merge_matrix():
    m = RGB_FROM_XYZ * WHITE_D65[None, :] * (_LUT_N / KAPPA)  # columns X, Y, Z
    return m[:, [0, 2, 1]].float().contiguous()               # in the buffer's order X, Z, Y


def _prepare(L, ab_small, dtype):
    """What both merges start from: L as finite float32 (NaN/inf kept out of the table
    lookups), the output array (H, W, 3) of `dtype`, a,b upsampled along the rows of the
    output (cols, (2, h, W)), and the source rows and weights of the vertical upsampling."""
    L = np.ascontiguousarray(L, dtype=np.float32)
    if not np.isfinite(L).all():
        L = np.nan_to_num(L, nan=0.0, posinf=100.0, neginf=0.0)
    H, W = L.shape
    out = np.empty((H, W, 3), dtype=dtype)
    if H == 0 or W == 0:
        return L, out, None, None, None, None
    ab_small = torch.nan_to_num(ab_small.detach().float().cpu(), posinf=0.0, neginf=0.0).contiguous()
    c0, c1, cw = _bilinear_weights(W, ab_small.shape[2])
    r0, r1, rw = _bilinear_weights(H, ab_small.shape[1])
    cols = torch.lerp(ab_small[:, :, c0], ab_small[:, :, c1], cw)  # (2, h, W)
    return L, out, cols, r0, r1, rw


def merge_full_res(L, ab_small, strip=None):
    """Upsample a,b (2, h, w) bilinearly (align_corners=False) to L's size (H, W) and
    convert Lab to RGB uint8 (H, W, 3), in strips of `strip` rows (default: about
    64k pixels) so that memory stays small on large photos. Equal, within one level,
    to F.interpolate + color.lab_to_rgb + round."""
    L, out, cols, r0, r1, rw = _prepare(L, ab_small, np.uint8)
    if out.size == 0:
        return out
    H, W = L.shape
    cols[0].mul_(1 / 500)    # a/500 and -b/200: added to fy they give fx and fz
    cols[1].mul_(-1 / 200)
    rw = rw[:, None]
    rows = _strip_rows(H, W, strip)
    Lt, lut, M = torch.from_numpy(L), _srgb8_lut(), _merge_matrix()
    c16 = torch.tensor(16 / 116)
    n = rows * W

    def buf(dtype=torch.float32):
        return torch.empty(3 * n, dtype=dtype)

    P0, P1, Fb, Hb, Qb, Db, Lb, Ib, Ob = buf(), buf(), buf(), buf(), buf(), buf(), buf(), buf(torch.int32), buf(torch.uint8)
    for y0 in range(0, H, rows):
        y1 = min(H, y0 + rows)
        k, m = y1 - y0, (y1 - y0) * W
        p0, p1 = P0[: 2 * m].view(2, k, W), P1[: 2 * m].view(2, k, W)
        f = Fb[: 3 * m].view(3, m)
        torch.index_select(cols, 1, r0[y0:y1], out=p0)
        torch.index_select(cols, 1, r1[y0:y1], out=p1)
        torch.lerp(p0, p1, rw[y0:y1], out=f[:2].view(2, k, W))          # a/500, -b/200
        torch.add(c16, Lt[y0:y1].reshape(m), alpha=1 / 116, out=f[2])   # fy
        f[:2].add_(f[2])                                                # fx, fz
        f[1].clamp_(min=0)     # as lab_to_rgb (and scikit-image): negative z is invalid
        h, q, d = Hb[: 3 * m].view(3, m), Qb[: 3 * m].view(3, m), Db[: 3 * m].view(3, m)
        torch.clamp(f, min=F_EPS, out=h)
        torch.mul(h, h, out=q)
        torch.sub(f, h, out=d)
        torch.addcmul(d, q, h, value=KAPPA, out=d)                     # kappa * finv(f)
        lin = Lb[: 3 * m].view(3, m)
        torch.mm(M, d, out=lin)                                          # linear RGB * N
        lin.clamp_(0, _LUT_N)
        idx = Ib[: 3 * m]
        idx.copy_(lin.view(-1))                                          # truncation
        o = Ob[: 3 * m]
        torch.index_select(lut, 0, idx, out=o)
        o = o.numpy().reshape(3, m)
        np.stack((o[0], o[1], o[2]), axis=-1, out=out[y0:y1].reshape(m, 3))
    return out


def upsample_ab(ab, size):
    """a,b (B, 2, h, w) -> (B, 2, *size), bilinear (align_corners=False) as merge_full_res
    upsamples, for callers that want a,b as a tensor (training validation, evaluation)."""
    if tuple(ab.shape[-2:]) == tuple(size):
        return ab
    return torch.nn.functional.interpolate(ab, size=tuple(size), mode="bilinear", align_corners=False)


def merge_full_res16(L, ab_small, strip=None):
    """As merge_full_res, into 16-bit sRGB (H, W, 3) uint16: L* kept at its full precision
    (a 16-bit input's), a,b upsampled the same way, Lab -> sRGB by lab.lab_to_rgb in float32
    and rounded to 16 bits (no table: 65536 levels). In strips of rows, as merge_full_res."""
    L, out, cols, r0, r1, rw = _prepare(L, ab_small, np.uint16)
    if out.size == 0:
        return out
    H, W = L.shape
    rows = _strip_rows(H, W, strip)
    Lt = torch.from_numpy(L)
    for y0 in range(0, H, rows):
        y1 = min(H, y0 + rows)
        ab = torch.lerp(cols[:, r0[y0:y1]], cols[:, r1[y0:y1]], rw[y0:y1, None])    # (2, k, W)
        rgb = lab_to_rgb(torch.cat([Lt[None, y0:y1], ab], 0))                      # (3, k, W) in [0, 1]
        out[y0:y1] = rgb.mul_(65535).round_().to(torch.int32).permute(1, 2, 0).numpy().astype(np.uint16)
    return out

#!/usr/bin/env python3
"""Genesis awareness model (SPEC sections 1-6), vectorised with NumPy and
SciPy's cKDTree: what a careful Python user would write.

Float32 where the Rust implementation uses f32 (positions, sensors, fused,
MLP), f64 where it uses f64 (background formula, neighbour means, window
statistics), so the two can be compared value by value (cross_check.py).

    python genesis_numpy.py --agents 10000 --frames 200 --dump state.csv
"""

import argparse
import json
import math
import sys
import time

import numpy as np
from scipy.spatial import cKDTree

F = np.float32
U64 = np.uint64
MASK = (1 << 64) - 1


def splitmix64(z):
    """SPEC 2 on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        z = z + U64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
        return z ^ (z >> U64(31))


def unit(h):
    return (h >> U64(40)).astype(F) * F(2.0**-24)


def spawn(seed, k):
    base = splitmix64(np.array([seed ^ 0x5350415700000000], dtype=U64))[0]
    return splitmix64(np.asarray(k, dtype=U64) ^ base)


class Model:
    def __init__(self, agents, seed=42, width=1000.0, height=1000.0, raster=256, radius=10.0, k=16,
                 window=64, z=4.0, noise=0.05, dt=1.0 / 60.0, top_speed=30.0):
        self.n, self.seed = agents, seed
        self.w, self.h, self.g = F(width), F(height), raster
        self.r, self.k, self.win, self.zt = F(radius), k, window, z
        self.sigma, self.dt, self.top = F(noise), F(dt), F(top_speed)
        ids = np.arange(agents, dtype=U64)
        self.ids = ids
        self.x = unit(spawn(seed, 2 * ids)) * self.w
        self.y = unit(spawn(seed, 2 * ids + U64(1))) * self.h
        self.theta = F(2 * math.pi) * unit(spawn(seed, (U64(1) << U64(32)) + ids))
        self.fused = np.zeros(agents, F)
        self.z = np.zeros(agents, F)
        self.flag = np.zeros(agents, bool)
        self.nbr_count = np.zeros(agents, np.int64)
        self.y_out = np.zeros((agents, 4), F)
        self.history = np.zeros((window, agents), F)
        self.filled = 0
        self.head = 0
        self.t = 0
        # Background raster B[c, gy, gx], computed in f64, stored f32.
        g = raster
        cx = (np.arange(g) + 0.5) * float(self.w) / g
        cy = (np.arange(g) + 0.5) * float(self.h) / g
        self.bg = np.empty((8, g, g), F)
        for c in range(8):
            kk = c + 1.0
            sx = np.sin(2 * math.pi * (kk * cx / float(self.w) + c / 8.0))
            cyv = np.cos(2 * math.pi * (kk * cy / float(self.h) + c / 16.0))
            self.bg[c] = (0.5 + 0.25 * cyv[:, None] * sx[None, :]).astype(F)
        # MLP weights (SPEC 4.4).
        n = np.arange(8 * 16 + 16 * 4, dtype=U64)
        u = 2.0 * unit(splitmix64(n ^ U64(0x4D4C500000000000))).astype(np.float64) - 1.0
        self.w1 = (u[:128] * math.sqrt(6.0 / 24.0)).astype(F).reshape(8, 16)
        self.w2 = (u[128:] * math.sqrt(6.0 / 20.0)).astype(F).reshape(16, 4)

    def events(self, t):
        """Default schedule: the event active at t, if any."""
        if t < 120 or (t - 120) % 300 >= 60:
            return []
        k = (t - 120) // 300
        salt = self.seed ^ 0x4556454E00000000
        h = splitmix64(np.array([salt ^ (2 * k), salt ^ (2 * k + 1)], dtype=U64))
        ex, ey = unit(h) * np.array([self.w, self.h], F)
        return [(ex, ey, F(50.0), k % 8, F(2.0))]

    def noise(self, t, channels):
        key = splitmix64((U64(self.seed) ^ (self.ids << U64(32))) ^ U64(t))
        with np.errstate(over="ignore"):
            return [F(2.0) * unit(splitmix64(key + U64(c))) - F(1.0) for c in channels]

    def neighbours(self):
        pts = np.stack([self.x, self.y], axis=1).astype(np.float64)
        tree = cKDTree(pts)
        m = min(self.k + 8, self.n)
        _, idx = tree.query(pts, k=m, distance_upper_bound=float(self.r) * 1.0001)
        idx = idx.reshape(self.n, m)
        valid = idx < self.n
        safe = np.where(valid, idx, 0)
        dx = self.x[safe] - self.x[:, None]
        dy = self.y[safe] - self.y[:, None]
        d2 = dx * dx + dy * dy
        own = safe == np.arange(self.n)[:, None]
        ok = valid & ~own & (d2 <= self.r * self.r)
        big = np.where(ok, d2, np.inf)
        order = np.lexsort((np.where(ok, safe, np.iinfo(np.int64).max), big), axis=1)[:, : self.k]
        chosen = np.take_along_axis(safe, order, 1)
        keep = np.take_along_axis(ok, order, 1)
        count = keep.sum(axis=1)
        prev = self.fused.astype(np.float64)[chosen]
        total = np.where(keep, prev, 0.0).sum(axis=1)
        mean = np.where(count > 0, total / np.maximum(count, 1), np.nan).astype(F)
        return count, mean

    def step(self):
        t = self.t
        count, nbr_mean = self.neighbours()
        if t == 0:
            nbr_mean[:] = np.nan
        self.nbr_count = count
        # Sensing.
        g = self.g
        u = np.clip(self.x / self.w * F(g) - F(0.5), F(0), F(g - 1))
        v = np.clip(self.y / self.h * F(g) - F(0.5), F(0), F(g - 1))
        i0, j0 = u.astype(np.int64), v.astype(np.int64)
        fu, fv = u - i0.astype(F), v - j0.astype(F)
        i1, j1 = np.minimum(i0 + 1, g - 1), np.minimum(j0 + 1, g - 1)
        w00, w10 = (F(1) - fu) * (F(1) - fv), fu * (F(1) - fv)
        w01, w11 = (F(1) - fu) * fv, fu * fv
        s = np.empty((self.n, 8), F)
        noise = self.noise(t, range(9))
        events = self.events(t)
        for c in range(8):
            b = self.bg[c]
            val = w00 * b[j0, i0] + w10 * b[j0, i1] + w01 * b[j1, i0] + w11 * b[j1, i1]
            for ex, ey, er, ec, em in events:
                if ec == c:
                    dx, dy = self.x - ex, self.y - ey
                    val = val + em * np.maximum(F(0), F(1) - (dx * dx + dy * dy) / (er * er))
            s[:, c] = val + self.sigma * noise[c]
        # Fusion.
        raw = np.zeros(self.n, F)
        for c in range(8):
            raw = raw + F(0.125) * s[:, c]
        defined = ~np.isnan(nbr_mean)
        self.fused = np.where(defined, F(0.75) * raw + F(0.25) * np.nan_to_num(nbr_mean), raw).astype(F)
        # MLP.
        h = F(1) / (F(1) + np.exp(-(s @ self.w1)))
        y = F(1) / (F(1) + np.exp(-(h @ self.w2)))
        self.y_out = y.astype(F)
        # Anomaly: statistics of the window (before appending).
        x64 = self.fused.astype(np.float64)
        if self.filled == self.win:
            hist = self.history.astype(np.float64)
            m = hist.sum(axis=0) / self.win
            sd = np.sqrt(np.maximum(0.0, (hist * hist).sum(axis=0) / self.win - m * m))
            z = np.abs(x64 - m) / np.maximum(0.001, sd)
            self.z, self.flag = z.astype(F), z > self.zt
        else:
            self.z, self.flag = np.zeros(self.n, F), np.zeros(self.n, bool)
        self.history[self.head] = self.fused
        self.head = (self.head + 1) % self.win
        self.filled = min(self.filled + 1, self.win)
        # Movement.
        tau, pi = F(2 * math.pi), F(math.pi)
        wrap = lambda a: a - tau * np.floor((a + pi) / tau)
        th = wrap(self.theta + F(0.5) * (F(2) * y[:, 2] - F(1)) + F(0.3) * noise[8])
        speed = self.top * y[:, 3]
        x = self.x + speed * np.cos(th) * self.dt
        yy = self.y + speed * np.sin(th) * self.dt
        lo, hi = x < 0, x > self.w
        x = np.where(lo, -x, np.where(hi, F(2) * self.w - x, x))
        th = np.where(lo | hi, pi - th, th)
        lo, hi = yy < 0, yy > self.h
        yy = np.where(lo, -yy, np.where(hi, F(2) * self.h - yy, yy))
        th = np.where(lo | hi, -th, th)
        self.x, self.y, self.theta = x.astype(F), yy.astype(F), wrap(th).astype(F)
        self.t += 1

    def dump(self, path):
        with open(path, "w") as f:
            f.write("id,x,y,heading,fused,z,anomaly,nbr_count,y0,y1,y2,y3\n")
            for i in range(self.n):
                y = self.y_out[i]
                v = [float(a) for a in (self.x[i], self.y[i], self.theta[i], self.fused[i], self.z[i])]
                f.write(f"{i},{v[0]!r},{v[1]!r},{v[2]!r},{v[3]!r},{v[4]!r},{int(self.flag[i])},{int(self.nbr_count[i])},"
                        + ",".join(repr(float(c)) for c in y) + "\n")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=10000)
    p.add_argument("--frames", type=int, default=100)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dump")
    p.add_argument("--json", action="store_true", help="print timing as JSON")
    a = p.parse_args()
    model = Model(a.agents, a.seed)
    start = time.perf_counter()
    for _ in range(a.frames):
        model.step()
    wall = time.perf_counter() - start
    if a.dump:
        model.dump(a.dump)
    result = {"impl": "numpy", "agents": a.agents, "frames": a.frames, "seconds": wall, "hz": a.frames / wall}
    print(json.dumps(result) if a.json else f"numpy: {a.agents} agents, {a.frames} frames in {wall:.2f} s ({a.frames / wall:.1f} Hz)")


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Genesis awareness model (SPEC sections 1-6) in plain Python: one agent
at a time, as a Python prototype would be written (a dict-of-cells grid for
neighbours, lists for windows). Python floats are f64, so values differ
from the f32 implementations in the last digits; it is here for timing.

    python genesis_loops.py --agents 1000 --frames 50 --dump state.csv
"""

import argparse
import json
import math
import sys
import time

M = (1 << 64) - 1


def splitmix64(z):
    z = (z + 0x9E3779B97F4A7C15) & M
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M
    return z ^ (z >> 31)


def unit(h):
    return (h >> 40) * 2.0**-24


def run(n, frames, seed=42, W=1000.0, H=1000.0, G=256, R=10.0, K=16, WIN=64, ZT=4.0, SIGMA=0.05, DT=1 / 60, TOP=30.0):
    base = splitmix64(seed ^ 0x5350415700000000)
    spawn = lambda k: splitmix64(base ^ k)
    xs = [unit(spawn(2 * i)) * W for i in range(n)]
    ys = [unit(spawn(2 * i + 1)) * H for i in range(n)]
    th = [2 * math.pi * unit(spawn((1 << 32) + i)) for i in range(n)]
    fused = [0.0] * n
    windows = [[] for _ in range(n)]
    z = [0.0] * n
    flag = [False] * n
    counts = [0] * n
    outs = [[0.0] * 4 for _ in range(n)]
    bg = [[[0.5 + 0.25 * math.sin(2 * math.pi * ((c + 1) * (gx + 0.5) / G + c / 8))
            * math.cos(2 * math.pi * ((c + 1) * (gy + 0.5) / G + c / 16)) for gx in range(G)] for gy in range(G)]
          for c in range(8)]
    w = [(2 * unit(splitmix64(0x4D4C500000000000 ^ k)) - 1) for k in range(8 * 16 + 16 * 4)]
    w1 = [[w[r * 16 + c] * math.sqrt(6 / 24) for c in range(16)] for r in range(8)]
    w2 = [[w[128 + r * 4 + c] * math.sqrt(6 / 20) for c in range(4)] for r in range(16)]
    sig = lambda v: 1 / (1 + math.exp(-v))
    for t in range(frames):
        events = []
        if t >= 120 and (t - 120) % 300 < 60:
            k = (t - 120) // 300
            salt = seed ^ 0x4556454E00000000
            events.append((unit(splitmix64(salt ^ (2 * k))) * W, unit(splitmix64(salt ^ (2 * k + 1))) * H, 50.0, k % 8, 2.0))
        grid = {}
        for i in range(n):
            grid.setdefault((int(xs[i] // R), int(ys[i] // R)), []).append(i)
        previous = fused[:]
        for i in range(n):
            x, y = xs[i], ys[i]
            cx, cy = int(x // R), int(y // R)
            cands = []
            for gx in (cx - 1, cx, cx + 1):
                for gy in (cy - 1, cy, cy + 1):
                    for j in grid.get((gx, gy), ()):
                        if j != i:
                            d2 = (xs[j] - x) ** 2 + (ys[j] - y) ** 2
                            if d2 <= R * R:
                                cands.append((d2, j))
            cands.sort()
            cands = cands[:K]
            counts[i] = len(cands)
            nbr_mean = sum(previous[j] for _, j in cands) / len(cands) if cands and t > 0 else None
            u = min(max(x / W * G - 0.5, 0), G - 1)
            v = min(max(y / H * G - 0.5, 0), G - 1)
            i0, j0 = int(u), int(v)
            i1, j1 = min(i0 + 1, G - 1), min(j0 + 1, G - 1)
            fu, fv = u - i0, v - j0
            key = splitmix64(seed ^ (i << 32) ^ t)
            s = []
            for c in range(8):
                b = bg[c]
                val = (1 - fu) * (1 - fv) * b[j0][i0] + fu * (1 - fv) * b[j0][i1] + (1 - fu) * fv * b[j1][i0] + fu * fv * b[j1][i1]
                for ex, ey, er, ec, em in events:
                    if ec == c:
                        val += em * max(0.0, 1 - ((x - ex) ** 2 + (y - ey) ** 2) / (er * er))
                s.append(val + SIGMA * (2 * unit(splitmix64((key + c) & M)) - 1))
            raw = sum(s) / 8
            fused[i] = 0.75 * raw + 0.25 * nbr_mean if nbr_mean is not None else raw
            h = [sig(sum(s[r] * w1[r][c] for r in range(8))) for c in range(16)]
            out = [sig(sum(h[r] * w2[r][c] for r in range(16))) for c in range(4)]
            outs[i] = out
            win = windows[i]
            if len(win) == WIN:
                m = sum(win) / WIN
                sd = math.sqrt(max(0.0, sum(q * q for q in win) / WIN - m * m))
                z[i] = abs(fused[i] - m) / max(0.001, sd)
                flag[i] = z[i] > ZT
                win.pop(0)
            win.append(fused[i])
            wrap = lambda a: a - 2 * math.pi * math.floor((a + math.pi) / (2 * math.pi))
            a = wrap(th[i] + 0.5 * (2 * out[2] - 1) + 0.3 * (2 * unit(splitmix64((key + 8) & M)) - 1))
            speed = TOP * out[3]
            x, y = x + speed * math.cos(a) * DT, y + speed * math.sin(a) * DT
            if x < 0:
                x, a = -x, math.pi - a
            elif x > W:
                x, a = 2 * W - x, math.pi - a
            if y < 0:
                y, a = -y, -a
            elif y > H:
                y, a = 2 * H - y, -a
            xs[i], ys[i], th[i] = x, y, wrap(a)
    return xs, ys, th, fused, z, flag, counts, outs


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--agents", type=int, default=1000)
    p.add_argument("--frames", type=int, default=50)
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--dump")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    start = time.perf_counter()
    xs, ys, th, fused, z, flag, counts, outs = run(a.agents, a.frames, a.seed)
    wall = time.perf_counter() - start
    if a.dump:
        with open(a.dump, "w") as f:
            f.write("id,x,y,heading,fused,z,anomaly,nbr_count,y0,y1,y2,y3\n")
            for i in range(a.agents):
                f.write(f"{i},{xs[i]!r},{ys[i]!r},{th[i]!r},{fused[i]!r},{z[i]!r},{int(flag[i])},{counts[i]},"
                        + ",".join(repr(v) for v in outs[i]) + "\n")
    result = {"impl": "loops", "agents": a.agents, "frames": a.frames, "seconds": wall, "hz": a.frames / wall}
    print(json.dumps(result) if a.json else f"loops: {a.agents} agents, {a.frames} frames in {wall:.2f} s ({a.frames / wall:.2f} Hz)")


if __name__ == "__main__":
    sys.exit(main())

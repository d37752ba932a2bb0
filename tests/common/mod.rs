//! A second, deliberately plain implementation of SPEC sections 1–4 for the
//! tests to compare against: one agent at a time, brute-force O(n²)
//! neighbours, the background formula evaluated on the fly, a scalar MLP,
//! and a `Vec` per agent for the anomaly window with two-pass statistics.
//! It shares only the counter-based hash functions (tested on their own
//! against SPEC section 8) and the weight values with the crate.

#![allow(dead_code)]

use std::f32::consts::{PI, TAU};

use genesis::rng::{noise, splitmix64, unit};
use genesis::sim::{Mlp, ModelConfig};

#[derive(Clone, Debug)]
pub struct RefAgent {
    pub id: u32,
    pub x: f32,
    pub y: f32,
    pub heading: f32,
    pub fused: f32,
    pub z: f32,
    pub anomaly: bool,
    pub nbr_count: u32,
    pub y_out: [f32; 4],
    pub window: Vec<f32>,
}

pub struct Reference {
    pub config: ModelConfig,
    pub agents: Vec<RefAgent>,
    pub frame: u64,
    w1: Vec<Vec<f32>>,
    w2: Vec<Vec<f32>>,
    raster: Vec<f32>,
}

impl Reference {
    pub fn new(config: ModelConfig, n: u32) -> Self {
        let spawn = |k: u64| splitmix64(splitmix64(config.seed ^ 0x5350_4157_0000_0000) ^ k);
        let agents = (0..n)
            .map(|id| RefAgent {
                id,
                x: unit(spawn(2 * id as u64)) * config.width,
                y: unit(spawn(2 * id as u64 + 1)) * config.height,
                heading: TAU * unit(spawn((1u64 << 32) + id as u64)),
                fused: 0.0,
                z: 0.0,
                anomaly: false,
                nbr_count: 0,
                y_out: [0.0; 4],
                window: Vec::new(),
            })
            .collect();
        let mlp = Mlp::default_for(&config);
        let w1 = mlp.w1.rows().into_iter().map(|r| r.to_vec()).collect();
        let w2 = mlp.w2.rows().into_iter().map(|r| r.to_vec()).collect();
        let g = config.raster;
        let mut raster = vec![0.0; 8 * g * g];
        for c in 0..8 {
            for gy in 0..g {
                for gx in 0..g {
                    let (w, h) = (config.width as f64, config.height as f64);
                    let cx = (gx as f64 + 0.5) * w / g as f64;
                    let cy = (gy as f64 + 0.5) * h / g as f64;
                    let k = c as f64 + 1.0;
                    let v = 0.5
                        + 0.25
                            * (std::f64::consts::TAU * (k * cx / w + c as f64 / 8.0)).sin()
                            * (std::f64::consts::TAU * (k * cy / h + c as f64 / 16.0)).cos();
                    raster[(c * g + gx) * g + gy] = v as f32;
                }
            }
        }
        Self { config, agents, frame: 0, w1, w2, raster }
    }

    /// Default events active at frame t.
    fn events(&self, t: u64) -> Vec<(f32, f32, usize)> {
        let mut out = Vec::new();
        for k in 0..=(t / 300) {
            let start = 300 * k + 120;
            if start <= t && t < start + 60 {
                let salt = self.config.seed ^ 0x4556_454E_0000_0000;
                out.push((
                    unit(splitmix64(salt ^ (2 * k))) * self.config.width,
                    unit(splitmix64(salt ^ (2 * k + 1))) * self.config.height,
                    (k % 8) as usize,
                ));
            }
        }
        out
    }

    pub fn step(&mut self) {
        let t = self.frame;
        let cfg = self.config.clone();
        let seed = cfg.seed;
        let previous: Vec<f32> = self.agents.iter().map(|a| a.fused).collect();
        let events = self.events(t);
        let snapshot = self.agents.clone();
        for a in self.agents.iter_mut() {
            // 1. Neighbours, brute force.
            let mut cands: Vec<(f32, u32, usize)> = snapshot
                .iter()
                .enumerate()
                .filter(|(_, b)| b.id != a.id)
                .map(|(j, b)| {
                    let (dx, dy) = (b.x - a.x, b.y - a.y);
                    (dx * dx + dy * dy, b.id, j)
                })
                .filter(|c| c.0 <= cfg.radius * cfg.radius)
                .collect();
            cands.sort_by(|p, q| (p.0, p.1).partial_cmp(&(q.0, q.1)).unwrap());
            cands.truncate(cfg.neighbours);
            a.nbr_count = cands.len() as u32;
            let nbr_mean = (t > 0 && !cands.is_empty())
                .then(|| (cands.iter().map(|c| previous[c.2] as f64).sum::<f64>() / cands.len() as f64) as f32);
            // 2. Sensing.
            let mut s = [0f32; 8];
            for (c, sc) in s.iter_mut().enumerate() {
                let mut f = 0.0;
                for &(ex, ey, ec) in &events {
                    if ec == c {
                        let (dx, dy) = (a.x - ex, a.y - ey);
                        f += 2.0 * (1.0 - (dx * dx + dy * dy) / (50.0 * 50.0)).max(0.0);
                    }
                }
                *sc = self_background(&self.raster, &cfg, c, a.x, a.y) + f + cfg.noise * noise(seed, a.id, t, c as u64);
            }
            // 3. Fusion.
            let raw = s.iter().fold(0.0f32, |acc, &v| acc + 0.125 * v);
            a.fused = match nbr_mean {
                Some(m) => 0.75 * raw + 0.25 * m,
                None => raw,
            };
            // 4. MLP, scalar.
            let sig = |v: f32| 1.0 / (1.0 + (-v).exp());
            let h: Vec<f32> = (0..16).map(|j| sig((0..8).map(|i| s[i] * self.w1[i][j]).sum::<f32>())).collect();
            for o in 0..4 {
                a.y_out[o] = sig((0..16).map(|j| h[j] * self.w2[j][o]).sum::<f32>());
            }
            // 5. Anomaly, two-pass over the window.
            if a.window.len() == cfg.window {
                let n = a.window.len() as f64;
                let m = a.window.iter().map(|&v| v as f64).sum::<f64>() / n;
                let sd = (a.window.iter().map(|&v| (v as f64 - m).powi(2)).sum::<f64>() / n).sqrt();
                let z = (a.fused as f64 - m).abs() / sd.max(0.001);
                a.z = z as f32;
                a.anomaly = z > cfg.z_threshold as f64;
                a.window.remove(0);
            } else {
                a.z = 0.0;
                a.anomaly = false;
            }
            a.window.push(a.fused);
            // 6. Movement.
            let wrap = |th: f32| th - TAU * ((th + PI) / TAU).floor();
            let mut th = wrap(a.heading + 0.5 * (2.0 * a.y_out[2] - 1.0) + 0.3 * noise(seed, a.id, t, 8));
            let speed = cfg.top_speed * a.y_out[3];
            let (mut x, mut y) = (a.x + speed * th.cos() * cfg.dt, a.y + speed * th.sin() * cfg.dt);
            if x < 0.0 {
                x = -x;
                th = PI - th;
            } else if x > cfg.width {
                x = 2.0 * cfg.width - x;
                th = PI - th;
            }
            if y < 0.0 {
                y = -y;
                th = -th;
            } else if y > cfg.height {
                y = 2.0 * cfg.height - y;
                th = -th;
            }
            (a.x, a.y, a.heading) = (x, y, wrap(th));
        }
        self.frame += 1;
    }
}

fn self_background(raster: &[f32], cfg: &ModelConfig, c: usize, x: f32, y: f32) -> f32 {
    let g = cfg.raster;
    let b = |i: usize, j: usize| raster[(c * g + i) * g + j];
    let u = (x / cfg.width * g as f32 - 0.5).clamp(0.0, (g - 1) as f32);
    let v = (y / cfg.height * g as f32 - 0.5).clamp(0.0, (g - 1) as f32);
    let (i0, j0) = (u.floor() as usize, v.floor() as usize);
    let (i1, j1) = ((i0 + 1).min(g - 1), (j0 + 1).min(g - 1));
    let (fu, fv) = (u - i0 as f32, v - j0 as f32);
    (1.0 - fu) * (1.0 - fv) * b(i0, j0)
        + fu * (1.0 - fv) * b(i1, j0)
        + (1.0 - fu) * fv * b(i0, j1)
        + fu * fv * b(i1, j1)
}

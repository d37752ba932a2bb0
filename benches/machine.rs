//! `cargo bench --bench machine`: what this machine can do at most, the
//! ceilings `docs/performance.md` measures the stages against.
//!
//! - **Memory**: reading, writing and copying buffers far bigger than the
//!   last-level cache, on one thread and on every core. Stores are plain
//!   ones (the processor reads each line before writing it, as the
//!   stages' stores do), not the streaming stores `memset` would use, and
//!   the figures count the bytes the program asks for, not those reads.
//! - **Arithmetic**: `f32` multiply-adds from independent chains, in the
//!   widest registers the processor has (AVX-512: 16 lanes, else AVX2's 8,
//!   else SSE's 4), on one thread and on every core.
//!
//! Every figure is the best of five passes. `GENESIS_BENCH_MIB` sets each
//! buffer's size (default 256 MiB; two are allocated).

use std::hint::black_box;
use std::time::Instant;

/// Passes per figure, of which the best is kept.
const PASSES: usize = 5;

fn main() {
    let mib: usize = std::env::var("GENESIS_BENCH_MIB").map_or(256, |s| s.parse().expect("GENESIS_BENCH_MIB: MiB"));
    let words = mib << 18; // u32 words
    let all = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut a: Vec<u32> = (0..words as u32).collect();
    let mut b: Vec<u32> = vec![1; words];
    let bytes = (words * 4) as f64;

    println!("memory, {mib} MiB buffers (GB/s: bytes read + bytes written by the program, per second)");
    println!("{:>8} {:>9} {:>9} {:>9} {:>9}", "threads", "read", "write", "copy", "update");
    for threads in thread_counts(all) {
        let read = best(|| {
            let sums = split(&mut a, threads, |part| part.iter().fold(0u32, |s, &x| s.wrapping_add(x)));
            black_box(sums);
        });
        let write = best(|| {
            split(&mut a, threads, |part| {
                for (i, x) in part.iter_mut().enumerate() {
                    *x = i as u32;
                }
            });
        });
        // Not `copy_from_slice`: `memcpy` switches to streaming stores on big
        // buffers, which no stage uses.
        let copy = best(|| {
            split_pair(&mut a, &b, threads, |dst, src| {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = s ^ 1;
                }
            })
        });
        // A stage's shape: read two columns, write one of them back.
        let update = best(|| {
            split_pair(&mut a, &b, threads, |dst, src| {
                for (d, &s) in dst.iter_mut().zip(src) {
                    *d = d.wrapping_mul(3).wrapping_add(s);
                }
            })
        });
        b[0] = black_box(b[0]);
        let gbs = |seconds: f64, passes: f64| passes * bytes / seconds / 1e9;
        println!(
            "{threads:>8} {:>9.1} {:>9.1} {:>9.1} {:>9.1}",
            gbs(read, 1.0),
            gbs(write, 1.0),
            gbs(copy, 2.0),
            gbs(update, 3.0)
        );
    }

    let (isa, lanes) = fma::widest();
    println!("arithmetic, {isa} ({lanes} lanes of f32), 16 independent multiply-add chains");
    println!("{:>8} {:>12}", "threads", "GFLOP/s");
    let iterations = 20_000_000usize;
    for threads in thread_counts(all) {
        let seconds = best(|| {
            std::thread::scope(|s| {
                for _ in 0..threads {
                    s.spawn(|| black_box(fma::run(black_box(iterations))));
                }
            });
        });
        // 16 chains, `lanes` lanes, 2 flops a multiply-add.
        let flops = (threads * iterations * 16 * lanes * 2) as f64;
        println!("{threads:>8} {:>12.1}", flops / seconds / 1e9);
    }
}

/// One thread, then every core (once, if that is one).
fn thread_counts(all: usize) -> Vec<usize> {
    if all > 1 { vec![1, all] } else { vec![1] }
}

/// The least time `pass` takes in [`PASSES`] runs, after one untimed run.
fn best(mut pass: impl FnMut()) -> f64 {
    pass();
    (0..PASSES)
        .map(|_| {
            let start = Instant::now();
            pass();
            start.elapsed().as_secs_f64()
        })
        .fold(f64::INFINITY, f64::min)
}

/// `work` on `threads` equal parts of `data` at once.
fn split<R: Send>(data: &mut [u32], threads: usize, work: impl Fn(&mut [u32]) -> R + Sync) -> Vec<R> {
    let size = data.len().div_ceil(threads);
    std::thread::scope(|s| {
        let handles: Vec<_> = data.chunks_mut(size).map(|part| s.spawn(|| work(part))).collect();
        handles.into_iter().map(|h| h.join().expect("bench thread")).collect()
    })
}

/// `work` on `threads` equal parts of `dst` and the matching parts of `src`.
fn split_pair(dst: &mut [u32], src: &[u32], threads: usize, work: impl Fn(&mut [u32], &[u32]) + Sync) {
    let size = dst.len().div_ceil(threads);
    std::thread::scope(|s| {
        for (d, r) in dst.chunks_mut(size).zip(src.chunks(size)) {
            s.spawn(|| work(d, r));
        }
    });
}

/// Multiply-add throughput in the widest registers there are.
mod fma {
    /// The widest instruction set with `f32` multiply-adds, and its lanes.
    pub fn widest() -> (&'static str, usize) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                return ("AVX-512", 16);
            }
            if std::arch::is_x86_feature_detected!("fma") {
                return ("AVX2 + FMA", 8);
            }
        }
        ("baseline (no fused multiply-add: a multiply and an add)", 4)
    }

    /// `iterations` rounds of 16 independent multiply-adds (enough chains
    /// to cover their latency); returns something that depends on them.
    pub fn run(iterations: usize) -> f32 {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the processor has AVX-512F, checked just above.
                return unsafe { x86::avx512(iterations) };
            }
            if std::arch::is_x86_feature_detected!("fma") {
                // SAFETY: the processor has AVX2 and FMA, checked above.
                return unsafe { x86::avx2(iterations) };
            }
        }
        let mut acc = [1.0f32; 64];
        for _ in 0..iterations {
            for x in acc.iter_mut() {
                *x = *x * 0.999_999 + 1e-7;
            }
        }
        acc.iter().sum()
    }

    #[cfg(target_arch = "x86_64")]
    mod x86 {
        use std::arch::x86_64::*;

        #[target_feature(enable = "avx512f")]
        pub unsafe fn avx512(iterations: usize) -> f32 {
            let (m, c) = (_mm512_set1_ps(0.999_999), _mm512_set1_ps(1e-7));
            let mut acc = [_mm512_set1_ps(1.0); 16];
            for _ in 0..iterations {
                for x in acc.iter_mut() {
                    *x = _mm512_fmadd_ps(*x, m, c);
                }
            }
            acc.iter().map(|&x| _mm512_reduce_add_ps(x)).sum()
        }

        #[target_feature(enable = "avx2,fma")]
        pub unsafe fn avx2(iterations: usize) -> f32 {
            let (m, c) = (_mm256_set1_ps(0.999_999), _mm256_set1_ps(1e-7));
            let mut acc = [_mm256_set1_ps(1.0); 16];
            for _ in 0..iterations {
                for x in acc.iter_mut() {
                    *x = _mm256_fmadd_ps(*x, m, c);
                }
            }
            let mut lanes = [0.0f32; 8];
            acc.iter()
                .map(|&x| {
                    // SAFETY: an 8-lane store into an 8-element array.
                    unsafe { _mm256_storeu_ps(lanes.as_mut_ptr(), x) };
                    lanes.iter().sum::<f32>()
                })
                .sum()
        }
    }
}

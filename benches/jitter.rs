//! `cargo bench --bench jitter`: how steady this machine is, and what
//! handing work to a second thread costs on it, with work shaped like a
//! frame (issue 23: two threads gave 1.37× and p99 2.4 × p50 on one host,
//! 1.9× and ≤ 1.5 on another).
//!
//! Every figure is over `GENESIS_JITTER_REPS` repetitions (default 2,000)
//! of a fixed piece of work of about a frame's length:
//!
//! - **alone**: one thread, arithmetic only (no memory traffic): the
//!   host's own noise floor. Nothing a program does can be steadier.
//! - **both at once**: the same on each core at the same time, without
//!   synchronisation: whether the cores slow each other down (shared
//!   physical core, shared power budget, a busy neighbour).
//! - **memory alone / both**: a pass over 6 MiB (a 10k-agent world's state),
//!   the same two ways.
//! - **split**: the work cut into 12 parallel loops of 10 pieces with a
//!   sequential gap between loops, as a frame's stages are, on the
//!   simulation's pool (the calling thread is a worker, as in `genesis
//!   bench`), split as rayon splits by itself (into a few tasks of
//!   several pieces, split further only when stolen), and one piece a task
//!   (`with_max_len(1)`), and with the other workers kept awake (polling
//!   for jobs) for a whole block of frames. Speed-up is the one-thread p50
//!   over theirs.
//!
//! - **interruptions**: each core spins reading the clock for two seconds
//!   (both at once) and counts the gaps between reads longer than 10 µs:
//!   times the thread did not run (interrupts, the hypervisor running
//!   something else on that core). A frame that meets one waits for it.
//!
//! Each line: p50, p90, p99, p99/p50 and max, in µs, and the share of
//! repetitions that took more than 1.5 × p50.

use std::hint::black_box;
use std::time::Instant;

use genesis::sim::parallel::ComputePool;
use rayon::prelude::*;

/// Arithmetic with no memory traffic: four independent multiply chains.
#[inline(never)]
fn crunch(iterations: u64) -> u64 {
    let (mut a, mut b, mut c, mut d) = (1u64, 2u64, 3u64, 4u64);
    for i in 0..iterations {
        a = a.wrapping_mul(6364136223846793005).wrapping_add(i);
        b = b.wrapping_mul(1442695040888963407).wrapping_add(i);
        c = c.wrapping_mul(2862933555777941757).wrapping_add(i);
        d = d.wrapping_mul(3202034522624059733).wrapping_add(i);
    }
    a ^ b ^ c ^ d
}

/// A pass over `data`: read and write each word.
#[inline(never)]
fn stream(data: &mut [u64]) {
    for x in data.iter_mut() {
        *x = x.wrapping_mul(3).wrapping_add(1);
    }
}

/// p50, p99, p99/p50 and max of `ns`, in µs.
fn line(name: &str, mut ns: Vec<u64>) -> f64 {
    ns.sort_unstable();
    let at = |q: f64| ns[((ns.len() - 1) as f64 * q).round() as usize] as f64 / 1e3;
    let (p50, p99) = (at(0.5), at(0.99));
    let slow = ns.iter().filter(|&&t| t as f64 / 1e3 > 1.5 * p50).count() as f64 / ns.len() as f64;
    println!(
        "{name:<34} {p50:>9.1} {:>9.1} {p99:>9.1} {:>8.2} {:>9.1} {:>7.1}%",
        at(0.9),
        p99 / p50,
        at(1.0),
        100.0 * slow
    );
    p50
}

fn timed(reps: usize, mut work: impl FnMut()) -> Vec<u64> {
    (0..reps)
        .map(|_| {
            let t = Instant::now();
            work();
            t.elapsed().as_nanos() as u64
        })
        .collect()
}

/// Runs `work` `reps` times on every one of `threads` threads at once;
/// the times of the first.
fn at_once(threads: usize, reps: usize, work: impl Fn() + Sync) -> Vec<u64> {
    std::thread::scope(|s| {
        let others: Vec<_> = (1..threads).map(|_| s.spawn(|| timed(reps, &work))).collect();
        let first = timed(reps, &work);
        for o in others {
            o.join().unwrap();
        }
        first
    })
}

/// Spins for `seconds` reading the clock; the gaps over 10 µs, in ns.
fn gaps(seconds: f64) -> Vec<u64> {
    let start = Instant::now();
    let (mut last, mut found) = (0u64, Vec::new());
    loop {
        let now = start.elapsed().as_nanos() as u64;
        if now - last > 10_000 {
            found.push(now - last);
        }
        last = now;
        if now as f64 > seconds * 1e9 {
            return found;
        }
    }
}

fn main() {
    let reps: usize = std::env::var("GENESIS_JITTER_REPS").map_or(2000, |s| s.parse().expect("reps"));
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // About 700 µs of arithmetic, a 10k-agent frame on one thread.
    let per_ms = {
        let t = Instant::now();
        black_box(crunch(black_box(1_000_000)));
        1_000_000.0 / (t.elapsed().as_secs_f64() * 1e3)
    };
    let iterations = (0.7 * per_ms) as u64;
    println!("{cores} cores, {reps} repetitions of ~700 µs");
    println!(
        "{:<34} {:>9} {:>9} {:>9} {:>8} {:>9} {:>8}",
        "", "p50 µs", "p90 µs", "p99 µs", "p99/p50", "max µs", "> 1.5×"
    );

    line(
        "arithmetic, alone",
        timed(reps, || {
            black_box(crunch(black_box(iterations)));
        }),
    );
    if cores > 1 {
        line(
            &format!("arithmetic, {cores} threads at once"),
            at_once(cores, reps, || {
                black_box(crunch(black_box(iterations)));
            }),
        );
    }
    let words = 6 << 17;
    let mut data = vec![1u64; words];
    line("memory 6 MiB, alone", timed(reps, || stream(black_box(&mut data))));
    if cores > 1 {
        line(
            &format!("memory 6 MiB, {cores} threads at once"),
            at_once(cores, reps, || stream(black_box(&mut vec![1u64; words]))),
        );
    }

    let per_core: Vec<Vec<u64>> = std::thread::scope(|s| {
        (0..cores).map(|_| s.spawn(|| gaps(2.0))).collect::<Vec<_>>().into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (core, g) in per_core.iter().enumerate() {
        let lost: u64 = g.iter().sum();
        let over = |us: u64| g.iter().filter(|&&t| t > us * 1000).count();
        println!(
            "interruptions, thread {core}: {} in 2 s over 10 µs ({} over 100 µs, {} over 1 ms), longest {:.0} µs, {:.2}% of the time",
            g.len(),
            over(100),
            over(1000),
            g.iter().max().copied().unwrap_or(0) as f64 / 1e3,
            lost as f64 / 2e9 * 100.0
        );
    }

    // A frame's shape: 12 loops of 10 pieces, 5 µs of sequential work
    // before each; rayon's own splitting (a few pieces a task), or one
    // piece a task.
    let piece = iterations / 120;
    let gap = (0.005 * per_ms) as u64;
    let frame = |max_len: usize| {
        for _ in 0..12 {
            black_box(crunch(black_box(gap)));
            (0..10).into_par_iter().with_max_len(max_len).for_each(|_| {
                black_box(crunch(black_box(piece)));
            });
        }
    };
    // The variants interleaved in blocks of 50 frames run back to back, a
    // block of each in turn, so that all see the same minutes of the host
    // (its speed drifts by half from one minute to the next). The calling
    // thread joins the pool, as in `genesis bench`.
    let names = [
        "split, 1 thread".to_string(),
        format!("split, {cores} threads"),
        format!("split, {cores} threads, a piece a task"),
        format!("split, {cores} threads, hot workers"),
    ];
    let times = std::thread::scope(|s| {
        s.spawn(|| {
            let (alone, pool) = (ComputePool::new(1), ComputePool::joined_by_caller(cores));
            let mut times: [Vec<u64>; 4] = Default::default();
            for _ in 0..reps.div_ceil(50) {
                times[0].extend(alone.install(|| timed(50, || frame(usize::MAX))));
                times[1].extend(pool.install(|| timed(50, || frame(usize::MAX))));
                times[2].extend(pool.install(|| timed(50, || frame(1))));
                times[3].extend(pool.install(|| hot(|| timed(50, || frame(usize::MAX)))));
            }
            times
        })
        .join()
        .unwrap()
    });
    let p50: Vec<f64> = names.iter().zip(times).map(|(name, t)| line(name, t)).collect();
    println!(
        "speed-up over 1 thread: {:.2}× (rayon's splitting), {:.2}× (a piece a task), {:.2}× (hot workers)",
        p50[0] / p50[1],
        p50[0] / p50[2],
        p50[0] / p50[3]
    );
}

/// Runs `work` (on a worker of a pool) with the pool's other workers kept
/// awake until it returns: each polls for jobs (`rayon::yield_now`) and
/// spins between them instead of sleeping.
fn hot<R>(work: impl FnOnce() -> R) -> R {
    let owner = rayon::current_thread_index();
    let done = std::sync::atomic::AtomicBool::new(false);
    rayon::in_place_scope(|scope| {
        for _ in 1..rayon::current_num_threads() {
            scope.spawn(|_| {
                // The owner may pick this up while it waits on a loop of
                // `work`; it must not stay in it.
                if rayon::current_thread_index() == owner {
                    return;
                }
                while !done.load(std::sync::atomic::Ordering::Acquire) {
                    if rayon::yield_now() != Some(rayon::Yield::Executed) {
                        std::hint::spin_loop();
                    }
                }
            });
        }
        let result = work();
        done.store(true, std::sync::atomic::Ordering::Release);
        result
    })
}

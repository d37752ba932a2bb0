//! The thread pool the stages share, and the fixed chunking that keeps
//! results independent of its size.
//!
//! Stages split their agents into chunks of [`CHUNK`] agents, a size that
//! depends on nothing but the agent count; a pool of one thread and a pool
//! of sixteen do the same arithmetic on the same chunks, so results are
//! bit-identical (SPEC 2). The pool is a resource, not rayon's global pool,
//! so two simulations with different thread counts can live in one process
//! (the determinism test does exactly that).
//!
//! [`vectorised`] runs a chunk's loop compiled for AVX-512 or AVX2 where
//! the processor has them: the build targets baseline x86-64 (SSE2's 4
//! lanes), and the loops the compiler vectorises get two or four times the
//! width. Same operations in the same order (Rust never fuses a multiply
//! and an add by itself), so the results do not depend on which build ran;
//! the tests compare every build the processor has ([`Isa::available`]).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use bevy::prelude::*;

/// Agents per parallel work item: big enough to amortise scheduling
/// (a few µs), small enough to balance 10,000 agents over a few cores.
pub const CHUNK: usize = 1024;

/// A parallel loop over chunks, split down to one chunk a task.
///
/// Rayon splits a loop into about as many tasks as there are threads and
/// splits a task again only when another thread steals it. A loop of 10
/// chunks on 2 threads became tasks of 2 or 3 chunks; when the other
/// worker came late (asleep, or its virtual CPU not running), the thread
/// that started the loop ran most of it itself: with frame-shaped work on
/// the 2-vCPU machine, a sixth to a quarter of the frames ran at one
/// thread's speed, and once all of them (`benches/jitter.rs`;
/// `docs/performance.md`, "Jitter and two-thread scaling"). One chunk a
/// task leaves something to steal until the last chunk. Which thread runs
/// a chunk changes; what a chunk computes does not, so results are the
/// same bits.
pub trait TaskPerChunk: rayon::iter::IndexedParallelIterator {
    fn task_per_chunk(self) -> rayon::iter::MaxLen<Self> {
        self.with_max_len(1)
    }
}

impl<I: rayon::iter::IndexedParallelIterator> TaskPerChunk for I {}

/// Why `contiguous_iter_mut` cannot fail on agent queries: every agent
/// component uses table storage (the default), so agents are dense.
pub const TABLES: &str = "agent components use table storage";

/// The simulation's worker threads.
#[derive(Resource, Clone)]
pub struct ComputePool {
    pool: Arc<rayon::ThreadPool>,
}

impl ComputePool {
    /// A pool of `threads` workers (0 means one per available core).
    pub fn new(threads: usize) -> Self {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("genesis-sim-{i}"))
            .build()
            .expect("the OS refused to start the simulation's worker threads");
        Self { pool: Arc::new(pool) }
    }

    /// A pool of `threads` workers (0: one per core) of which the calling
    /// thread is one: rayon's `use_current_thread`. Where the thread is a
    /// worker of some pool already, or the pool cannot be built so, the
    /// pool of [`Self::new`] instead.
    ///
    /// A stage's parallel loop then starts on the thread that runs the
    /// schedule, which works on it, rather than being handed to the pool
    /// while that thread sleeps until it is done; the other worker also
    /// finds work sooner. Measured on the 2-core machine, alternating, the
    /// benchmark at 10k agents: 2,168–2,857 → 2,886–3,018 Hz (movement
    /// 25–27 → 16.5 µs, anomaly 42 → 36); 1k 10.4k → 17.2k Hz; 100k the
    /// same. Rayon keeps the thread in the pool for the rest of its life
    /// (the other workers stop when the pool is dropped; rayon work the
    /// thread starts afterwards runs on it alone), so this is for a thread
    /// that runs one simulation: the command-line benchmark's.
    pub fn joined_by_caller(threads: usize) -> Self {
        if rayon::current_thread_index().is_some() {
            return Self::new(threads);
        }
        rayon::ThreadPoolBuilder::new()
            .use_current_thread()
            .num_threads(threads)
            .thread_name(|i| format!("genesis-sim-{i}"))
            .build()
            .map_or_else(|_| Self::new(threads), |pool| Self { pool: Arc::new(pool) })
    }

    /// Number of worker threads.
    pub fn threads(&self) -> usize {
        self.pool.current_num_threads()
    }

    /// Runs `work` inside the pool, so rayon's parallel iterators use it.
    pub fn install<R: Send>(&self, work: impl FnOnce() -> R + Send) -> R {
        self.pool.install(work)
    }
}

impl Default for ComputePool {
    fn default() -> Self {
        Self::new(0)
    }
}

/// The instruction sets [`vectorised`] compiles a loop for, narrowest
/// first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Isa {
    /// As built: baseline x86-64 (SSE2), or the target's own.
    Baseline,
    /// AVX2: 8 lanes of `f32`.
    Avx2,
    /// AVX-512 F, DQ, VL and BW: 16 lanes of `f32`, and 64-bit multiplies
    /// in vectors (the noise hashes).
    Avx512,
}

impl Isa {
    /// Whether this processor has it.
    pub fn is_available(self) -> bool {
        match self {
            Isa::Baseline => true,
            #[cfg(target_arch = "x86_64")]
            Isa::Avx2 => std::arch::is_x86_feature_detected!("avx2"),
            #[cfg(target_arch = "x86_64")]
            Isa::Avx512 => {
                std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512dq")
                    && std::arch::is_x86_feature_detected!("avx512vl")
                    && std::arch::is_x86_feature_detected!("avx512bw")
            }
            #[cfg(not(target_arch = "x86_64"))]
            _ => false,
        }
    }

    /// Its name in reports: `baseline`, `avx2` or `avx512`.
    pub fn name(self) -> &'static str {
        match self {
            Isa::Baseline => "baseline",
            Isa::Avx2 => "avx2",
            Isa::Avx512 => "avx512",
        }
    }

    /// The widest this processor has, within the [`Isa::limit`].
    pub fn best() -> Self {
        let limit = Isa::limit();
        [Isa::Avx512, Isa::Avx2].into_iter().find(|isa| *isa <= limit && isa.is_available()).unwrap_or(Isa::Baseline)
    }

    /// Narrows every loop of this process to `isa` at most (`--isa`), so
    /// builds can be compared on one machine; the results are the same
    /// bits on every build. Call it before the first frame. An instruction
    /// set the processor lacks is refused.
    pub fn set_limit(isa: Isa) -> Result<(), String> {
        if !isa.is_available() {
            let have: Vec<&str> = Isa::available().iter().map(|i| i.name()).collect();
            return Err(format!("--isa {}: this processor lacks it (it has {})", isa.name(), have.join(", ")));
        }
        LIMIT.store(isa as u8, Ordering::Relaxed);
        Ok(())
    }

    /// The widest set loops may use: what [`Isa::set_limit`] set, else the
    /// environment's `GENESIS_ISA` (for `cargo bench` and Python), else
    /// no limit.
    pub fn limit() -> Isa {
        match LIMIT.load(Ordering::Relaxed) {
            UNSET => {
                let from_env = std::env::var("GENESIS_ISA").ok().and_then(|v| v.parse::<Isa>().ok());
                let limit = from_env.filter(|isa| isa.is_available()).unwrap_or(Isa::Avx512);
                LIMIT.store(limit as u8, Ordering::Relaxed);
                limit
            }
            0 => Isa::Baseline,
            1 => Isa::Avx2,
            _ => Isa::Avx512,
        }
    }

    /// Every one this processor has, baseline first (for the tests that
    /// check they all give the same bits).
    pub fn available() -> Vec<Self> {
        [Isa::Baseline, Isa::Avx2, Isa::Avx512].into_iter().filter(|isa| isa.is_available()).collect()
    }
}

impl std::str::FromStr for Isa {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "baseline" => Ok(Isa::Baseline),
            "avx2" => Ok(Isa::Avx2),
            "avx512" => Ok(Isa::Avx512),
            _ => Err(format!("{s:?}: expected baseline, avx2 or avx512")),
        }
    }
}

/// [`Isa::limit`] as its discriminant, or [`UNSET`] before the first look.
static LIMIT: AtomicU8 = AtomicU8::new(UNSET);
const UNSET: u8 = u8::MAX;

/// Runs `work` compiled for the widest instruction set the processor has
/// ([`Isa::best`]).
///
/// The closure is inlined into a `#[target_feature]` function, so its
/// loops are code-generated for that set there. Mark the closure
/// `#[inline(always)]`, and the functions its loop calls too: a call the
/// compiler leaves out of line runs the baseline build. The feature test
/// is a cached flag.
#[inline]
pub fn vectorised<R>(work: impl FnOnce() -> R) -> R {
    vectorised_for(Isa::best(), work)
}

/// [`vectorised`] for a given instruction set.
///
/// # Panics
/// If the processor lacks `isa`.
#[inline]
pub fn vectorised_for<R>(isa: Isa, work: impl FnOnce() -> R) -> R {
    assert!(isa.is_available(), "this processor lacks {isa:?}");
    #[cfg(target_arch = "x86_64")]
    {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(work: impl FnOnce() -> R) -> R {
            work()
        }
        #[target_feature(enable = "avx512f,avx512dq,avx512vl,avx512bw")]
        fn avx512<R>(work: impl FnOnce() -> R) -> R {
            work()
        }
        match isa {
            Isa::Baseline => work(),
            // SAFETY: the processor has it, checked just above.
            Isa::Avx2 => unsafe { avx2(work) },
            // SAFETY: as above.
            Isa::Avx512 => unsafe { avx512(work) },
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    work()
}

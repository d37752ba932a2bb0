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
//! [`vectorised`] runs a chunk's loop compiled for AVX2 where the processor
//! has it: the build targets baseline x86-64 (SSE2's 4 lanes), and the
//! loops the compiler vectorises get twice the width. Same operations in
//! the same order (Rust never fuses a multiply and an add by itself), so
//! the results do not depend on which build ran.

use std::sync::Arc;

use bevy::prelude::*;

/// Agents per parallel work item: big enough to amortise scheduling
/// (a few µs), small enough to balance 10,000 agents over a few cores.
pub const CHUNK: usize = 1024;

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

/// Runs `work` compiled for AVX2 where the processor has it, else as built.
///
/// The closure is inlined into a `#[target_feature(enable = "avx2")]`
/// function, so its loops are code-generated for AVX2 there. Mark the
/// closure `#[inline(always)]`, and the functions its loop calls too: a
/// call the compiler leaves out of line runs the baseline build. The
/// feature test is a cached flag.
#[inline]
pub fn vectorised<R>(work: impl FnOnce() -> R) -> R {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        #[target_feature(enable = "avx2")]
        fn avx2<R>(work: impl FnOnce() -> R) -> R {
            work()
        }
        // SAFETY: the processor has AVX2, checked just above.
        return unsafe { avx2(work) };
    }
    work()
}

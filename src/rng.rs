//! Counter-based random numbers (SPEC section 2).
//!
//! Every random number in Genesis is a pure function of `(seed, what, ids)`:
//! there is no generator state to share between threads, so a stage can run
//! its agents in any order, on any number of threads, and still produce the
//! same bits. Each function here is one line of the specification.

/// One step of SplitMix64 (wrapping `u64` arithmetic throughout).
#[inline(always)]
pub const fn splitmix64(z: u64) -> u64 {
    let z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    let z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The top 24 bits of a hash as an `f32` in `[0, 1)`; exact, since 24 bits
/// fit the `f32` significand.
#[inline(always)]
pub fn unit(h: u64) -> f32 {
    (h >> 40) as f32 * (1.0 / 16_777_216.0)
}

/// Salt of the agent-spawning stream ("SPAW").
const SPAWN_SALT: u64 = 0x5350_4157_0000_0000;
/// Salt of the default event schedule ("EVEN").
pub(crate) const EVENT_SALT: u64 = 0x4556_454E_0000_0000;
/// Salt of the default MLP weights ("MLP").
pub(crate) const MLP_SALT: u64 = 0x4D4C_5000_0000_0000;

/// `spawn(k)`: the hash behind generated agents' positions and headings.
#[inline]
pub fn spawn(seed: u64, k: u64) -> u64 {
    splitmix64(splitmix64(seed ^ SPAWN_SALT) ^ k)
}

/// The per-agent, per-frame part of [`noise`]; compute it once per agent and
/// frame and feed it to [`noise_from`] for each channel.
#[inline(always)]
pub fn noise_key(seed: u64, id: u32, frame: u64) -> u64 {
    splitmix64(seed ^ ((id as u64) << 32) ^ frame)
}

/// `noise` for one channel, given [`noise_key`]: uniform in `[-1, 1)`.
#[inline(always)]
pub fn noise_from(key: u64, channel: u64) -> f32 {
    2.0 * unit(splitmix64(key.wrapping_add(channel))) - 1.0
}

/// `noise(i, t, c)`: uniform in `[-1, 1)`. Channels 0–7 are the sensors,
/// channel 8 the movement jitter.
#[inline]
pub fn noise(seed: u64, id: u32, frame: u64, channel: u64) -> f32 {
    noise_from(noise_key(seed, id, frame), channel)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// SPEC section 8, first line.
    #[test]
    fn splitmix64_matches_the_published_values() {
        assert_eq!(splitmix64(0), 0xE220_A839_7B1D_CDAF);
        assert_eq!(splitmix64(42), 0xBDD7_3226_2FEB_6E95);
    }

    /// SPEC section 8: `noise(0, 0, c)` for `c = 0..8` with seed 42.
    #[test]
    fn noise_matches_the_published_values() {
        let expected = [
            -0.313_416_24,
            0.955_553_53,
            -0.106_824_28,
            -0.171_124_70,
            0.140_561_82,
            0.637_449_26,
            0.844_784_26,
            0.985_811_23,
            0.904_916_29,
        ];
        for (c, want) in expected.iter().enumerate() {
            let got = noise(42, 0, 0, c as u64);
            assert!((got - want).abs() < 1e-6, "channel {c}: {got} vs {want}");
        }
    }

    #[test]
    fn unit_is_exact_and_in_range() {
        assert_eq!(unit(0), 0.0);
        assert_eq!(unit(u64::MAX), 1.0 - 2f32.powi(-24));
        assert_eq!(unit(1 << 40), 2f32.powi(-24));
    }
}

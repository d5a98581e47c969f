//! Deterministic randomness: the same seed and key always give the same stream, on every
//! platform and Rust version (FNV-1a keying, ChaCha8 streams, integer-only sampling).

use rand::{RngCore, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// A stable 64-bit hash of a seed and key parts (FNV-1a, then a SplitMix64 finalizer).
pub fn stable_hash(seed: u64, parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325 ^ seed;
    for part in parts {
        for b in part.iter().chain(std::iter::once(&0xffu8)) {
            h ^= u64::from(*b);
            h = h.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    splitmix(h)
}

fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A random stream keyed by the seed and the parts.
pub fn stream(seed: u64, parts: &[&[u8]]) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(stable_hash(seed, parts))
}

/// An approximately standard normal draw, scaled by 1000 (Irwin–Hall with four uniforms).
/// Integer-only so that results never depend on floating-point libraries.
pub fn normal_milli(rng: &mut ChaCha8Rng) -> i64 {
    // Four signed 16-bit uniforms from one 64-bit draw (no modulo bias). Each has variance
    // 65536²/12; the sum has a standard deviation of 65536·√(4/12) = 37837.6. Rescale to 1000.
    let x = rng.next_u64();
    let sum: i64 = (0..4).map(|i| i64::from((x >> (16 * i)) as u16 as i16)).sum();
    sum * 1000 / 37_838
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn streams_are_reproducible_and_keyed() {
        let a: Vec<i64> = (0..5).map({
            let mut r = stream(7, &[b"IBM"]);
            move |_| normal_milli(&mut r)
        }).collect();
        let b: Vec<i64> = (0..5).map({
            let mut r = stream(7, &[b"IBM"]);
            move |_| normal_milli(&mut r)
        }).collect();
        let c: Vec<i64> = (0..5).map({
            let mut r = stream(7, &[b"MSFT"]);
            move |_| normal_milli(&mut r)
        }).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_ne!(stable_hash(1, &[b"AB", b"C"]), stable_hash(1, &[b"A", b"BC"]));
    }

    #[test]
    fn normal_draws_are_centred() {
        let mut r = stream(1, &[b"x"]);
        let n = 20_000;
        let draws: Vec<i64> = (0..n).map(|_| normal_milli(&mut r)).collect();
        let mean = draws.iter().sum::<i64>() / n;
        let var = draws.iter().map(|d| (d - mean) * (d - mean)).sum::<i64>() / n;
        assert!(mean.abs() < 40, "mean {mean}");
        assert!((850_000..1_150_000).contains(&var), "variance {var}");
    }
}

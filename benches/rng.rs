//! SplitMix64: deterministic bench input without a dependency (shared by the benches through
//! `#[path]`).

/// A SplitMix64 generator.
pub struct Rng(pub u64);

#[allow(dead_code)] // each bench uses what it needs
impl Rng {
    /// The next 64 pseudo-random bits.
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number below `n` (not quite uniform; good enough for bench input).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

//! Decoder throughput benchmarks (filled in as decoders land).
fn main() {}

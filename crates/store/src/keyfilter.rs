//! Which document keys a rebuild may hold: a Bloom filter that grows with the keys it is given.
//!
//! A replay's projectors ask for documents that do not exist yet about once per event (a new
//! order, a new customer), and each such question was an index probe into the target: at 1M
//! events the probes land on random pages of an index larger than the page cache, and with the
//! rebuild's rows written by a thread of their own, every probe also waits for that thread's
//! lock. A rebuild knows every key it wrote; a key this filter has never seen is certainly
//! absent, and only a key it may have seen (every key written, and about 1% of the others) is
//! looked up. A false answer can only cost a lookup, never change a result.
//!
//! Layers of doubling size (a scalable Bloom filter): each takes keys until it holds its
//! capacity at a 1% false-positive rate, then a layer twice as large takes the next ones, so the
//! memory is about 1.2 bytes per key whatever the number of keys (2.6 MiB for 2.2 million).

use std::hash::BuildHasher;

/// Bits per key at the design rate (k = 7 probes, about 1% false positives).
const BITS_PER_KEY: u64 = 10;
const PROBES: u64 = 7;
/// The first layer's bits (128 KiB).
const FIRST_LAYER_BITS: u64 = 1 << 20;

struct Layer {
    words: Vec<u64>,
    /// `bits - 1`; the number of bits is a power of two.
    mask: u64,
    keys: u64,
    capacity: u64,
}

impl Layer {
    fn new(bits: u64) -> Layer {
        Layer {
            words: vec![0; (bits / 64) as usize],
            mask: bits - 1,
            keys: 0,
            capacity: bits / BITS_PER_KEY,
        }
    }

    /// The bit positions of a key's hash: double hashing on its two halves.
    fn positions(&self, hash: u64) -> impl Iterator<Item = u64> + '_ {
        let (h1, h2) = (hash & 0xffff_ffff, (hash >> 32) | 1);
        (0..PROBES).map(move |i| h1.wrapping_add(i.wrapping_mul(h2)) & self.mask)
    }

    fn contains(&self, hash: u64) -> bool {
        self.positions(hash)
            .all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    fn insert(&mut self, hash: u64) {
        let bits: Vec<u64> = self.positions(hash).collect();
        for bit in bits {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
        self.keys += 1;
    }
}

/// A set of `(kind, key)` pairs that may answer "maybe" for a pair never inserted, and never
/// answers "no" for one that was.
pub(crate) struct KeyFilter {
    hasher: foldhash::fast::RandomState,
    layers: Vec<Layer>,
}

impl Default for KeyFilter {
    fn default() -> Self {
        KeyFilter {
            hasher: foldhash::fast::RandomState::default(),
            layers: vec![Layer::new(FIRST_LAYER_BITS)],
        }
    }
}

impl KeyFilter {
    fn hash(&self, kind: &str, key: &str) -> u64 {
        self.hasher.hash_one((kind, key))
    }

    /// False only when `(kind, key)` was never inserted.
    pub(crate) fn may_contain(&self, kind: &str, key: &str) -> bool {
        let hash = self.hash(kind, key);
        self.layers.iter().any(|layer| layer.contains(hash))
    }

    pub(crate) fn insert(&mut self, kind: &str, key: &str) {
        let hash = self.hash(kind, key);
        if self.layers.iter().any(|layer| layer.contains(hash)) {
            return;
        }
        let full = self
            .layers
            .last()
            .is_none_or(|layer| layer.keys >= layer.capacity);
        if full {
            let bits = self
                .layers
                .last()
                .map_or(FIRST_LAYER_BITS, |layer| (layer.mask + 1) * 2);
            self.layers.push(Layer::new(bits));
        }
        if let Some(layer) = self.layers.last_mut() {
            layer.insert(hash);
        }
    }

    /// Bytes of bits held.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.layers.iter().map(|layer| layer.words.len() * 8).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_inserted_key_is_found_and_few_others_are() {
        let mut filter = KeyFilter::default();
        let n = 400_000u64;
        for i in 0..n {
            filter.insert("order", &format!("key-{i}"));
        }
        for i in 0..n {
            assert!(filter.may_contain("order", &format!("key-{i}")), "key-{i}");
        }
        let false_positives = (0..n)
            .filter(|i| filter.may_contain("order", &format!("other-{i}")))
            .count() as f64;
        assert!(
            false_positives / (n as f64) < 0.03,
            "{false_positives} of {n} absent keys looked present"
        );
        // The kind is part of the key.
        let other_kind = (0..10_000u64)
            .filter(|i| filter.may_contain("customer", &format!("key-{i}")))
            .count();
        assert!(other_kind < 300, "{other_kind}");
        assert!(filter.layers.len() > 1, "it grew");
        assert!(filter.bytes() < 1 << 20, "{} bytes", filter.bytes());
    }

    #[test]
    fn a_key_inserted_twice_counts_once() {
        let mut filter = KeyFilter::default();
        for _ in 0..1000 {
            filter.insert("order", "same");
        }
        assert_eq!(filter.layers[0].keys, 1);
    }
}

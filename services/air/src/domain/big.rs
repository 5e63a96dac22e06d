//! Just enough unsigned big-integer arithmetic for the exact NowCast mean.
//!
//! NowCast weighs each hour by a ratio of two concentrations raised to a power of up to 11.
//! Kept as exact fractions, those weights outgrow `u128`, and only multiplication, addition and comparison are needed.
//! A few lines here avoid both a dependency and the floating-point rounding that would break truncation at the breakpoints.

use std::cmp::Ordering;

/// An unsigned integer of any size, stored as little-endian base-2³² limbs without high zero limbs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct BigUint {
    limbs: Vec<u32>,
}

impl BigUint {
    /// Converts a machine integer.
    pub(crate) fn from_u128(mut value: u128) -> Self {
        let mut limbs = Vec::new();
        while value != 0 {
            limbs.push((value & 0xFFFF_FFFF) as u32);
            value >>= 32;
        }
        Self { limbs }
    }

    /// The product of two numbers (schoolbook multiplication; the numbers here have at most a few dozen limbs).
    pub(crate) fn mul(&self, other: &Self) -> Self {
        let mut out = vec![0_u32; self.limbs.len() + other.limbs.len()];
        for (i, &x) in self.limbs.iter().enumerate() {
            let mut carry = 0_u64;
            for (j, &y) in other.limbs.iter().enumerate() {
                // (2³² − 1)² + 2 × (2³² − 1) = 2⁶⁴ − 1, so this never overflows.
                let cur = u64::from(out[i + j]) + u64::from(x) * u64::from(y) + carry;
                out[i + j] = (cur & 0xFFFF_FFFF) as u32;
                carry = cur >> 32;
            }
            // The full product fits in `out`, so the carry always finds a limb to land in.
            let mut k = i + other.limbs.len();
            while carry != 0 {
                let cur = u64::from(out[k]) + carry;
                out[k] = (cur & 0xFFFF_FFFF) as u32;
                carry = cur >> 32;
                k += 1;
            }
        }
        Self::normalised(out)
    }

    /// The sum of two numbers.
    pub(crate) fn add(&self, other: &Self) -> Self {
        let len = self.limbs.len().max(other.limbs.len());
        let mut out = Vec::with_capacity(len + 1);
        let mut carry = 0_u64;
        for i in 0..len {
            let a = u64::from(self.limbs.get(i).copied().unwrap_or(0));
            let b = u64::from(other.limbs.get(i).copied().unwrap_or(0));
            let cur = a + b + carry;
            out.push((cur & 0xFFFF_FFFF) as u32);
            carry = cur >> 32;
        }
        if carry != 0 {
            out.push(carry as u32);
        }
        Self::normalised(out)
    }

    fn normalised(mut limbs: Vec<u32>) -> Self {
        while limbs.last() == Some(&0) {
            limbs.pop();
        }
        Self { limbs }
    }
}

impl Ord for BigUint {
    fn cmp(&self, other: &Self) -> Ordering {
        // Without high zero limbs, the longer number is the larger one.
        self.limbs.len().cmp(&other.limbs.len()).then_with(|| self.limbs.iter().rev().cmp(other.limbs.iter().rev()))
    }
}

impl PartialOrd for BigUint {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn products_and_sums_that_fit_in_u128_match_machine_arithmetic() {
        let cases: [(u128, u128); 5] = [
            (0, 12345),
            (1, 1),
            (u64::MAX as u128, u64::MAX as u128),
            (123_456_789_012_345_678, 987_654_321),
            (0xFFFF_FFFF, 0x1_0000_0001),
        ];
        for (a, b) in cases {
            let (x, y) = (BigUint::from_u128(a), BigUint::from_u128(b));
            assert_eq!(x.mul(&y), BigUint::from_u128(a * b), "{a} × {b}");
            assert_eq!(x.add(&y), BigUint::from_u128(a + b), "{a} + {b}");
        }
    }

    #[test]
    fn comparison_orders_numbers_larger_than_u128_correctly() {
        let big = BigUint::from_u128(u128::MAX).mul(&BigUint::from_u128(3));
        let bigger = big.add(&BigUint::from_u128(1));
        assert!(big < bigger);
        assert!(BigUint::from_u128(u128::MAX) < big);
        assert_eq!(big.cmp(&big.clone()), Ordering::Equal);
        assert!(BigUint::from_u128(0) < BigUint::from_u128(1));
    }
}

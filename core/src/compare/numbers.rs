//! Python's arithmetic where a verdict's numbers depend on it: `int / int` is the
//! correctly rounded quotient (not the quotient of two rounded floats), `round(x)`
//! rounds half to even.

const EXACT: u128 = 1 << 53; // integers up to this are exact as f64

/// `a / b` as Python computes it for two ints: the exact quotient, rounded once to the
/// nearest double (ties to even). `b` must not be 0 (0.0 then: no caller divides by a
/// value that can be 0).
pub fn true_div(a: i128, b: i128) -> f64 {
    if b == 0 {
        return 0.0;
    }
    let negative = (a < 0) != (b < 0);
    let (n, d) = (a.unsigned_abs(), b.unsigned_abs());
    let magnitude = if n <= EXACT && d <= EXACT {
        n as f64 / d as f64 // both exact: IEEE division rounds once
    } else {
        scaled_quotient(n, d)
    };
    if negative {
        -magnitude
    } else {
        magnitude
    }
}

/// n / d for values past 2^53: the quotient scaled to at least 55 significant bits, its
/// lowest bit set when anything is left over (a sticky bit two places below where the
/// double rounds, so the one conversion to f64 rounds as the exact quotient would),
/// then scaled back by a power of two (exact).
fn scaled_quotient(n: u128, d: u128) -> f64 {
    let bits = |x: u128| 128 - x.leading_zeros() as i32;
    let shift = (55 + bits(d) - bits(n) + 1).max(0);
    if bits(n) + shift > 128 {
        return n as f64 / d as f64; // beyond any time or count the engine divides
    }
    let scaled = n << shift;
    let (q, r) = (scaled / d, scaled % d);
    let m = q | u128::from(r != 0);
    m as f64 * (-f64::from(shift)).exp2()
}

/// Python's `round(x)` of a float: the nearest integer, halves to even.
pub fn py_round(x: f64) -> i128 {
    x.round_ties_even() as i128
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_quotients_are_the_floats_quotient() {
        assert_eq!(true_div(1, 3), 1.0 / 3.0);
        assert_eq!(true_div(-7, 2), -3.5);
        assert_eq!(true_div(7, -2), -3.5);
        assert_eq!(true_div(0, 5), 0.0);
    }

    #[test]
    fn large_quotients_round_once() {
        // 2^53 + 1 is not a double: as f64 it rounds to 2^53 (ties to even), and
        // (2^53 + 1) / 1 must too; (2^54 + 3) / 2 = 2^53 + 1.5 rounds up to 2^53 + 2,
        // where dividing the rounded float (2^54 + 4) / 2 agrees only by luck.
        assert_eq!(true_div((1 << 53) + 1, 1), 9007199254740992.0);
        assert_eq!(true_div((1 << 54) + 3, 2), 9007199254740994.0);
        // 56 years of nanoseconds over a second: an unset clock against a set one.
        let ns: i128 = 1_767_225_600_123_456_789;
        assert_eq!(true_div(ns, 1_000_000_000), 1_767_225_600.123_456_7);
        // 3 (2^53 + 1) / 3 is a tie between 2^53 and 2^53 + 2: even, 2^53; dividing the
        // numerator rounded to f64 (up by 1) gives 2^53 + 2.
        let n: i128 = 3 * ((1 << 53) + 1);
        assert_eq!(true_div(n, 3), 9007199254740992.0);
        assert_eq!(n as f64 / 3.0, 9007199254740994.0);
    }

    #[test]
    fn round_is_half_to_even() {
        assert_eq!(py_round(0.5), 0);
        assert_eq!(py_round(1.5), 2);
        assert_eq!(py_round(2.5), 2);
        assert_eq!(py_round(-2.5), -2);
        assert_eq!(py_round(2.500_000_1), 3);
    }
}

//! Order statistics over latency samples.

/// The nearest-rank percentile `p` (0 < p <= 100) of `samples`, or `None` when there are none.
///
/// Nearest rank (rather than interpolation) so that a reported p99 is always a latency some instance
/// really had.
#[must_use]
pub fn percentile(samples: &[f64], p: f64) -> Option<f64> {
    if samples.is_empty() || !(p > 0.0 && p <= 100.0) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted.get(rank.clamp(1, sorted.len()) - 1).copied()
}

/// `candidate / baseline`, or `None` when the baseline is zero (a ratio would be meaningless).
#[must_use]
pub fn ratio(candidate: f64, baseline: f64) -> Option<f64> {
    (baseline != 0.0).then(|| candidate / baseline)
}

/// Rounds to three decimals so reports do not carry float noise such as `0.30000000000000004`.
#[must_use]
pub fn round3(value: f64) -> f64 {
    (value * 1000.0).round() / 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let samples: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(percentile(&samples, 50.0), Some(50.0));
        assert_eq!(percentile(&samples, 99.0), Some(99.0));
        assert_eq!(percentile(&samples, 100.0), Some(100.0));
        assert_eq!(percentile(&[3.0], 99.0), Some(3.0));
        assert_eq!(percentile(&[2.0, 1.0], 50.0), Some(1.0));
    }

    #[test]
    fn percentile_rejects_empty_and_out_of_range() {
        assert_eq!(percentile(&[], 50.0), None);
        assert_eq!(percentile(&[1.0], 0.0), None);
        assert_eq!(percentile(&[1.0], 101.0), None);
    }

    #[test]
    fn ratio_and_rounding() {
        assert_eq!(ratio(1.0, 4.0), Some(0.25));
        assert_eq!(ratio(1.0, 0.0), None);
        assert_eq!(round3(0.1 + 0.2), 0.3);
        assert_eq!(round3(2.0 / 3.0), 0.667);
    }
}

//! Retries of failed instance reconciles, as upstream's dynamic controller queue does them: the
//! larger of a per-instance exponential backoff (`--dynamic-controller-rate-limiter-min-delay` to
//! `-max-delay`) and the wait for a token of one bucket shared by every instance queue
//! (`--dynamic-controller-rate-limiter-rate-limit` per second, `-burst-limit` at once), and at most
//! `--dynamic-controller-default-queue-max-retries` retries before the instance waits for its next
//! change. Only error requeues go through this; event-driven reconciles are never limited.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use super::config::ControllersConfig;

/// A token bucket that always grants, answering how long the caller has to wait for its token
/// (Go's `rate.Limiter.Reserve().Delay()`): the bucket refills at `rate` tokens per second up to
/// `burst`, and a reservation beyond the tokens left takes one from the future.
#[derive(Debug)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    state: Mutex<BucketState>,
}

#[derive(Debug)]
struct BucketState {
    tokens: f64,
    updated: Instant,
}

impl TokenBucket {
    /// A full bucket of `burst` tokens refilled at `rate` per second (both at least 1).
    #[must_use]
    pub fn new(rate: u32, burst: u32, now: Instant) -> Self {
        let burst = f64::from(burst.max(1));
        Self {
            rate: f64::from(rate.max(1)),
            burst,
            state: Mutex::new(BucketState {
                tokens: burst,
                updated: now,
            }),
        }
    }

    /// Takes one token at `now` and returns how long to wait until it is due.
    pub fn reserve(&self, now: Instant) -> Duration {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let elapsed = now.saturating_duration_since(state.updated).as_secs_f64();
        state.tokens = (state.tokens + elapsed * self.rate).min(self.burst);
        state.updated = state.updated.max(now);
        state.tokens -= 1.0;
        if state.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-state.tokens / self.rate)
        }
    }
}

/// What to do with an instance whose reconcile failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryDecision {
    /// Reconcile it again after this delay.
    Requeue(Duration),
    /// Out of retries: forget its failures and wait for its next change (upstream drops the item
    /// from the queue; its next watch event or resync adds it again).
    GiveUp,
}

/// The retry settings and the token bucket shared by every instance queue.
#[derive(Debug)]
pub struct RetryPolicy {
    min_delay: Duration,
    max_delay: Duration,
    max_retries: u32,
    bucket: TokenBucket,
}

impl RetryPolicy {
    /// The policy of the controllers' settings.
    #[must_use]
    pub fn from_config(config: &ControllersConfig) -> Self {
        Self {
            min_delay: config.dynamic_controller_rate_limiter_min_delay,
            max_delay: config.dynamic_controller_rate_limiter_max_delay,
            max_retries: config.dynamic_controller_default_queue_max_retries,
            bucket: TokenBucket::new(
                config.dynamic_controller_rate_limiter_rate_limit,
                config.dynamic_controller_rate_limiter_burst_limit,
                Instant::now(),
            ),
        }
    }

    /// The decision after the `failures`-th failure in a row (counting from 1) at `now`.
    pub fn on_failure(&self, failures: u32, now: Instant) -> RetryDecision {
        // Upstream compares the requeues so far, one fewer than the failures, with the limit.
        if failures.saturating_sub(1) >= self.max_retries {
            return RetryDecision::GiveUp;
        }
        let backoff = backoff_delay(self.min_delay, self.max_delay, failures);
        RetryDecision::Requeue(backoff.max(self.bucket.reserve(now)))
    }
}

/// `min * 2^(attempts-1)`, capped at `max`.
#[must_use]
pub fn backoff_delay(min: Duration, max: Duration, attempts: u32) -> Duration {
    let factor = 2_u32.saturating_pow(attempts.saturating_sub(1).min(30));
    min.saturating_mul(factor).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(value: u64) -> Duration {
        Duration::from_millis(value)
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let (min, max) = (ms(200), Duration::from_secs(1000));
        assert_eq!(backoff_delay(min, max, 1), min);
        assert_eq!(backoff_delay(min, max, 2), ms(400));
        assert_eq!(backoff_delay(min, max, 10), ms(102_400));
        assert_eq!(backoff_delay(min, max, 20), max);
        assert_eq!(backoff_delay(min, max, u32::MAX), max);
    }

    #[test]
    fn the_bucket_grants_the_burst_then_paces_at_the_rate() {
        let start = Instant::now();
        let bucket = TokenBucket::new(10, 3, start);
        for _ in 0..3 {
            assert_eq!(bucket.reserve(start), Duration::ZERO);
        }
        assert_eq!(bucket.reserve(start), ms(100));
        assert_eq!(bucket.reserve(start), ms(200));
        // Half a second later five tokens came back, two of them owed already.
        assert_eq!(bucket.reserve(start + ms(500)), Duration::ZERO);
        let refilled = start + Duration::from_secs(60);
        for _ in 0..3 {
            assert_eq!(bucket.reserve(refilled), Duration::ZERO);
        }
        assert_eq!(bucket.reserve(refilled), ms(100));
    }

    fn policy(max_retries: u32, rate: u32, burst: u32, now: Instant) -> RetryPolicy {
        RetryPolicy {
            min_delay: ms(200),
            max_delay: Duration::from_secs(1000),
            max_retries,
            bucket: TokenBucket::new(rate, burst, now),
        }
    }

    #[test]
    fn retries_stop_after_the_limit() {
        let now = Instant::now();
        let policy = policy(2, 100, 100, now);
        assert_eq!(policy.on_failure(1, now), RetryDecision::Requeue(ms(200)));
        assert_eq!(policy.on_failure(2, now), RetryDecision::Requeue(ms(400)));
        assert_eq!(policy.on_failure(3, now), RetryDecision::GiveUp);
        let never = self::policy(0, 100, 100, now);
        assert_eq!(never.on_failure(1, now), RetryDecision::GiveUp);
    }

    #[test]
    fn the_delay_is_the_larger_of_backoff_and_bucket() {
        let now = Instant::now();
        let policy = policy(20, 1, 1, now);
        assert_eq!(policy.on_failure(1, now), RetryDecision::Requeue(ms(200)));
        // The bucket is empty: the next token is a second away, more than the backoff.
        assert_eq!(
            policy.on_failure(1, now),
            RetryDecision::Requeue(Duration::from_secs(1))
        );
    }
}

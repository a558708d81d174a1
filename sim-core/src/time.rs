//! Simulated time: integer nanoseconds, never floats, never the wall clock.

use std::fmt;
use std::ops::{Add, AddAssign, Sub};

/// An instant on the simulation's virtual clock, in nanoseconds since the run began.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimTime(u64);

/// A span of simulated time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct SimDuration(u64);

const NANOS_PER_MICRO: u64 = 1_000;
const NANOS_PER_MILLI: u64 = 1_000_000;
const NANOS_PER_SEC: u64 = 1_000_000_000;

impl SimTime {
    pub const ZERO: SimTime = SimTime(0);
    pub const MAX: SimTime = SimTime(u64::MAX);

    #[inline]
    pub const fn from_nanos(nanos: u64) -> SimTime {
        SimTime(nanos)
    }
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub const fn since_start(self) -> SimDuration {
        SimDuration(self.0)
    }
    /// Time elapsed from `earlier` to `self`; zero if `earlier` is later.
    #[inline]
    pub fn saturating_since(self, earlier: SimTime) -> SimDuration {
        SimDuration(self.0.saturating_sub(earlier.0))
    }
    /// For reports only: never feed the result back into behaviour.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }
}

impl SimDuration {
    pub const ZERO: SimDuration = SimDuration(0);
    pub const MAX: SimDuration = SimDuration(u64::MAX);

    #[inline]
    pub const fn from_nanos(nanos: u64) -> SimDuration {
        SimDuration(nanos)
    }
    #[inline]
    pub const fn from_micros(micros: u64) -> SimDuration {
        SimDuration(micros * NANOS_PER_MICRO)
    }
    #[inline]
    pub const fn from_millis(millis: u64) -> SimDuration {
        SimDuration(millis * NANOS_PER_MILLI)
    }
    #[inline]
    pub const fn from_secs(secs: u64) -> SimDuration {
        SimDuration(secs * NANOS_PER_SEC)
    }
    pub const fn from_mins(mins: u64) -> SimDuration {
        SimDuration(mins * 60 * NANOS_PER_SEC)
    }
    #[inline]
    pub const fn as_nanos(self) -> u64 {
        self.0
    }
    pub const fn as_millis(self) -> u64 {
        self.0 / NANOS_PER_MILLI
    }
    /// Whole seconds, truncated.
    pub const fn as_secs(self) -> u64 {
        self.0 / NANOS_PER_SEC
    }
    /// For reports only: never feed the result back into behaviour.
    pub fn as_secs_f64(self) -> f64 {
        self.0 as f64 / NANOS_PER_SEC as f64
    }
    pub const fn saturating_mul(self, factor: u64) -> SimDuration {
        SimDuration(self.0.saturating_mul(factor))
    }
    pub fn min(self, other: SimDuration) -> SimDuration {
        if self.0 <= other.0 { self } else { other }
    }
}

impl Add<SimDuration> for SimTime {
    type Output = SimTime;
    #[inline]
    fn add(self, rhs: SimDuration) -> SimTime {
        SimTime(self.0.checked_add(rhs.0).expect("simulated time overflow"))
    }
}

impl AddAssign<SimDuration> for SimTime {
    fn add_assign(&mut self, rhs: SimDuration) {
        *self = *self + rhs;
    }
}

impl Add for SimDuration {
    type Output = SimDuration;
    fn add(self, rhs: SimDuration) -> SimDuration {
        SimDuration(self.0.saturating_add(rhs.0))
    }
}

impl Sub for SimTime {
    type Output = SimDuration;
    fn sub(self, rhs: SimTime) -> SimDuration {
        assert!(
            self.0 >= rhs.0,
            "negative simulated duration: {self} - {rhs}"
        );
        SimDuration(self.0 - rhs.0)
    }
}

/// Seconds with millisecond precision: `12.345s`.
impl fmt::Display for SimTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let millis = self.0 / NANOS_PER_MILLI;
        write!(f, "{}.{:03}s", millis / 1000, millis % 1000)
    }
}

impl fmt::Display for SimDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_multiple_of(NANOS_PER_SEC) {
            write!(f, "{}s", self.0 / NANOS_PER_SEC)
        } else if self.0.is_multiple_of(NANOS_PER_MILLI) {
            write!(f, "{}ms", self.0 / NANOS_PER_MILLI)
        } else {
            write!(f, "{}ns", self.0)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_is_seconds_with_millis() {
        let t = SimTime::ZERO + SimDuration::from_millis(12_345);
        assert_eq!(t.to_string(), "12.345s");
        assert_eq!(SimDuration::from_secs(300).to_string(), "300s");
        assert_eq!(SimDuration::from_millis(250).to_string(), "250ms");
    }

    #[test]
    fn saturating_since_never_goes_negative() {
        let early = SimTime::from_nanos(5);
        let late = SimTime::from_nanos(9);
        assert_eq!(late.saturating_since(early), SimDuration::from_nanos(4));
        assert_eq!(early.saturating_since(late), SimDuration::ZERO);
    }
}

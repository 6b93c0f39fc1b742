//! A count over the last minute, in one-second buckets: ERROR and WARN log lines, a connector's
//! Error samples. Pure; the caller passes the wall-clock time.

/// Seconds in the window.
const WINDOW: usize = 60;

/// Events in the last 60 s.
#[derive(Debug, Clone, PartialEq)]
pub struct RollingMinute {
    /// Counts per second, indexed by `second % 60`.
    buckets: [u32; WINDOW],
    /// The newest second written (Unix seconds).
    newest: i64,
}

impl Default for RollingMinute {
    fn default() -> Self {
        RollingMinute {
            buckets: [0; WINDOW],
            newest: 0,
        }
    }
}

impl RollingMinute {
    fn roll(&mut self, second: i64) {
        if second <= self.newest {
            return;
        }
        let gap = (second - self.newest).min(WINDOW as i64);
        for k in 1..=gap {
            self.buckets[((self.newest + k).rem_euclid(WINDOW as i64)) as usize] = 0;
        }
        self.newest = second;
    }

    /// Counts `n` events at wall-clock time `now` (Unix seconds).
    pub fn add(&mut self, now: f64, n: u32) {
        let second = now.floor() as i64;
        self.roll(second);
        // A time older than the window (the clock stepped back far) counts as now.
        let at = if self.newest - second >= WINDOW as i64 {
            self.newest
        } else {
            second.min(self.newest)
        };
        let b = &mut self.buckets[at.rem_euclid(WINDOW as i64) as usize];
        *b = b.saturating_add(n);
    }

    /// Events in the minute up to `now`.
    pub fn total(&self, now: f64) -> u32 {
        let second = now.floor() as i64;
        let age = second - self.newest;
        if age >= WINDOW as i64 {
            return 0;
        }
        // Buckets that have aged out of the window by `now` do not count.
        let mut sum: u32 = 0;
        for k in 0..WINDOW as i64 {
            let s = self.newest - k;
            if second - s < WINDOW as i64 {
                sum = sum.saturating_add(self.buckets[s.rem_euclid(WINDOW as i64) as usize]);
            }
        }
        sum
    }

    /// True when nothing was counted in the minute up to `now`.
    pub fn is_quiet(&self, now: f64) -> bool {
        self.total(now) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_the_last_minute_only() {
        let mut r = RollingMinute::default();
        r.add(1000.5, 3);
        r.add(1010.0, 2);
        assert_eq!(r.total(1010.0), 5);
        assert_eq!(r.total(1059.9), 5);
        assert_eq!(r.total(1060.0), 2, "the first three are a minute old");
        assert_eq!(r.total(1070.0), 0);
        assert!(r.is_quiet(1070.0));
        r.add(2000.0, 1);
        assert_eq!(r.total(2000.0), 1, "a long gap clears everything");
        r.add(1999.0, 1);
        assert_eq!(r.total(2000.0), 2, "a slightly late event still counts");
    }
}

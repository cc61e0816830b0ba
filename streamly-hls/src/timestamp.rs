//! RTMP timestamps are 32-bit milliseconds that wrap after ~49.7 days; the
//! muxer needs one monotonic timeline.

/// Extends wrapping 32-bit millisecond timestamps to 64 bits.
///
/// Each timestamp is read as the signed 32-bit step from the previous one,
/// so the wrap from `u32::MAX` to 0 is one millisecond forward and the small
/// backward steps of interleaved audio and video stay small.
#[derive(Debug, Clone, Copy, Default)]
pub struct TimestampUnwrapper {
    last: Option<(u32, i64)>,
}

impl TimestampUnwrapper {
    /// A fresh timeline: the first timestamp is taken as is.
    pub fn new() -> Self {
        Self::default()
    }

    /// The 64-bit timestamp for `raw`.
    pub fn unwrap(&mut self, raw: u32) -> i64 {
        let extended = match self.last {
            None => i64::from(raw),
            Some((last_raw, last)) => last + i64::from(raw.wrapping_sub(last_raw) as i32),
        };
        self.last = Some((raw, extended));
        extended
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crosses_the_wrap() {
        let mut u = TimestampUnwrapper::new();
        assert_eq!(u.unwrap(u32::MAX - 10), i64::from(u32::MAX) - 10);
        assert_eq!(
            u.unwrap(u32::MAX - 20),
            i64::from(u32::MAX) - 20,
            "small step back"
        );
        assert_eq!(u.unwrap(5), i64::from(u32::MAX) + 6);
        assert_eq!(u.unwrap(30), i64::from(u32::MAX) + 31);
    }

    proptest! {
        #[test]
        fn forward_steps_stay_monotonic(start in any::<u32>(), steps in proptest::collection::vec(0u32..100_000, 1..200)) {
            let mut u = TimestampUnwrapper::new();
            let (mut raw, mut last) = (start, u.unwrap(start));
            for step in steps {
                raw = raw.wrapping_add(step);
                let next = u.unwrap(raw);
                prop_assert_eq!(next - last, i64::from(step));
                last = next;
            }
        }
    }
}

//! Response bodies made of shared [`Bytes`] chunks (a part is its fragment
//! header then the frames' own payloads; a segment is its parts), so a
//! viewer's response copies nothing; and single byte ranges over them
//! (RFC 9110 §14).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};

/// A body that yields its chunks in order.
#[derive(Debug, Default)]
pub(crate) struct Chunks {
    chunks: VecDeque<Bytes>,
    remaining: u64,
}

impl Chunks {
    /// The body of `chunks`.
    pub(crate) fn new<'a>(chunks: impl IntoIterator<Item = &'a Bytes>) -> Self {
        let chunks: VecDeque<Bytes> = chunks.into_iter().filter(|c| !c.is_empty()).cloned().collect();
        let remaining = chunks.iter().map(|c| c.len() as u64).sum();
        Self { chunks, remaining }
    }

    /// Total length.
    pub(crate) fn len(&self) -> u64 {
        self.remaining
    }

    /// Only the bytes `start..end` (`end` exclusive, within the length).
    pub(crate) fn slice(self, start: u64, end: u64) -> Self {
        let mut out = VecDeque::new();
        let mut at = 0u64;
        for chunk in self.chunks {
            let len = chunk.len() as u64;
            let (from, to) = (start.max(at), end.min(at + len));
            if from < to {
                // Both offsets lie inside this chunk.
                out.push_back(chunk.slice((from - at) as usize..(to - at) as usize));
            }
            at += len;
            if at >= end {
                break;
            }
        }
        Self {
            chunks: out,
            remaining: end.saturating_sub(start),
        }
    }
}

impl http_body::Body for Chunks {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        Poll::Ready(this.chunks.pop_front().map(|chunk| {
            this.remaining -= chunk.len() as u64;
            Ok(Frame::data(chunk))
        }))
    }

    fn is_end_stream(&self) -> bool {
        self.chunks.is_empty()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.remaining)
    }
}

/// What a `Range` header asks of a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum RangeRequest {
    /// No range, or one we ignore (several ranges, another unit): the
    /// whole body (RFC 9110 §14.2 lets a server ignore `Range`).
    Whole,
    /// Bytes `start..end`, `end` exclusive.
    Part { start: u64, end: u64 },
    /// Nothing of the body is in the range: `416`.
    Unsatisfiable,
}

/// Parses `bytes=a-b`, `bytes=a-` and `bytes=-n` (RFC 9110 §14.1.2).
pub(crate) fn parse_range(header: Option<&str>, len: u64) -> RangeRequest {
    let Some(spec) = header.and_then(|h| h.trim().strip_prefix("bytes=")) else {
        return RangeRequest::Whole;
    };
    if spec.contains(',') {
        return RangeRequest::Whole;
    }
    let Some((first, last)) = spec.trim().split_once('-') else {
        return RangeRequest::Whole;
    };
    let number = |s: &str| -> Option<u64> {
        (!s.is_empty() && s.len() <= 19 && s.bytes().all(|b| b.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    let (start, end) = match (first.trim(), last.trim()) {
        ("", suffix) => match number(suffix) {
            Some(0) => return RangeRequest::Unsatisfiable,
            Some(n) => (len.saturating_sub(n), len),
            None => return RangeRequest::Whole,
        },
        (a, "") => match number(a) {
            Some(a) => (a, len),
            None => return RangeRequest::Whole,
        },
        (a, b) => match (number(a), number(b)) {
            (Some(a), Some(b)) if a <= b => (a, b.saturating_add(1).min(len)),
            _ => return RangeRequest::Whole,
        },
    };
    if start >= len {
        return RangeRequest::Unsatisfiable;
    }
    RangeRequest::Part { start, end }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn collect(c: Chunks) -> Vec<u8> {
        c.chunks.iter().flat_map(|b| b.iter().copied()).collect()
    }

    #[test]
    fn ranges() {
        use RangeRequest::*;
        assert_eq!(parse_range(None, 10), Whole);
        assert_eq!(parse_range(Some("bytes=0-3"), 10), Part { start: 0, end: 4 });
        assert_eq!(parse_range(Some("bytes=4-"), 10), Part { start: 4, end: 10 });
        assert_eq!(parse_range(Some("bytes=-3"), 10), Part { start: 7, end: 10 });
        assert_eq!(parse_range(Some("bytes=-30"), 10), Part { start: 0, end: 10 });
        assert_eq!(parse_range(Some("bytes=5-100"), 10), Part { start: 5, end: 10 });
        assert_eq!(parse_range(Some("bytes=10-"), 10), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 10), Unsatisfiable);
        for ignored in [
            "bytes=3-1",
            "bytes=0-1,4-5",
            "items=0-1",
            "bytes=x-",
            "bytes=99999999999999999999-",
        ] {
            assert_eq!(parse_range(Some(ignored), 10), Whole, "{ignored}");
        }
    }

    proptest! {
        #[test]
        fn a_slice_is_the_same_bytes_as_slicing_the_whole(
            sizes in proptest::collection::vec(0usize..20, 0..8),
            a in 0u64..200,
            b in 0u64..200,
        ) {
            let chunks: Vec<Bytes> = sizes
                .iter()
                .enumerate()
                .map(|(i, n)| Bytes::from(vec![i as u8; *n]))
                .collect();
            let whole: Vec<u8> = chunks.iter().flat_map(|c| c.iter().copied()).collect();
            let len = whole.len() as u64;
            let (start, end) = (a.min(b).min(len), a.max(b).min(len));
            let body = Chunks::new(&chunks).slice(start, end);
            prop_assert_eq!(body.len(), end - start);
            prop_assert_eq!(collect(body), whole[start as usize..end as usize].to_vec());
        }

        #[test]
        fn any_header_parses_without_panicking(h in ".{0,40}", len in 0u64..1000) {
            if let RangeRequest::Part { start, end } = parse_range(Some(&h), len) {
                prop_assert!(start < end && end <= len);
            }
        }
    }
}

//! Cursor pagination of stream listings.
//!
//! A listing is in a stable order: a timestamp, newest first, then the
//! stream id (ascending) to break ties ([`super::sort_newest_first`],
//! [`super::sort_live_first`]). A [`StreamCursor`] is the sort key of the
//! last item a client has seen; the next page holds the items strictly
//! after it in that order. Items created, deleted or going live between two
//! requests never make a page repeat or skip one of the others.

use time::OffsetDateTime;

use super::{Stream, StreamId, ValidationError};

/// Items per page when the client does not say.
pub const PAGE_LIMIT_DEFAULT: u32 = 50;
/// Most items per page a client may ask for.
pub const PAGE_LIMIT_MAX: u32 = 100;
/// The text of every cursor, as a regular expression: exactly the ones
/// [`StreamCursor::parse`] accepts, so an API schema can state it and a
/// client (or a fuzzer) cannot make one that looks valid and is refused.
/// At most 20 digits of nanoseconds: within ±3,000 years of 1970.
pub const CURSOR_PATTERN: &str = "^-?[0-9]{1,20}\\.[A-Za-z0-9_-]{1,64}$";
/// Longest cursor text (see [`CURSOR_PATTERN`]).
pub const CURSOR_MAX_LEN: usize = 1 + 20 + 1 + 64;

/// Where a page starts: just after the item with this sort key.
///
/// Clients treat it as opaque. Its text is `<unix nanoseconds>.<stream id>`
/// ([`CURSOR_PATTERN`]): URL- and header-safe as it is, and a shape a
/// schema can describe exactly.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamCursor {
    /// The last item's timestamp (creation or live-since, by listing).
    pub at: OffsetDateTime,
    /// The last item's id.
    pub id: StreamId,
}

impl StreamCursor {
    /// The cursor's text.
    pub fn encode(&self) -> String {
        format!("{}.{}", self.at.unix_timestamp_nanos(), self.id)
    }

    /// Reads a cursor a client sent back: anything [`CURSOR_PATTERN`] does
    /// not match is refused.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let invalid = || ValidationError::new("cursor", "is not a cursor this API returned");
        let (nanos, id) = s.split_once('.').ok_or_else(invalid)?;
        let digits = nanos.strip_prefix('-').unwrap_or(nanos);
        if digits.is_empty() || digits.len() > 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let nanos: i128 = nanos.parse().map_err(|_| invalid())?;
        let at = OffsetDateTime::from_unix_timestamp_nanos(nanos).map_err(|_| invalid())?;
        let id = StreamId::parse(id).map_err(|_| invalid())?;
        Ok(Self { at, id })
    }
}

/// What page of a listing to return.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    limit: u32,
    after: Option<StreamCursor>,
}

impl PageRequest {
    /// A page of `limit` items (`None`: [`PAGE_LIMIT_DEFAULT`]; 1 to
    /// [`PAGE_LIMIT_MAX`]) after the item `cursor` names (`None`: the first
    /// page; else as [`StreamCursor::parse`] reads it).
    pub fn parse(limit: Option<u32>, cursor: Option<&str>) -> Result<Self, ValidationError> {
        let limit = limit.unwrap_or(PAGE_LIMIT_DEFAULT);
        if !(1..=PAGE_LIMIT_MAX).contains(&limit) {
            return Err(ValidationError::new(
                "limit",
                format!("must be 1 to {PAGE_LIMIT_MAX}"),
            ));
        }
        let after = cursor.map(StreamCursor::parse).transpose()?;
        Ok(Self { limit, after })
    }

    /// The first page, `limit` items long (clamped to 1 ..= [`PAGE_LIMIT_MAX`]).
    pub fn first(limit: u32) -> Self {
        Self {
            limit: limit.clamp(1, PAGE_LIMIT_MAX),
            after: None,
        }
    }

    /// The page after `cursor`, as long as this one.
    pub fn after(&self, cursor: StreamCursor) -> Self {
        Self {
            limit: self.limit,
            after: Some(cursor),
        }
    }

    /// Items per page.
    pub fn limit(&self) -> u32 {
        self.limit
    }

    /// Where the page starts.
    pub fn cursor(&self) -> Option<&StreamCursor> {
        self.after.as_ref()
    }
}

/// One page of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page<T> {
    /// The items, in the listing's order.
    pub items: Vec<T>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<StreamCursor>,
}

/// The page `req` asks for of `sorted`, a listing already in its order
/// (timestamp newest first, then id), where `key` gives an item's timestamp.
pub fn paginate(
    sorted: Vec<Stream>,
    req: &PageRequest,
    key: impl Fn(&Stream) -> OffsetDateTime,
) -> Page<Stream> {
    let start = match &req.after {
        // After the cursor: an older timestamp, or the same one and a
        // greater id.
        Some(c) => sorted.partition_point(|s| {
            let at = key(s);
            at > c.at || (at == c.at && s.id <= c.id)
        }),
        None => 0,
    };
    let limit = req.limit as usize;
    let more = sorted.len().saturating_sub(start) > limit;
    let items: Vec<Stream> = sorted.into_iter().skip(start).take(limit).collect();
    let next = if more {
        items.last().map(|s| StreamCursor {
            at: key(s),
            id: s.id.clone(),
        })
    } else {
        None
    };
    Page { items, next }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::StreamKey;
    use crate::domain::{StreamTitle, UserId, sort_newest_first};
    use proptest::prelude::*;

    fn stream(id: &str, secs: i64) -> Stream {
        Stream {
            id: StreamId::parse(id).expect("id"),
            owner: UserId::new_random(),
            title: StreamTitle::parse("t").expect("title"),
            key_hash: StreamKey::generate().expect("rng").hash(),
            live_since: None,
            created_at: OffsetDateTime::from_unix_timestamp(secs).expect("time"),
            record: true,
            details: crate::domain::StreamDetails::default(),
        }
    }

    #[test]
    fn cursor_round_trips_and_refuses_junk() {
        let c = StreamCursor {
            at: OffsetDateTime::from_unix_timestamp_nanos(1_790_000_000_123_456_000).expect("time"),
            id: StreamId::new_random(),
        };
        assert_eq!(StreamCursor::parse(&c.encode()), Ok(c.clone()));
        let oldest = StreamCursor {
            at: OffsetDateTime::from_unix_timestamp_nanos(-(10i128.pow(20) - 1)).expect("time"),
            id: StreamId::parse(&"x".repeat(64)).expect("id"),
        };
        assert_eq!(oldest.encode().len(), CURSOR_MAX_LEN);
        assert_eq!(StreamCursor::parse(&oldest.encode()), Ok(oldest));
        for junk in [
            "",
            "!!!",
            "12",
            "12.",
            ".ab",
            "12.a/b",
            "+12.ab",
            "-.ab",
            "1 2.ab",
            "12.ab\n",
            &format!("{}.ab", "9".repeat(21)),
            &format!("12.{}", "x".repeat(65)),
        ] {
            assert!(StreamCursor::parse(junk).is_err(), "{junk:?}");
        }
    }

    /// `CURSOR_PATTERN`, by hand (no regex engine in this crate).
    fn matches_pattern(s: &str) -> bool {
        let Some((nanos, id)) = s.split_once('.') else {
            return false;
        };
        let digits = nanos.strip_prefix('-').unwrap_or(nanos);
        (1..=20).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (1..=64).contains(&id.len())
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    }

    #[test]
    fn limits() {
        assert_eq!(
            PageRequest::parse(None, None).map(|r| r.limit()),
            Ok(PAGE_LIMIT_DEFAULT)
        );
        assert!(PageRequest::parse(Some(0), None).is_err());
        assert!(PageRequest::parse(Some(PAGE_LIMIT_MAX + 1), None).is_err());
        assert!(PageRequest::parse(Some(PAGE_LIMIT_MAX), None).is_ok());
        assert!(PageRequest::parse(None, Some("x")).is_err());
    }

    #[test]
    fn ties_on_time_are_broken_by_id() {
        let mut all = vec![stream("c", 5), stream("a", 5), stream("b", 5), stream("d", 9)];
        sort_newest_first(&mut all);
        let req = PageRequest::first(2);
        let p1 = paginate(all.clone(), &req, |s| s.created_at);
        let ids: Vec<_> = p1.items.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["d", "a"]);
        let p2 = paginate(all, &req.after(p1.next.expect("more")), |s| s.created_at);
        let ids: Vec<_> = p2.items.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(ids, ["b", "c"]);
        assert_eq!(p2.next, None);
    }

    proptest! {
        /// `parse` accepts exactly what `CURSOR_PATTERN` matches.
        #[test]
        fn the_pattern_is_the_parser(s in "-?[0-9]{0,22}\\.?[A-Za-z0-9_./-]{0,66}") {
            prop_assert_eq!(StreamCursor::parse(&s).is_ok(), matches_pattern(&s), "{:?}", s);
        }

        /// Walking the pages gives every item once, in order.
        #[test]
        fn pages_cover_the_listing(times in proptest::collection::vec(0i64..5, 0..40), limit in 1u32..7) {
            let mut all: Vec<Stream> = times.iter().enumerate().map(|(i, t)| stream(&format!("s{i}"), *t)).collect();
            sort_newest_first(&mut all);
            let mut req = PageRequest::first(limit);
            let mut seen = Vec::new();
            loop {
                let page = paginate(all.clone(), &req, |s| s.created_at);
                prop_assert!(page.items.len() <= limit as usize);
                seen.extend(page.items);
                match page.next {
                    Some(c) => req = req.after(c),
                    None => break,
                }
            }
            prop_assert_eq!(seen, all);
        }
    }
}

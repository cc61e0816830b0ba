//! [`Roles`]: which parts of the platform one process runs.
//!
//! The system Streamly replaces ran a user/stream service, an RTMP server and
//! a chat service as separate processes over one PostgreSQL and one Redis.
//! A [`Platform`](crate::Platform) built with a subset of the roles is one of
//! those processes:
//!
//! | role | serves |
//! |---|---|
//! | `api` | accounts and streams REST (`/api/*`), the web UI, `/api/internal/*` for the other nodes |
//! | `ingest` | RTMP, the HLS packagers and `/hls/*` (the origin of the streams it ingests) |
//! | `chat` | the chat WebSocket (`/ws`) |
//!
//! Every role serves `/health` (its own dependencies) and `/metrics`.

use std::fmt;
use std::str::FromStr;

/// The parts of the platform a process runs (default: all of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Roles {
    /// Accounts and streams REST, the web UI, the internal endpoints.
    pub api: bool,
    /// RTMP ingest, HLS packaging and serving.
    pub ingest: bool,
    /// The chat WebSocket.
    pub chat: bool,
}

impl Roles {
    /// Every role: the all-in-one platform.
    pub const ALL: Roles = Roles {
        api: true,
        ingest: true,
        chat: true,
    };

    /// Whether this is the all-in-one platform.
    pub fn is_all(self) -> bool {
        self == Self::ALL
    }
}

impl Default for Roles {
    fn default() -> Self {
        Self::ALL
    }
}

/// A role list that could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role {0:?}: expected a comma-separated list of api, ingest, chat (or all)")]
pub struct UnknownRole(pub String);

impl FromStr for Roles {
    type Err = UnknownRole;

    /// `api`, `ingest`, `chat`, comma-separated in any order (`api,chat`),
    /// or `all`. Spaces around names are ignored; an empty list is refused.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut roles = Roles {
            api: false,
            ingest: false,
            chat: false,
        };
        for name in s.split(',').map(str::trim) {
            match name.to_ascii_lowercase().as_str() {
                "api" => roles.api = true,
                "ingest" => roles.ingest = true,
                "chat" => roles.chat = true,
                "all" => roles = Self::ALL,
                _ => return Err(UnknownRole(name.to_owned())),
            }
        }
        Ok(roles)
    }
}

impl fmt::Display for Roles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = [(self.api, "api"), (self.ingest, "ingest"), (self.chat, "chat")]
            .into_iter()
            .filter_map(|(on, name)| on.then_some(name))
            .collect();
        f.write_str(&names.join(","))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_and_all() {
        assert_eq!("all".parse::<Roles>(), Ok(Roles::ALL));
        assert_eq!(
            " chat , API".parse::<Roles>(),
            Ok(Roles {
                api: true,
                ingest: false,
                chat: true
            })
        );
        assert_eq!(
            "ingest".parse::<Roles>().map(|r| r.to_string()),
            Ok("ingest".into())
        );
        assert_eq!(Roles::ALL.to_string(), "api,ingest,chat");
    }

    #[test]
    fn refuses_unknown_and_empty_names() {
        assert_eq!("api,rtmp".parse::<Roles>(), Err(UnknownRole("rtmp".into())));
        assert_eq!("".parse::<Roles>(), Err(UnknownRole(String::new())));
        assert_eq!("api,".parse::<Roles>(), Err(UnknownRole(String::new())));
    }
}

use std::fmt;

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::{UserId, ValidationError, is_format_char};

/// A username: 3–32 characters of `[A-Za-z0-9_]`. Being ASCII, it can hold
/// no format or bidi control character (see [`super::is_format_char`]).
///
/// The case the user typed is kept for display; uniqueness is
/// case-insensitive (see [`Username::canonical`]).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Username(String);

impl Username {
    /// Validates a username from outside.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let len = s.chars().count();
        if !(3..=32).contains(&len) {
            return Err(ValidationError::new("username", "must be 3 to 32 characters"));
        }
        if !s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(ValidationError::new(
                "username",
                "may contain only letters, digits and '_'",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The username as the user typed it.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The lowercase form used for uniqueness and lookups.
    pub fn canonical(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

impl fmt::Display for Username {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Username {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// The longest email address accepted, in characters (RFC 5321's path
/// limit, 254 octets, counted in characters like the API schema does).
pub const EMAIL_MAX_LEN: usize = 254;

/// A plausible email address, stored lowercased and trimmed.
///
/// "Plausible" means: one `@`, a non-empty local part, a domain with a dot
/// and no empty labels, no whitespace or control characters, at most 254
/// characters. Whether the mailbox exists is not this type's business.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    /// Validates an email address from outside.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let invalid = |reason: &str| Err(ValidationError::new("email", reason));
        // Characters of the input as sent, as the API schema's `maxLength`
        // counts them (not bytes, not after trimming or lowercasing).
        if s.chars().count() > EMAIL_MAX_LEN {
            return invalid("is too long");
        }
        let lowered = s.trim().to_lowercase();
        let s = lowered.as_str();
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return invalid("must not contain spaces or control characters");
        }
        let Some((local, domain)) = s.split_once('@') else {
            return invalid("must contain '@'");
        };
        if local.is_empty() || domain.contains('@') {
            return invalid("must look like name@example.com");
        }
        if !domain.contains('.') || domain.split('.').any(str::is_empty) {
            return invalid("must have a domain like example.com");
        }
        Ok(Self(lowered))
    }

    /// The address (lowercase).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Email {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        Self::parse(&s).map_err(serde::de::Error::custom)
    }
}

/// Shortest password accepted.
pub const PASSWORD_MIN_LEN: usize = 8;
/// Longest password accepted, in characters (bounds the bytes an attacker can
/// make the server hash; long passphrases still fit).
pub const PASSWORD_MAX_LEN: usize = 1024;

/// A plaintext password on its way to being hashed. `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl Password {
    /// Validates a new password: 8–1,024 characters, not all blank
    /// (whitespace, control or format characters: eight spaces or eight NULs
    /// are refused). Otherwise any character is allowed and nothing is
    /// trimmed.
    pub fn parse(s: &str) -> Result<Self, ValidationError> {
        let len = s.chars().count();
        if len < PASSWORD_MIN_LEN {
            return Err(ValidationError::new(
                "password",
                format!("must be at least {PASSWORD_MIN_LEN} characters"),
            ));
        }
        if len > PASSWORD_MAX_LEN {
            return Err(ValidationError::new(
                "password",
                format!("must be at most {PASSWORD_MAX_LEN} characters"),
            ));
        }
        if s.chars().all(is_blank) {
            return Err(ValidationError::new(
                "password",
                "must not be only spaces or invisible characters",
            ));
        }
        Ok(Self(s.to_owned()))
    }

    /// The plaintext, for hashing.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Whitespace, a control character (NUL included) or a format character.
fn is_blank(c: char) -> bool {
    c.is_whitespace() || c.is_control() || is_format_char(c)
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// A registered user as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// Stable identity.
    pub id: UserId,
    /// Display name, unique without regard to case.
    pub username: Username,
    /// Unique email address.
    pub email: Email,
    /// PHC string (argon2id) or a legacy bcrypt hash (`$2b$…`).
    pub password_hash: String,
    /// When the account was created.
    pub created_at: OffsetDateTime,
}

/// What [`crate::ports::UserStore::create`] needs to create a user.
#[derive(Debug, Clone)]
pub struct NewUser {
    /// Validated username.
    pub username: Username,
    /// Validated email.
    pub email: Email,
    /// The already-computed password hash.
    pub password_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn usernames() {
        assert!(Username::parse("abc").is_ok());
        assert!(Username::parse("A_b_9").is_ok());
        assert!(Username::parse(&"x".repeat(32)).is_ok());
        for bad in ["ab", "", "a b", "ab-c", "äbc", &"x".repeat(33)] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            Username::parse("Alice").map(|u| u.canonical()),
            Ok("alice".into())
        );
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse(" Alice@Example.COM ").map(|e| e.as_str().to_owned()),
            Ok("alice@example.com".into())
        );
        for bad in [
            "", "a", "a@b", "@b.c", "a@@b.c", "a@b..c", "a b@c.d", "a@.c", "a@b.c.",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"é".repeat(1024)).is_ok());
        assert!(Password::parse(&"x".repeat(1025)).is_err());
        for blank in [
            "        ",
            "\0\0\0\0\0\0\0\0",
            " \t\n\r \u{3000}\u{A0} ",
            "\u{200B}".repeat(8).as_str(),
        ] {
            let err = Password::parse(blank).err();
            assert_eq!(err.map(|e| e.field), Some("password"), "{blank:?}");
        }
        // Spaces inside a passphrase are fine, and kept.
        assert_eq!(
            Password::parse(" correct horse ").map(|p| p.expose().to_owned()),
            Ok(" correct horse ".to_owned())
        );
        assert_eq!(
            format!("{:?}", Password::parse("hunter2hunter2")),
            "Ok(Password(<redacted>))"
        );
    }

    proptest! {
        #[test]
        fn usernames_never_hold_format_characters(
            a in "[a-z]{2,10}",
            c in prop::sample::select(vec!['\u{200B}', '\u{200D}', '\u{202E}', '\u{2066}', '\u{FEFF}', '\u{00AD}']),
            b in "[a-z]{0,10}",
        ) {
            let name = format!("{a}{c}{b}");
            prop_assert!(Username::parse(&name).is_err());
        }

        #[test]
        fn password_rules(s in "[ \t\u{0}\u{200B}a-z]{0,12}") {
            let n = s.chars().count();
            let blank = s.chars().all(is_blank);
            prop_assert_eq!(Password::parse(&s).is_ok(), (8..=1024).contains(&n) && !blank);
        }

        #[test]
        fn username_accepts_exactly_the_grammar(s in ".{0,40}") {
            let ok = (3..=32).contains(&s.chars().count())
                && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            prop_assert_eq!(Username::parse(&s).is_ok(), ok);
        }

        #[test]
        fn valid_usernames_round_trip(s in "[A-Za-z0-9_]{3,32}") {
            prop_assert_eq!(Username::parse(&s).map(|u| u.as_str().to_owned()), Ok(s));
        }

        #[test]
        fn email_parse_never_panics(s in ".{0,300}") {
            if let Ok(e) = Email::parse(&s) {
                prop_assert!(e.as_str().contains('@'));
                prop_assert!(s.chars().count() <= EMAIL_MAX_LEN);
            }
        }

        #[test]
        fn password_parse_never_panics(s in ".{0,300}") {
            let _ = Password::parse(&s);
        }
    }
}

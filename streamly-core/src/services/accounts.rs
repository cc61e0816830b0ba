//! Registration, login and token checks.
//!
//! Password hashing is the one thing here an anonymous client can make
//! expensive: each argon2id hash or check allocates its whole block matrix
//! (`m_cost` KiB, 19 MiB by default) for tens of milliseconds. It runs on the
//! blocking pool behind a semaphore ([`HashingLimit`]): at most one hash per
//! core at a time, so the memory it can take is bounded by
//! `max_concurrent × m_cost`; a request that cannot get a turn within
//! `max_wait` fails with [`AccountError::Busy`] (the API answers 503 with
//! `Retry-After`) instead of queuing without end.

use std::sync::Arc;
use std::time::Duration;

use thiserror::Error;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::auth::{Claims, JwtError, JwtKeys, PasswordError, PasswordHasher, PasswordVerdict};
use crate::domain::{Email, NewUser, Password, User, UserId, Username, ValidationError};
use crate::ports::{ConflictField, StoreError, UserStore};

/// What an [`Accounts`] call can fail with.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum AccountError {
    /// An input was malformed.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The username or email is taken.
    #[error("{0} is already taken")]
    Conflict(ConflictField),
    /// Unknown login or wrong password (deliberately the same answer).
    #[error("invalid login or password")]
    InvalidCredentials,
    /// The token is missing, expired, forged, or names a deleted user.
    #[error("not authenticated: {0}")]
    Unauthenticated(JwtError),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
    /// Hashing failed, or a stored hash is unreadable.
    #[error(transparent)]
    Password(#[from] PasswordError),
    /// Every password-hashing slot stayed taken for the whole
    /// [`HashingLimit::max_wait`]: too many logins or registrations at once.
    #[error("too many sign-ins at once, retry in {} s", retry_after.as_secs())]
    Busy {
        /// A hint for when to retry (the configured wait, at least 1 s).
        retry_after: Duration,
    },
}

/// How much password hashing may run at once, and how long a request waits
/// for a turn.
///
/// Peak memory taken by hashing is `max_concurrent` × the hasher's `m_cost`
/// (19 MiB each with [`PasswordHasher::default`]): 38 MiB on 2 cores, 152 MiB
/// on 8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HashingLimit {
    /// Hashes or checks running at once (values below 1 count as 1).
    pub max_concurrent: usize,
    /// How long a request waits for a free slot before [`AccountError::Busy`].
    pub max_wait: Duration,
}

impl Default for HashingLimit {
    /// One hash per core (`std::thread::available_parallelism`), 2 s wait.
    fn default() -> Self {
        Self {
            max_concurrent: std::thread::available_parallelism().map_or(1, |n| n.get()),
            max_wait: Duration::from_secs(2),
        }
    }
}

impl From<StoreError> for AccountError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(field) => Self::Conflict(field),
            other => Self::Store(other),
        }
    }
}

/// A signed-in user and their token.
#[derive(Debug, Clone)]
pub struct AuthSession {
    /// The user.
    pub user: User,
    /// A JWT for `Authorization: Bearer`.
    pub token: String,
}

/// Accounts: register, log in, resolve tokens.
#[derive(Clone)]
pub struct Accounts {
    users: Arc<dyn UserStore>,
    hasher: PasswordHasher,
    jwt: JwtKeys,
    /// Slots for hashing, shared by every clone (see the module docs).
    hashing: Arc<Semaphore>,
    limit: HashingLimit,
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("hasher", &self.hasher)
            .field("hashing_limit", &self.limit)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Accounts over a user store, a password hasher and JWT keys, with the
    /// default [`HashingLimit`].
    pub fn new(users: Arc<dyn UserStore>, hasher: PasswordHasher, jwt: JwtKeys) -> Self {
        Self {
            users,
            hasher,
            jwt,
            hashing: Arc::new(Semaphore::new(1)),
            limit: HashingLimit::default(),
        }
        .with_hashing_limit(HashingLimit::default())
    }

    /// Replaces the bound on concurrent password hashing. Call it before
    /// cloning: clones made earlier keep the old slots.
    pub fn with_hashing_limit(mut self, limit: HashingLimit) -> Self {
        let permits = limit.max_concurrent.clamp(1, Semaphore::MAX_PERMITS);
        self.hashing = Arc::new(Semaphore::new(permits));
        self.limit = HashingLimit {
            max_concurrent: permits,
            ..limit
        };
        self
    }

    /// The bound on concurrent password hashing.
    pub fn hashing_limit(&self) -> HashingLimit {
        self.limit
    }

    /// The JWT keys (for other parts that verify tokens, like chat).
    pub fn jwt(&self) -> &JwtKeys {
        &self.jwt
    }

    /// The user store (for health checks).
    pub fn users(&self) -> &Arc<dyn UserStore> {
        &self.users
    }

    /// Validates the inputs, hashes the password and creates the user.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
    ) -> Result<AuthSession, AccountError> {
        let username = Username::parse(username)?;
        let email = Email::parse(email)?;
        let password = Password::parse(password)?;
        let password_hash = self
            .with_hasher(move |hasher| hasher.hash(password.expose()))
            .await??;
        let user = self
            .users
            .create(NewUser {
                username,
                email,
                password_hash,
            })
            .await?;
        tracing::info!(user_id = %user.id, username = %user.username, "user registered");
        self.session(user)
    }

    /// Checks a username-or-email and password. An unknown login costs the
    /// same hashing work as a wrong password and gives the same error.
    /// A correct password stored as bcrypt (or weaker argon2) is re-hashed.
    /// A password longer than any account can have is refused unhashed.
    pub async fn login(&self, login: &str, password: &str) -> Result<AuthSession, AccountError> {
        if password.chars().count() > crate::domain::PASSWORD_MAX_LEN {
            return Err(AccountError::InvalidCredentials);
        }
        let found = if login.chars().count() > crate::domain::EMAIL_MAX_LEN {
            None
        } else {
            self.users.find_by_login(login).await?
        };
        let password = password.to_owned();
        let stored = found.as_ref().map(|u| u.password_hash.clone());
        // The check and, when the stored hash is outdated, the new hash run
        // in one turn: a user who proved the password is not told "busy".
        let (verdict, new_hash) = self
            .with_hasher(move |hasher| {
                let verdict = match stored {
                    Some(hash) => hasher.verify(&password, &hash),
                    None => {
                        hasher.verify_dummy(&password);
                        Ok(PasswordVerdict::Mismatch)
                    }
                };
                let new_hash =
                    matches!(verdict, Ok(PasswordVerdict::MatchNeedsRehash)).then(|| hasher.hash(&password));
                (verdict, new_hash)
            })
            .await?;
        let verdict = match verdict {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "stored password hash is unreadable");
                return Err(AccountError::InvalidCredentials);
            }
        };
        let Some(user) = found.filter(|_| verdict.is_match()) else {
            return Err(AccountError::InvalidCredentials);
        };
        if let Some(new_hash) = new_hash {
            // The user proved the password; the stored hash is upgraded so
            // bcrypt hashes disappear as people log in.
            let new_hash = new_hash?;
            self.users.set_password_hash(user.id, &new_hash).await?;
            tracing::info!(user_id = %user.id, "password hash upgraded to argon2id");
        }
        self.session(user)
    }

    /// Resolves a bearer token to its (still existing) user.
    pub async fn authenticate(&self, token: &str) -> Result<User, AccountError> {
        let claims = self.verify_token(token)?;
        match self.users.get(claims.sub).await {
            Ok(user) => Ok(user),
            Err(StoreError::NotFound) => Err(AccountError::Unauthenticated(JwtError::Invalid)),
            Err(e) => Err(e.into()),
        }
    }

    /// Checks a token without touching the store.
    pub fn verify_token(&self, token: &str) -> Result<Claims, AccountError> {
        self.jwt.verify(token).map_err(AccountError::Unauthenticated)
    }

    /// Looks a user up by id.
    pub async fn get(&self, id: UserId) -> Result<User, AccountError> {
        Ok(self.users.get(id).await?)
    }

    /// Runs `work` on the blocking pool once a hashing slot is free, or
    /// fails with [`AccountError::Busy`] after [`HashingLimit::max_wait`].
    async fn with_hasher<T, F>(&self, work: F) -> Result<T, AccountError>
    where
        F: FnOnce(&PasswordHasher) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self.hashing_slot().await?;
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || {
            // The permit lives in the blocking task, not in the request's
            // future: a client that hangs up mid-hash drops the future, but
            // its hash still holds memory until it ends, and so its slot.
            let _permit = permit;
            work(&hasher)
        })
        .await
        .map_err(|e| AccountError::Password(PasswordError::Hashing(e.to_string())))
    }

    async fn hashing_slot(&self) -> Result<OwnedSemaphorePermit, AccountError> {
        let busy = || AccountError::Busy {
            retry_after: self.limit.max_wait.max(Duration::from_secs(1)),
        };
        match tokio::time::timeout(self.limit.max_wait, self.hashing.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            // The semaphore is never closed; a closed one is busy for good.
            Ok(Err(_closed)) => Err(busy()),
            Err(_elapsed) => {
                tracing::debug!(
                    max_concurrent = self.limit.max_concurrent,
                    waited_ms = self.limit.max_wait.as_millis() as u64,
                    "password hashing busy, request refused"
                );
                Err(busy())
            }
        }
    }

    fn session(&self, user: User) -> Result<AuthSession, AccountError> {
        let token = self.jwt.issue(&user).map_err(AccountError::Unauthenticated)?;
        Ok(AuthSession { user, token })
    }
}

//! Registration, login and token checks.

use std::sync::Arc;

use thiserror::Error;

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
}

impl std::fmt::Debug for Accounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Accounts")
            .field("hasher", &self.hasher)
            .finish_non_exhaustive()
    }
}

impl Accounts {
    /// Accounts over a user store, a password hasher and JWT keys.
    pub fn new(users: Arc<dyn UserStore>, hasher: PasswordHasher, jwt: JwtKeys) -> Self {
        Self { users, hasher, jwt }
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
        let password_hash = self.hash(password.expose().to_owned()).await?;
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
    pub async fn login(&self, login: &str, password: &str) -> Result<AuthSession, AccountError> {
        let found = if login.len() > crate::domain::EMAIL_MAX_LEN {
            None
        } else {
            self.users.find_by_login(login).await?
        };
        let hasher = self.hasher.clone();
        let password = password.to_owned();
        let stored = found.as_ref().map(|u| u.password_hash.clone());
        let (verdict, password) = tokio::task::spawn_blocking(move || {
            let verdict = match stored {
                Some(hash) => hasher.verify(&password, &hash),
                None => {
                    hasher.verify_dummy(&password);
                    Ok(PasswordVerdict::Mismatch)
                }
            };
            (verdict, password)
        })
        .await
        .map_err(|e| PasswordError::Hashing(e.to_string()))?;
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
        if verdict == PasswordVerdict::MatchNeedsRehash {
            // The user proved the password; the stored hash is upgraded so
            // bcrypt hashes disappear as people log in.
            let new_hash = self.hash(password).await?;
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

    async fn hash(&self, password: String) -> Result<String, AccountError> {
        let hasher = self.hasher.clone();
        tokio::task::spawn_blocking(move || hasher.hash(&password))
            .await
            .map_err(|e| PasswordError::Hashing(e.to_string()))?
            .map_err(AccountError::from)
    }

    fn session(&self, user: User) -> Result<AuthSession, AccountError> {
        let token = self.jwt.issue(&user).map_err(AccountError::Unauthenticated)?;
        Ok(AuthSession { user, token })
    }
}

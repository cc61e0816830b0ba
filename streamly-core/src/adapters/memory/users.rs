use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;

use crate::domain::{NewUser, User, UserId};
use crate::ports::{ConflictField, StoreError, UserStore};

/// A [`UserStore`] in a `HashMap`.
#[derive(Debug, Default)]
pub struct MemoryUserStore {
    // A std mutex: never held across an await.
    users: Mutex<HashMap<UserId, User>>,
}

impl MemoryUserStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<UserId, User>> {
        // A panic while holding the lock cannot leave the map half-updated
        // (every critical section is a single insert or remove), so poison is harmless.
        self.users.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[async_trait]
impl UserStore for MemoryUserStore {
    async fn create(&self, new: NewUser) -> Result<User, StoreError> {
        let mut users = self.lock();
        let canonical = new.username.canonical();
        if users.values().any(|u| u.username.canonical() == canonical) {
            return Err(StoreError::Conflict(ConflictField::Username));
        }
        if users.values().any(|u| u.email == new.email) {
            return Err(StoreError::Conflict(ConflictField::Email));
        }
        let user = User {
            id: UserId::new_random(),
            username: new.username,
            email: new.email,
            password_hash: new.password_hash,
            created_at: crate::domain::now_utc(),
        };
        users.insert(user.id, user.clone());
        Ok(user)
    }

    async fn get(&self, id: UserId) -> Result<User, StoreError> {
        self.lock().get(&id).cloned().ok_or(StoreError::NotFound)
    }

    async fn find_by_login(&self, login: &str) -> Result<Option<User>, StoreError> {
        let login = login.trim().to_lowercase();
        Ok(self
            .lock()
            .values()
            .find(|u| u.username.canonical() == login || u.email.as_str() == login)
            .cloned())
    }

    async fn set_password_hash(&self, id: UserId, hash: &str) -> Result<(), StoreError> {
        let mut users = self.lock();
        let user = users.get_mut(&id).ok_or(StoreError::NotFound)?;
        user.password_hash = hash.to_owned();
        Ok(())
    }

    async fn delete(&self, id: UserId) -> Result<(), StoreError> {
        self.lock().remove(&id).map(drop).ok_or(StoreError::NotFound)
    }

    async fn ping(&self) -> Result<(), StoreError> {
        Ok(())
    }
}

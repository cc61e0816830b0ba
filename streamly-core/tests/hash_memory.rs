//! Concurrent logins cannot make password hashing take memory without
//! bound (issue 11, defect 1: 200 concurrent logins took RSS from 13 MB to
//! 3.9 GB, one argon2 block matrix of `m_cost` KiB per hash in flight).
//!
//! Its own test binary because it installs a counting global allocator and
//! reads the peak of bytes allocated by the whole process: nothing else may
//! run beside it.
#![allow(clippy::unwrap_used)]

use std::alloc::System;
use std::sync::Arc;

use cap::Cap;
use streamly_core::adapters::MemoryUserStore;
use streamly_core::auth::{JwtConfig, JwtKeys, PasswordHasher};
use streamly_core::services::Accounts;

#[global_allocator]
static ALLOCATOR: Cap<System> = Cap::new(System, usize::MAX);

/// argon2 memory per hash in this test: 8 MiB.
const M_COST_KIB: u32 = 8 * 1024;
const LOGINS: usize = 64;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixty_four_concurrent_logins_stay_under_a_memory_bound() {
    let jwt = JwtKeys::new(&JwtConfig {
        secret: vec![3; 32],
        issuer: "test".into(),
        ttl: std::time::Duration::from_secs(60),
    })
    .unwrap();
    let hasher = PasswordHasher::with_costs(M_COST_KIB, 1, 1).unwrap();
    // The default bound: one hash in flight per core.
    let accounts = Accounts::new(Arc::new(MemoryUserStore::new()), hasher, jwt);
    accounts
        .register("alice", "alice@example.com", "correct horse")
        .await
        .unwrap();

    let before = ALLOCATOR.allocated();
    let logins = (0..LOGINS).map(|i| {
        let accounts = accounts.clone();
        // Half right, half wrong: both do the full argon2 work.
        let password = if i % 2 == 0 {
            "correct horse"
        } else {
            "wrong horse!"
        };
        tokio::spawn(async move { accounts.login("alice", password).await.is_ok() })
    });
    let mut ok = 0;
    for login in logins.collect::<Vec<_>>() {
        ok += usize::from(login.await.unwrap());
    }
    let peak = ALLOCATOR.max_allocated().saturating_sub(before);

    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let per_hash = M_COST_KIB as usize * 1024;
    // `cores` block matrices, plus one of slack for everything else the test
    // allocates (tasks, tokens, the store).
    let bound = (cores + 1) * per_hash;
    eprintln!(
        "{LOGINS} concurrent logins on {cores} cores: peak {:.1} MiB above the start \
         ({:.1} MiB per hash, bound {:.1} MiB)",
        peak as f64 / 1048576.0,
        per_hash as f64 / 1048576.0,
        bound as f64 / 1048576.0,
    );
    assert_eq!(
        ok,
        LOGINS / 2,
        "every right password signed in, every wrong one did not"
    );
    assert!(
        peak <= bound,
        "peak {peak} B > bound {bound} B: hashing is not bounded to {cores} at a time"
    );
}

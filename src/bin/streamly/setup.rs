//! Start-up chores: logs, the JWT secret, migrations.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use streamly::core::adapters::sql;

use crate::args::LogFormat;

/// Logs to stderr, filtered by `RUST_LOG` (default `info`).
pub fn init_logs(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Json => logs.json().init(),
        LogFormat::Text => logs.init(),
    }
}

/// `streamly migrate`: opening the stores applies the migrations.
pub async fn migrate(database_url: &str) -> Result<()> {
    sql::connect(database_url)
        .await
        .with_context(|| format!("migrating the database {}", redact(database_url)))?;
    tracing::info!(database = %redact(database_url), "database migrated");
    Ok(())
}

/// A database URL without its credentials, for logs.
pub fn redact(url: &str) -> String {
    match (url.split_once("://"), url.rsplit_once('@')) {
        (Some((scheme, _)), Some((_, host))) => format!("{scheme}://…@{host}"),
        _ => url.to_owned(),
    }
}

/// The SQLite file a `sqlite:` URL names, if any (not for `:memory:`).
fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next().unwrap_or_default();
    (!path.is_empty() && !path.contains(":memory:")).then(|| PathBuf::from(path))
}

/// The given secret, or one generated once and kept in a file beside the
/// SQLite database (`streamly.jwt-secret` in the working directory for
/// other databases).
pub fn jwt_secret(given: Option<&str>, database_url: &str) -> Result<Vec<u8>> {
    if let Some(secret) = given.map(str::trim).filter(|s| !s.is_empty()) {
        if secret.len() < 32 {
            bail!("STREAMLY_JWT_SECRET must be at least 32 bytes long");
        }
        return Ok(secret.as_bytes().to_vec());
    }
    let file = match sqlite_path(database_url) {
        Some(db) => {
            let mut name = db.file_name().map(|n| n.to_os_string()).unwrap_or_default();
            name.push(".jwt-secret");
            db.with_file_name(name)
        }
        None => PathBuf::from("streamly.jwt-secret"),
    };
    if let Ok(existing) = std::fs::read_to_string(&file) {
        let existing = existing.trim().to_owned();
        if existing.len() >= 32 {
            tracing::info!(file = %file.display(), "using the JWT secret kept beside the database");
            return Ok(existing.into_bytes());
        }
    }
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| anyhow::anyhow!("no randomness for a JWT secret: {e}"))?;
    let secret: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    write_private(&file, &secret).with_context(|| format!("writing the JWT secret to {}", file.display()))?;
    tracing::warn!(
        file = %file.display(),
        "STREAMLY_JWT_SECRET is unset: generated a secret and saved it beside the database \
         (set STREAMLY_JWT_SECRET yourself when running several nodes)"
    );
    Ok(secret.into_bytes())
}

fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()
}

/// The host of a URL (`[::1]` kept in brackets).
pub fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    if authority.starts_with('[') {
        return authority
            .split(']')
            .next()
            .map(|h| format!("{h}]"))
            .unwrap_or_default();
    }
    authority.split(':').next().unwrap_or(authority).to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_and_redaction() {
        assert_eq!(host_of("http://example.com:8080/x"), "example.com");
        assert_eq!(host_of("http://[::1]:8080"), "[::1]");
        assert_eq!(redact("postgres://u:pw@db:5432/x"), "postgres://…@db:5432/x");
        assert_eq!(redact("sqlite://streamly.db"), "sqlite://streamly.db");
    }

    #[test]
    fn a_generated_secret_is_kept_beside_the_database() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!("sqlite://{}", dir.path().join("s.db").display());
        let first = jwt_secret(None, &url).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(first.len(), 64);
        assert_eq!(jwt_secret(None, &url).ok(), Some(first));
        assert!(jwt_secret(Some("short"), &url).is_err());
    }
}

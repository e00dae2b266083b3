//! The access-token signing secret when none is configured: made once from the OS's random
//! source and kept in the data directory, so that `boardroom serve` with no settings at all
//! is safe to expose (nobody knows the secret) and a restart keeps the issued tokens valid.

use rand::RngCore;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The file under `data_dir` that holds the generated secret.
pub const FILE_NAME: &str = "jwt_secret";

#[derive(Debug, thiserror::Error)]
pub enum SigningKeyError {
    #[error("cannot read or create the signing secret {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the signing secret in {0} is shorter than 32 characters; delete the file to make a new one (every access token then has to be renewed)")]
    TooShort(PathBuf),
}

/// The secret kept in `data_dir`, made on the first call. Two processes starting at once
/// agree: the file is created exclusively, and the loser reads the winner's.
pub fn load_or_create(data_dir: &Path) -> Result<String, SigningKeyError> {
    let path = data_dir.join(FILE_NAME);
    let io = |source| SigningKeyError::Io {
        path: path.clone(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(io)?;
    match create_exclusive(&path) {
        Ok(Some(secret)) => return Ok(secret),
        Ok(None) => {}
        Err(e) => return Err(io(e)),
    }
    let secret = std::fs::read_to_string(&path).map_err(io)?;
    let secret = secret.trim().to_string();
    if secret.len() < 32 {
        return Err(SigningKeyError::TooShort(path));
    }
    Ok(secret)
}

/// Writes a new secret to `path` unless the file exists (`Ok(None)`). Readable by its owner
/// only: whoever reads it can sign tokens for anyone.
fn create_exclusive(path: &Path) -> std::io::Result<Option<String>> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = match opts.open(path) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    let secret = hex::encode(bytes);
    file.write_all(secret.as_bytes())?;
    file.write_all(b"\n")?;
    file.sync_all()?;
    Ok(Some(secret))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let a = load_or_create(dir.path()).unwrap();
        let b = load_or_create(dir.path()).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 64);
        let other = tempfile::tempdir().unwrap();
        assert_ne!(a, load_or_create(other.path()).unwrap());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(FILE_NAME))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join(FILE_NAME), "short").unwrap();
        assert!(matches!(
            load_or_create(dir.path()),
            Err(SigningKeyError::TooShort(_))
        ));
    }
}

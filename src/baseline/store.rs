//! The baseline on disk: one JSON file, `baseline.json`, in the storage
//! directory. Written atomically (a temporary file in the same directory,
//! fsync, rename, fsync of the directory), so a crash leaves the old file or
//! the new one, never a mix. Read with a size cap. A file that is corrupt,
//! truncated or from a newer format is set aside under a new name (so the
//! operator can look at it) and the exporter starts from an empty baseline.

use super::{Baseline, FORMAT};
use crate::platform::files::{self, cap};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

pub const FILE: &str = "baseline.json";

/// Why the stored baseline was not used.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("{path} is not a baseline ({why}); set aside as {aside}")]
    Corrupt { path: PathBuf, why: String, aside: String },
    #[error("{path} has format {found}, newer than this build's {FORMAT}; set aside as {aside}")]
    Newer { path: PathBuf, found: u32, aside: String },
}

/// What loading found: the baseline to start from, and what went wrong, if anything.
pub struct Loaded {
    pub baseline: Baseline,
    pub problem: Option<LoadError>,
}

pub fn path_in(dir: &Path) -> PathBuf {
    dir.join(FILE)
}

/// Loads the baseline from `dir`; a missing file is an empty baseline, not a problem.
pub fn load(dir: &Path, now: u64) -> Loaded {
    let path = path_in(dir);
    let bytes = match files::read_bytes(&path, cap::BASELINE) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Loaded { baseline: Baseline::default(), problem: None },
        Err(source) => return Loaded { baseline: Baseline::default(), problem: Some(LoadError::Read { path, source }) },
    };
    let problem = match parse(&bytes) {
        Ok(baseline) => return Loaded { baseline, problem: None },
        Err(Parsed::Newer(found)) => {
            let aside = set_aside(&path, now);
            LoadError::Newer { path, found, aside }
        }
        Err(Parsed::Corrupt(why)) => {
            let aside = set_aside(&path, now);
            LoadError::Corrupt { path, why, aside }
        }
    };
    Loaded { baseline: Baseline::default(), problem: Some(problem) }
}

/// Reads the baseline from `dir` without touching the directory (for
/// `check`, which never writes): a missing file is an empty baseline; a bad
/// one is the error, left where it is.
pub fn read(dir: &Path) -> Result<Baseline, LoadError> {
    let path = path_in(dir);
    let bytes = match files::read_bytes(&path, cap::BASELINE) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Baseline::default()),
        Err(source) => return Err(LoadError::Read { path, source }),
    };
    let aside = "(left in place)".to_string();
    parse(&bytes).map_err(|p| match p {
        Parsed::Newer(found) => LoadError::Newer { path, found, aside },
        Parsed::Corrupt(why) => LoadError::Corrupt { path, why, aside },
    })
}

/// What tells one version of the file from another: its modification time
/// and length (every save renames a new file in). None: no file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity {
    modified: Option<std::time::SystemTime>,
    len: u64,
}

pub fn identity(dir: &Path) -> Option<Identity> {
    let m = std::fs::metadata(path_in(dir)).ok()?;
    Some(Identity { modified: m.modified().ok(), len: m.len() })
}

impl LoadError {
    /// A short, bounded label for the load status metric.
    pub fn kind(&self) -> &'static str {
        match self {
            LoadError::Read { .. } => "unreadable",
            LoadError::Corrupt { .. } => "corrupt",
            LoadError::Newer { .. } => "newer_format",
        }
    }
}

enum Parsed {
    Newer(u32),
    Corrupt(String),
}

/// Pure: the file's bytes as a baseline.
fn parse(bytes: &[u8]) -> Result<Baseline, Parsed> {
    #[derive(serde::Deserialize)]
    struct Head {
        format: u32,
    }
    let head: Head = serde_json::from_slice(bytes).map_err(|e| Parsed::Corrupt(e.to_string()))?;
    if head.format > FORMAT {
        return Err(Parsed::Newer(head.format));
    }
    if head.format == 0 {
        return Err(Parsed::Corrupt("format 0".into()));
    }
    serde_json::from_slice(bytes).map_err(|e| Parsed::Corrupt(e.to_string()))
}

/// Renames a bad file out of the way; says where it went (or why it stayed).
fn set_aside(path: &Path, now: u64) -> String {
    let aside = path.with_file_name(format!("{FILE}.bad-{now}"));
    match std::fs::rename(path, &aside) {
        Ok(()) => aside.display().to_string(),
        Err(e) => format!("(not moved: {e})"),
    }
}

/// Writes the baseline atomically and durably.
pub fn save(dir: &Path, baseline: &Baseline) -> io::Result<()> {
    let path = path_in(dir);
    let bytes = serde_json::to_vec_pretty(baseline).map_err(io::Error::other)?;
    std::fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".{FILE}.tmp{}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).open(&tmp)?;
        f.write_all(&bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, &path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
        return written;
    }
    // The rename is durable once the directory is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::baseline::{Owner, Policy};
    use std::collections::{BTreeMap, BTreeSet};

    fn some_baseline() -> Baseline {
        let mut b = Baseline::default();
        let owner = Owner { process: "sqlservr".into(), exe: None, user: Some("mssql".into()), unit: Some("mssql-server.service".into()) };
        let held = BTreeMap::from([(("tcp".to_string(), 1433), BTreeSet::from([owner]))]);
        b.observe(&held, 100, &Policy { learn_after: 0, forget_after: 10, max_ports: 10 });
        b
    }

    #[test]
    fn a_saved_baseline_loads_back_the_same() {
        let dir = tempfile::tempdir().expect("tmp");
        let b = some_baseline();
        save(dir.path(), &b).expect("save");
        let l = load(dir.path(), 1);
        assert!(l.problem.is_none());
        assert_eq!(l.baseline, b);
        assert!(load(tempfile::tempdir().expect("tmp").path(), 1).problem.is_none(), "no file: empty, no problem");
    }

    #[test]
    fn truncated_corrupt_and_newer_files_are_set_aside_not_trusted() {
        let dir = tempfile::tempdir().expect("tmp");
        let good = serde_json::to_vec(&some_baseline()).expect("json");
        let newer = String::from_utf8(good.clone()).expect("utf8").replace("\"format\":1", "\"format\":7");
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("truncated", good[..good.len() / 2].to_vec()),
            ("garbage", b"\x00\xffnot json".to_vec()),
            ("empty", Vec::new()),
            ("wrong shape", br#"{"format":1,"ports":"x"}"#.to_vec()),
            ("newer", newer.into_bytes()),
        ];
        for (i, (what, bytes)) in cases.into_iter().enumerate() {
            std::fs::write(path_in(dir.path()), &bytes).expect("write");
            let l = load(dir.path(), 1000 + i as u64);
            let problem = l.problem.unwrap_or_else(|| panic!("{what}: accepted"));
            assert_eq!(l.baseline, Baseline::default(), "{what}");
            assert_eq!(matches!(problem, LoadError::Newer { found: 7, .. }), what == "newer", "{what}: {problem}");
            assert!(!path_in(dir.path()).exists(), "{what}: the bad file was set aside");
            let aside = dir.path().join(format!("{FILE}.bad-{}", 1000 + i));
            assert_eq!(std::fs::read(&aside).expect("kept for the operator"), bytes, "{what}");
        }
    }
}

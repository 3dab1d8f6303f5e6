//! Real cgroups for tests (root only): created under the mounted
//! hierarchies (cgroup v2 and, on a hybrid host, v1's `name=systemd`), a
//! process moved in, everything moved back out and removed on drop.
#![allow(dead_code)]

use std::path::PathBuf;

/// The writable hierarchies: cgroup v2 and, on a hybrid host, v1's `name=systemd`.
pub struct Cgroups {
    v2: Option<PathBuf>,
    v1_systemd: Option<PathBuf>,
    /// Directories made, deepest last.
    made: Vec<PathBuf>,
}

impl Cgroups {
    pub fn find() -> Cgroups {
        let info = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let (mut v2, mut v1_systemd) = (None, None);
        for line in info.lines() {
            let Some((left, right)) = line.split_once(" - ") else { continue };
            let mount = left.split(' ').nth(4).map(PathBuf::from);
            let mut r = right.split(' ');
            let fstype = r.next().unwrap_or("");
            let opts = r.nth(1).unwrap_or("");
            if fstype == "cgroup2" && v2.is_none() {
                v2 = mount;
            } else if fstype == "cgroup" && opts.split(',').any(|o| o == "name=systemd") {
                v1_systemd = mount;
            }
        }
        assert!(v2.is_some() || v1_systemd.is_some(), "no cgroup2 and no name=systemd hierarchy is mounted");
        Cgroups { v2, v1_systemd, made: Vec::new() }
    }

    /// Creates `path` in each hierarchy asked for and moves `pid` into it.
    pub fn enter(&mut self, pid: u32, path: &str, v1_only: bool) {
        let roots: Vec<PathBuf> = match (v1_only, &self.v1_systemd) {
            (true, Some(v1)) => vec![v1.clone()],
            (true, None) => {
                eprintln!("no v1 name=systemd hierarchy here: {path} goes in cgroup v2 only");
                self.v2.iter().cloned().collect()
            }
            (false, _) => self.v2.iter().chain(self.v1_systemd.iter()).cloned().collect(),
        };
        for root in roots {
            let mut dir = root.clone();
            for part in path.split('/').filter(|p| !p.is_empty()) {
                dir.push(part);
                if !dir.exists() {
                    std::fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
                    self.made.push(dir.clone());
                }
            }
            std::fs::write(dir.join("cgroup.procs"), pid.to_string())
                .unwrap_or_else(|e| panic!("moving {pid} into {}: {e}", dir.display()));
        }
    }
}

impl Drop for Cgroups {
    fn drop(&mut self) {
        for dir in self.made.iter().rev() {
            // Whatever is still inside goes back to the hierarchy's root.
            let root = [&self.v2, &self.v1_systemd].into_iter().flatten().find(|r| dir.starts_with(r)).cloned();
            if let (Ok(procs), Some(root)) = (std::fs::read_to_string(dir.join("cgroup.procs")), root) {
                for pid in procs.lines() {
                    let _ = std::fs::write(root.join("cgroup.procs"), pid);
                }
            }
            let _ = std::fs::remove_dir(dir);
        }
    }
}

//! The seeded generator the generated-case tests share (xorshift64): a
//! failing case replays from the seed the test prints.
#![allow(dead_code)]

pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    pub fn between(&mut self, lo: u16, hi: u16) -> u16 {
        lo + self.below(u64::from(hi - lo) + 1) as u16
    }
    /// `n` lower-case hex digits.
    pub fn hex(&mut self, n: usize) -> String {
        (0..n).map(|_| char::from_digit((self.next() % 16) as u32, 16).unwrap_or('0')).collect()
    }
    /// A Kubernetes pod UID (8-4-4-4-12 hex digits).
    pub fn pod_uid(&mut self) -> String {
        format!("{}-{}-{}-{}-{}", self.hex(8), self.hex(4), self.hex(4), self.hex(4), self.hex(12))
    }
    /// Up to `max` bytes drawn from `alphabet`.
    pub fn text(&mut self, alphabet: &[u8], max: usize) -> Vec<u8> {
        let len = self.below(max as u64 + 1) as usize;
        (0..len).map(|_| alphabet[self.below(alphabet.len() as u64) as usize]).collect()
    }
    /// A container's cgroup path under `top`, named as one runtime names it
    /// (`kind` picks which, cycling): the kubelet's systemd driver with
    /// containerd, its cgroupfs driver, CRI-O, docker, podman.
    pub fn container_cgroup(&mut self, top: &str, kind: usize) -> Container {
        let (id, uid) = (self.hex(64), self.pod_uid());
        let slice_uid = uid.replace('-', "_");
        let (path, runtime, pod) = match kind % 5 {
            0 => (
                format!("{top}/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{slice_uid}.slice/cri-containerd-{id}.scope"),
                "containerd",
                true,
            ),
            1 => (format!("{top}/kubepods/besteffort/pod{uid}/{id}"), "cri", true),
            2 => (format!("{top}/kubepods.slice/kubepods-pod{slice_uid}.slice/crio-{id}.scope"), "cri-o", true),
            3 => (format!("{top}/system.slice/docker-{id}.scope"), "docker", false),
            _ => (format!("{top}/machine.slice/libpod-{id}.scope"), "podman", false),
        };
        Container { path, runtime, id, pod_uid: pod.then_some(uid) }
    }
}

/// A generated container cgroup and what the exporter must report for a process in it.
pub struct Container {
    pub path: String,
    pub runtime: &'static str,
    pub id: String,
    pub pod_uid: Option<String>,
}

use super::*;

const ID: &str = "4f1c9d2a7b3e5f60819a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f70";
const UID: &str = "1f2e3d4c-5b6a-4978-8a6b-5c4d3e2f1a0b";

fn c(runtime: Runtime, id: &str, pod: Option<&str>) -> Option<Container> {
    Some(Container { runtime, id: id.into(), pod_uid: pod.map(str::to_string) })
}

#[test]
fn each_runtime_and_driver_as_they_write_their_paths() {
    let u = UID.replace('-', "_");
    let cases = [
        (format!("0::/system.slice/docker-{ID}.scope\n"), c(Runtime::Docker, ID, None)),
        (format!("12:memory:/docker/{ID}\n0::/docker/{ID}\n"), c(Runtime::Docker, ID, None)),
        (
            format!("0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{u}.slice/cri-containerd-{ID}.scope\n"),
            c(Runtime::Containerd, ID, Some(UID)),
        ),
        (format!("0::/kubepods.slice/kubepods-pod{u}.slice/crio-{ID}.scope\n"), c(Runtime::Crio, ID, Some(UID))),
        (format!("0::/kubepods/besteffort/pod{UID}/{ID}\n"), c(Runtime::Cri, ID, Some(UID))),
        (format!("4:cpu,cpuacct:/kubepods/burstable/pod{UID}/crio-{ID}\n"), c(Runtime::Crio, ID, Some(UID))),
        (
            format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod{u}.slice/docker-{ID}.scope\n"),
            c(Runtime::Docker, ID, Some(UID)),
        ),
        (format!("0::/machine.slice/libpod-{ID}.scope\n"), c(Runtime::Podman, ID, None)),
        (
            format!("0::/user.slice/user-1000.slice/user@1000.service/user.slice/libpod-{ID}.scope/container\n"),
            c(Runtime::Podman, ID, None),
        ),
        ("0::/machine.slice/machine-web\\x2d1.scope/payload\n".to_string(), c(Runtime::Nspawn, "web-1", None)),
        ("0::/machine.slice/systemd-nspawn@db.service/payload\n".to_string(), c(Runtime::Nspawn, "db", None)),
    ];
    for (text, want) in cases {
        assert_eq!(parse_cgroup_container(&text), want, "{text}");
    }
}

#[test]
fn the_host_and_the_monitors_are_no_container() {
    for text in [
        "0::/system.slice/ssh.service\n".to_string(),
        "0::/\n".to_string(),
        format!("0::/machine.slice/libpod-conmon-{ID}.scope\n"),
        format!("0::/kubepods.slice/kubepods-pod{}.slice/crio-conmon-{ID}.scope\n", UID.replace('-', "_")),
        format!("0::/system.slice/docker-{}.scope\n", &ID[..63]),
        format!("0::/somewhere/{ID}\n"),
        "garbage".to_string(),
        String::new(),
        "0::/machine.slice/machine-a\rb.scope\n".to_string(),
    ] {
        assert_eq!(parse_cgroup_container(&text), None, "{text}");
    }
}

/// Generated paths: random ids, uids, QoS classes, drivers, cgroup versions
/// and surrounding noise; the parser recovers exactly what was put in, and
/// random bytes never panic it.
#[test]
fn generated_paths_give_back_what_they_were_built_from() {
    let mut rng = crate::testing::Rng::from_env("CONTAINER_SEED", 0xc0ffee);
    let mut rnd = move |n: u64| rng.below(n);
    let hex = |rnd: &mut dyn FnMut(u64) -> u64, n: usize| -> String {
        (0..n).map(|_| char::from(b"0123456789abcdef"[rnd(16) as usize])).collect()
    };
    for case in 0..2000 {
        let id = hex(&mut rnd, 64);
        let uid = format!("{}-{}-{}-{}-{}", hex(&mut rnd, 8), hex(&mut rnd, 4), hex(&mut rnd, 4), hex(&mut rnd, 4), hex(&mut rnd, 12));
        let qos = ["", "burstable", "besteffort"][rnd(3) as usize];
        let systemd = rnd(2) == 0;
        let (path, runtime, pod) = match rnd(5) {
            0 => (if systemd { format!("/system.slice/docker-{id}.scope") } else { format!("/docker/{id}") }, Runtime::Docker, None),
            1 => (format!("/machine.slice/libpod-{id}.scope"), Runtime::Podman, None),
            k => {
                let runtime = [Runtime::Containerd, Runtime::Crio, Runtime::Cri][(k - 2) as usize];
                let path = if systemd {
                    let u = uid.replace('-', "_");
                    let slice = if qos.is_empty() {
                        format!("/kubepods.slice/kubepods-pod{u}.slice")
                    } else {
                        format!("/kubepods.slice/kubepods-{qos}.slice/kubepods-{qos}-pod{u}.slice")
                    };
                    let leaf = match runtime {
                        Runtime::Containerd => format!("cri-containerd-{id}.scope"),
                        Runtime::Crio => format!("crio-{id}.scope"),
                        _ => format!("docker-{id}.scope"),
                    };
                    format!("{slice}/{leaf}")
                } else {
                    let q = if qos.is_empty() { String::new() } else { format!("/{qos}") };
                    let leaf = if runtime == Runtime::Crio { format!("crio-{id}") } else { id.clone() };
                    format!("/kubepods{q}/pod{uid}/{leaf}")
                };
                let runtime = match (systemd, runtime) {
                    (true, Runtime::Cri) => Runtime::Docker,
                    (false, Runtime::Containerd) => Runtime::Cri,
                    (_, r) => r,
                };
                (path, runtime, Some(uid.clone()))
            }
        };
        let text = if rnd(2) == 0 {
            format!("0::{path}\n")
        } else {
            format!("12:pids:{path}\n11:memory:{path}\n1:name=systemd:/system.slice/containerd.service\n")
        };
        let got = parse_cgroup_container(&text);
        assert_eq!(got, Some(Container { runtime, id: id.clone(), pod_uid: pod }), "case {case}: {text}");
        let noise: Vec<u8> = (0..rnd(200)).map(|_| rnd(256) as u8).collect();
        let _ = parse_cgroup_container(&String::from_utf8_lossy(&noise));
    }
}

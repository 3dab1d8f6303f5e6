//! node_exporter 1.5 (Debian's `prometheus-node-exporter`), the reference the
//! web tests compare against, on a loopback port; stopped on drop. Needs the
//! sibling module `exporter` (tests/common/exporter.rs).

#![allow(dead_code)]

use std::process::{Child, Command, Stdio};

pub struct NodeExporter {
    pub port: u16,
    child: Child,
}

impl NodeExporter {
    /// Listens on 127.0.0.1:`port` with only `collectors` enabled (`--collector.disable-defaults`).
    pub fn start(port: u16, collectors: &[&str]) -> NodeExporter {
        let child = Command::new("prometheus-node-exporter")
            .args([&format!("--web.listen-address=127.0.0.1:{port}"), "--collector.disable-defaults", "--log.level=error"])
            .args(collectors.iter().map(|c| format!("--collector.{c}")))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("node_exporter");
        super::exporter::wait_listening(port, "node_exporter");
        NodeExporter { port, child }
    }
}

impl Drop for NodeExporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

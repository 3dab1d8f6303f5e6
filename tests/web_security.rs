//! TLS, client certificates and basic auth from an exporter-toolkit web
//! config, checked with real openssl, curl, promtool and Prometheus.

mod common;
#[path = "common/exporter.rs"]
mod exporter;

use common::require_tool;
use exporter::{free_port, Exporter};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const PASSWORD: &str = "correct horse";

fn sh(dir: &Path, script: &str) {
    let out = Command::new("bash").arg("-c").arg(script).current_dir(dir).output().expect("bash");
    assert!(out.status.success(), "{script}\n{}", String::from_utf8_lossy(&out.stderr));
}

/// A CA, a server certificate for 127.0.0.1, a client certificate from the
/// CA, and a client certificate from another CA.
fn make_pki(dir: &Path) {
    let key = "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    sh(dir, &format!(
        "set -e
        openssl req -x509 {key} -keyout ca.key -out ca.crt -days 2 -subj /CN=portwatch-test-ca 2>/dev/null
        openssl req -x509 {key} -keyout rogue-ca.key -out rogue-ca.crt -days 2 -subj /CN=rogue-ca 2>/dev/null
        openssl req {key} -keyout server.key -out server.csr -subj /CN=localhost 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\\nextendedKeyUsage=serverAuth\\nkeyUsage=digitalSignature\\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 2 -extfile server.ext 2>/dev/null
        printf 'extendedKeyUsage=clientAuth\\nkeyUsage=digitalSignature\\n' > client.ext
        openssl req {key} -keyout client.key -out client.csr -subj /CN=prometheus 2>/dev/null
        openssl x509 -req -in client.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out client.crt -days 2 -extfile client.ext 2>/dev/null
        openssl req {key} -keyout rogue.key -out rogue.csr -subj /CN=rogue 2>/dev/null
        openssl x509 -req -in rogue.csr -CA rogue-ca.crt -CAkey rogue-ca.key -CAcreateserial -out rogue.crt -days 2 -extfile client.ext 2>/dev/null"
    ));
}

fn web_config(dir: &Path, client_auth: &str, user: &str) -> String {
    let hash = bcrypt::hash(PASSWORD, 10).expect("bcrypt");
    let path = dir.join("web.yml");
    std::fs::write(
        &path,
        format!(
            "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: {client_auth}\n  client_ca_file: ca.crt\n  min_version: TLS12\nhttp_server_config:\n  headers:\n    X-Content-Type-Options: nosniff\nbasic_auth_users:\n  {user}: {hash}\n"
        ),
    )
    .expect("write web config");
    path.display().to_string()
}

fn ready() -> bool {
    ["openssl", "curl", "promtool"].iter().all(|t| require_tool(t))
}

/// curl's HTTP code, or 0 when the connection or handshake failed.
fn curl(dir: &Path, args: &[&str]) -> u16 {
    let out = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10"])
        .args(args)
        .current_dir(dir)
        .output()
        .expect("curl");
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap_or(0)
}

#[test]
fn tls_client_certs_and_basic_auth_are_enforced() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    make_pki(d);
    let web = web_config(d, "RequireAndVerifyClientCert", "prometheus");
    let check = Command::new("promtool").args(["check", "web-config", &web]).output().expect("promtool");
    assert!(check.status.success(), "promtool check web-config: {}", String::from_utf8_lossy(&check.stderr));

    let e = Exporter::start(&["--web.config.file", &web]);
    let url = e.url("https", "/metrics");
    let good = ["--cacert", "ca.crt", "--cert", "client.crt", "--key", "client.key"];
    let auth = format!("prometheus:{PASSWORD}");
    let with = |extra: &[&str]| curl(d, &[good.as_slice(), extra, &[url.as_str()]].concat());
    assert_eq!(with(&["-u", &auth]), 200, "certificate and password");
    assert_eq!(with(&["-u", "prometheus:wrong"]), 401, "wrong password");
    assert_eq!(with(&["-u", &format!("nobody:{PASSWORD}")]), 401, "unknown user");
    assert_eq!(with(&[]), 401, "no credentials");
    assert_eq!(curl(d, &["--cacert", "ca.crt", "-u", &auth, &url]), 0, "no client certificate: handshake refused");
    assert_eq!(
        curl(d, &["--cacert", "ca.crt", "--cert", "rogue.crt", "--key", "rogue.key", "-u", &auth, &url]),
        0,
        "certificate from another CA"
    );
    assert_eq!(curl(d, &["-u", &auth, &e.url("http", "/metrics")]), 0, "plain HTTP to the TLS port fails");
    // Headers from http_server_config are sent.
    let out = Command::new("curl")
        .args(["-s", "-D", "-", "-o", "/dev/null"])
        .args(good)
        .args(["-u", &auth, &url])
        .current_dir(d)
        .output()
        .expect("curl");
    assert!(String::from_utf8_lossy(&out.stdout).to_ascii_lowercase().contains("x-content-type-options: nosniff"));
}

#[test]
fn web_config_is_reread_on_change_and_a_bad_one_is_kept_out() {
    if !ready() {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    make_pki(d);
    let web = web_config(d, "NoClientCert", "alice");
    let e = Exporter::start(&["--web.config.file", &web]);
    let url = e.url("https", "/metrics");
    let as_user = |u: &str| curl(d, &["--cacert", "ca.crt", "-u", &format!("{u}:{PASSWORD}"), &url]);
    assert_eq!(as_user("alice"), 200);
    std::thread::sleep(Duration::from_millis(1100)); // a new mtime second
    web_config(d, "NoClientCert", "bob");
    assert_eq!(as_user("bob"), 200, "the new user is accepted without a restart");
    assert_eq!(as_user("alice"), 401);
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(&web, "tls_server_config:\n  cert_file: server.crt\n  colour: red\n").expect("write");
    assert_eq!(as_user("bob"), 200, "a broken file is kept out; the last good one stays");
}

#[test]
fn bad_web_config_at_start_is_a_clear_error() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let web = tmp.path().join("web.yml");
    std::fs::write(&web, "basic_auth_users:\n  alice: not-a-hash\n").expect("write");
    let out = Command::new(env!("CARGO_BIN_EXE_portwatch_exporter"))
        .args(["--web.listen-address", &format!("127.0.0.1:{}", free_port()), "--web.config.file"])
        .arg(&web)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(err.contains("web.yml") && err.contains("not a bcrypt hash"), "{err}");
}

/// A real Prometheus scrapes it over TLS with a client certificate and basic auth.
#[test]
fn prometheus_scrapes_over_tls_with_basic_auth() {
    if !ready() || !require_tool("prometheus") {
        return;
    }
    let tmp = tempfile::tempdir().expect("tempdir");
    let d = tmp.path();
    make_pki(d);
    let web = web_config(d, "RequireAndVerifyClientCert", "prometheus");
    let e = Exporter::start(&["--web.config.file", &web]);
    let prom = common::Prometheus::start(
        d,
        &format!(
            "global: {{scrape_interval: 1s}}\nscrape_configs:\n  - job_name: portwatch\n    scheme: https\n    tls_config: {{ca_file: {0}/ca.crt, cert_file: {0}/client.crt, key_file: {0}/client.key}}\n    basic_auth: {{username: prometheus, password: '{PASSWORD}'}}\n    static_configs: [{{targets: ['127.0.0.1:{1}']}}]\n",
            d.display(),
            e.port
        ),
    );
    let (up, last) = prom.query_until("up%7Bjob%3D%22portwatch%22%7D", |a| a.contains(r#""value":["#) && a.contains(r#","1"]"#));
    assert!(up, "Prometheus target never up over TLS + basic auth: {last}");
}

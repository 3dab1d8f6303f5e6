//! Response compression: gzip when the client accepts it, as client_golang's
//! promhttp does (Prometheus always asks for it).

use flate2::write::GzEncoder;
use flate2::Compression;
use std::io::Write;

/// Whether an `Accept-Encoding` header accepts gzip (by name or `*`, q > 0).
pub fn accepts_gzip(header: Option<&str>) -> bool {
    header.unwrap_or("").split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let coding = parts.next().unwrap_or("").to_ascii_lowercase();
        let q = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(1.0, |(_, v)| v.trim().parse::<f64>().ok().filter(|q| q.is_finite()).unwrap_or(0.0));
        (coding == "gzip" || coding == "*") && q > 0.0
    })
}

/// The body gzipped; None if compression failed (then it goes out plain).
pub fn gzip(body: &[u8]) -> Option<Vec<u8>> {
    let mut enc = GzEncoder::new(Vec::with_capacity(body.len() / 4 + 64), Compression::fast());
    enc.write_all(body).ok()?;
    enc.finish().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gzip_when_accepted_and_the_body_round_trips() {
        assert!(accepts_gzip(Some("gzip")));
        assert!(accepts_gzip(Some("deflate, gzip;q=0.5")));
        assert!(accepts_gzip(Some("*")));
        assert!(!accepts_gzip(Some("gzip;q=0")));
        assert!(!accepts_gzip(Some("identity")));
        assert!(!accepts_gzip(None));
        let body = b"portwatch_port_bound{name=\"pg\"} 1\n".repeat(100);
        let z = gzip(&body).expect("compresses");
        assert!(z.len() < body.len());
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&z[..]), &mut out).expect("decodes");
        assert_eq!(out, body);
    }
}

//! Text captured from a Windows console or a pipe: UTF-16LE (with or
//! without BOM, as `cmd /u` and PowerShell redirection write), UTF-8 with or
//! without BOM, or an OEM code page. Code pages such as 932 (Japanese) or
//! 936 (Chinese) keep ASCII bytes for digits, `:`, `*` and `tcp`, and their
//! trail bytes never fall in that range, so a lossy UTF-8 decode leaves
//! everything the parsers read intact.

pub fn decode(bytes: &[u8]) -> String {
    if let Some(rest) = bytes.strip_prefix(&[0xFF, 0xFE]) {
        return utf16le(rest);
    }
    if let Some(rest) = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]) {
        return String::from_utf8_lossy(rest).into_owned();
    }
    // UTF-16LE without BOM: ASCII text has a NUL in every odd byte.
    let pairs = bytes.len() / 2;
    if pairs >= 2 && bytes.chunks_exact(2).filter(|c| c[1] == 0 && c[0] != 0).count() * 10 >= pairs * 9 {
        return utf16le(bytes);
    }
    String::from_utf8_lossy(bytes).into_owned()
}

fn utf16le(bytes: &[u8]) -> String {
    let units: Vec<u16> = bytes.chunks_exact(2).map(|c| u16::from_le_bytes([c[0], c[1]])).collect();
    String::from_utf16_lossy(&units)
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn encodings() {
        let text = "Start Port : 49152\r\n";
        let utf16: Vec<u8> = text.encode_utf16().flat_map(u16::to_le_bytes).collect();
        assert_eq!(decode(&utf16), text);
        assert_eq!(decode(&[[0xFF, 0xFE].as_slice(), &utf16].concat()), text);
        assert_eq!(decode(&[[0xEF, 0xBB, 0xBF].as_slice(), text.as_bytes()].concat()), text);
        assert_eq!(decode(text.as_bytes()), text);
        // Shift-JIS "プロトコル tcp": the ASCII part survives a lossy decode.
        let sjis = [0x83, 0x76, 0x83, 0x8D, 0x83, 0x67, 0x83, 0x52, 0x83, 0x8B, b' ', b't', b'c', b'p'];
        assert!(decode(&sjis).ends_with(" tcp"));
        assert_eq!(decode(b""), "");
    }
}

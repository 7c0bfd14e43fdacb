//! Shared by the test binaries: the RFC 5769 vectors in `shared/testdata/rfc5769/`, beside the
//! repository.

/// The bytes of one RFC 5769 vector file (hex, whitespace ignored).
pub fn vector(name: &str) -> Vec<u8> {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/rfc5769/"
    );
    let text = std::fs::read_to_string(format!("{path}{name}"))
        .unwrap_or_else(|e| panic!("reading {path}{name}: {e}"));
    let hex: String = text.split_whitespace().collect();
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}

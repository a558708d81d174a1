//! IPv4 addresses as the cluster writes them: dotted quads, held as `u32`.

/// `"10.244.3.2"` → `0x0af40302`; `None` unless it is four octets.
pub fn parse_ipv4(text: &str) -> Option<u32> {
    let mut value: u32 = 0;
    let mut parts = 0;
    for part in text.split('.') {
        let octet: u8 = part.parse().ok()?;
        value = value << 8 | u32::from(octet);
        parts += 1;
    }
    (parts == 4).then_some(value)
}

/// `0x0af40302` → `"10.244.3.2"`.
pub fn format_ipv4(ip: u32) -> String {
    format!(
        "{}.{}.{}.{}",
        ip >> 24,
        (ip >> 16) & 0xff,
        (ip >> 8) & 0xff,
        ip & 0xff
    )
}

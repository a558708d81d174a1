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

/// `0x0af40302` → `"10.244.3.2"`. Written digit by digit: every sandbox formats its IP
/// twice, and the formatting machinery cost more than the rest of RunPodSandbox.
pub fn format_ipv4(ip: u32) -> String {
    let mut text = String::with_capacity(15);
    for (position, octet) in ip.to_be_bytes().into_iter().enumerate() {
        if position > 0 {
            text.push('.');
        }
        if octet >= 100 {
            text.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            text.push(char::from(b'0' + octet / 10 % 10));
        }
        text.push(char::from(b'0' + octet % 10));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_quads_round_trip_and_match_decimal_formatting() {
        for ip in [
            0,
            1,
            9,
            10,
            99,
            100,
            255,
            0x0af4_0302,
            0xc0a8_6401,
            u32::MAX,
        ]
        .into_iter()
        .chain((0..=255).map(|octet| octet * 0x0101_0101))
        .chain((0..1000u32).map(|i| i.wrapping_mul(0x9e37_79b9)))
        {
            let text = format_ipv4(ip);
            let expected = format!(
                "{}.{}.{}.{}",
                ip >> 24,
                (ip >> 16) & 0xff,
                (ip >> 8) & 0xff,
                ip & 0xff
            );
            assert_eq!(text, expected);
            assert_eq!(parse_ipv4(&text), Some(ip));
        }
        assert_eq!(parse_ipv4("10.244.3"), None);
        assert_eq!(parse_ipv4("10.244.3.256"), None);
    }
}

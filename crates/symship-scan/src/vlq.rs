//! Base64 VLQ, the number encoding of the sourcemap `mappings` string.

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn digit(b: u8) -> Option<i64> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as i64)
}

/// Decodes one VLQ value at the start of `s`; returns the value and the bytes it used.
pub fn decode(s: &[u8]) -> Option<(i64, usize)> {
    let mut result: i64 = 0;
    let mut shift = 0u32;
    for (i, &b) in s.iter().enumerate() {
        let d = digit(b)?;
        if shift > 60 {
            return None;
        }
        result |= (d & 31) << shift;
        if d & 32 == 0 {
            let negative = result & 1 == 1;
            let magnitude = result >> 1;
            return Some((if negative { -magnitude } else { magnitude }, i + 1));
        }
        shift += 5;
    }
    None
}

/// Encodes one VLQ value.
pub fn encode(value: i64, out: &mut Vec<u8>) {
    let mut v: u64 = if value < 0 {
        ((-value as u64) << 1) | 1
    } else {
        (value as u64) << 1
    };
    loop {
        let mut d = (v & 31) as usize;
        v >>= 5;
        if v > 0 {
            d |= 32;
        }
        out.push(ALPHABET[d]);
        if v == 0 {
            break;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        for v in [0i64, 1, -1, 15, 16, -16, 309, 393, 1 << 20, -(1 << 30)] {
            let mut out = Vec::new();
            encode(v, &mut out);
            assert_eq!(decode(&out), Some((v, out.len())), "value {v}");
        }
    }

    #[test]
    fn known_values() {
        // Appendix A: a +309 shift of column 0 is "qT", +393 is "yY".
        let mut out = Vec::new();
        encode(309, &mut out);
        assert_eq!(out, b"qT");
        out.clear();
        encode(393, &mut out);
        assert_eq!(out, b"yY");
        assert_eq!(decode(b"A"), Some((0, 1)));
        assert_eq!(decode(b"D"), Some((-1, 1)));
        assert_eq!(decode(b"g"), None);
    }
}

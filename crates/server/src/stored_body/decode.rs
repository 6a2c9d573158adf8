//! Base64 decoded as it arrives in pieces, straight from the content of a JSON string (escapes
//! and all), with the size and SHA-1 of what it decodes to. The `base64` crate decodes whole
//! slices only; this keeps the partial quantum, an escape cut by a piece boundary and the padding
//! rule across pieces, which no crate does for JSON string content.

use base64::Engine;
use sha1::Digest as _;

/// Base64 characters decoded per step (a multiple of 4): bounds the buffer of undecoded text.
const STEP: usize = 64 * 1024;

/// The size and SHA-1 of a decoded body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Digest {
    /// Decoded bytes.
    pub size: u64,
    /// SHA-1 of the decoded bytes.
    pub sha1: [u8; 20],
}

/// A streaming decoder of the base64 text of a JSON string's content.
pub struct Decoder {
    /// Clean base64 characters not yet decoded.
    pending: Vec<u8>,
    /// An escape sequence begun in one piece and not yet ended.
    escape: Vec<u8>,
    /// Set once a quantum with padding is decoded: only whitespace may follow.
    padded: bool,
    /// Clean characters decoded so far, for error positions.
    decoded_chars: u64,
    /// Scratch output when the caller keeps no bytes.
    scratch: Vec<u8>,
    sha: sha1::Sha1,
    size: u64,
}

impl Default for Decoder {
    fn default() -> Self {
        Decoder {
            pending: Vec::with_capacity(STEP + 4),
            escape: Vec::new(),
            padded: false,
            decoded_chars: 0,
            scratch: Vec::new(),
            sha: sha1::Sha1::new(),
            size: 0,
        }
    }
}

impl Decoder {
    /// Feeds raw string content (as stored, escapes included); decoded bytes are appended to
    /// `out` when given.
    pub fn feed(&mut self, raw: &[u8], mut out: Option<&mut Vec<u8>>) -> Result<(), String> {
        let plain =
            self.escape.is_empty() && !raw.iter().any(|b| *b == b'\\' || b.is_ascii_whitespace());
        if plain {
            // The common case: compact base64, no escapes. Taken a step at a time.
            for part in raw.chunks(STEP) {
                self.push_clean(part)?;
                self.drain(out.as_deref_mut(), false)?;
            }
            return Ok(());
        }
        for &b in raw {
            if !self.escape.is_empty() || b == b'\\' {
                self.escape.push(b);
                if let Some(c) = self.unescape()? {
                    self.escape.clear();
                    if let Some(c) = c {
                        self.push_clean(&[c])?;
                    }
                }
            } else if !b.is_ascii_whitespace() {
                self.push_clean(&[b])?;
            }
            if self.pending.len() >= STEP {
                self.drain(out.as_deref_mut(), false)?;
            }
        }
        self.drain(out, false)
    }

    /// Decodes what is left and gives the size and SHA-1 of the whole.
    pub fn finish(mut self, out: Option<&mut Vec<u8>>) -> Result<Digest, String> {
        if !self.escape.is_empty() {
            return Err("the text ends inside an escape sequence".into());
        }
        self.drain(out, true)?;
        Ok(Digest {
            size: self.size,
            sha1: self.sha.finalize().into(),
        })
    }

    /// The character an escape sequence stands for: `Ok(None)` while it is incomplete,
    /// `Ok(Some(None))` for whitespace.
    fn unescape(&self) -> Result<Option<Option<u8>>, String> {
        let e = &self.escape;
        let Some(&kind) = e.get(1) else {
            return Ok(None);
        };
        let c = match kind {
            b'/' => b'/',
            b'n' | b'r' | b't' => return Ok(Some(None)),
            b'u' if e.len() < 6 => return Ok(None),
            b'u' => std::str::from_utf8(&e[2..6])
                .ok()
                .filter(|h| h.bytes().all(|c| c.is_ascii_hexdigit()))
                .and_then(|h| u32::from_str_radix(h, 16).ok())
                .and_then(|v| u8::try_from(v).ok())
                .filter(u8::is_ascii)
                .ok_or_else(|| self.not_base64("a \\u escape of a non-ASCII character"))?,
            _ => return Err(self.not_base64("an escape that is not whitespace or '/'")),
        };
        if c.is_ascii_whitespace() {
            return Ok(Some(None));
        }
        Ok(Some(Some(c)))
    }

    fn not_base64(&self, what: &str) -> String {
        format!(
            "invalid base64 near character {}: {what}",
            self.decoded_chars + self.pending.len() as u64
        )
    }

    fn push_clean(&mut self, chars: &[u8]) -> Result<(), String> {
        if self.padded && !chars.is_empty() {
            return Err(self.not_base64("characters after the padding"));
        }
        self.pending.extend_from_slice(chars);
        Ok(())
    }

    /// Decodes the whole quanta pending (all of it at the end).
    fn drain(&mut self, out: Option<&mut Vec<u8>>, last: bool) -> Result<(), String> {
        let n = if last {
            self.pending.len()
        } else {
            self.pending.len() / 4 * 4
        };
        if n == 0 {
            return Ok(());
        }
        if self.padded {
            return Err(self.not_base64("characters after the padding"));
        }
        let text = &self.pending[..n];
        let dest = match out {
            Some(v) => v,
            None => {
                self.scratch.clear();
                &mut self.scratch
            }
        };
        let start = dest.len();
        dest.resize(start + n / 4 * 3 + 3, 0);
        let k = base64::engine::general_purpose::STANDARD
            .decode_slice(text, &mut dest[start..])
            .map_err(|e| format!("invalid base64 near character {}: {e}", self.decoded_chars))?;
        dest.truncate(start + k);
        self.sha.update(&dest[start..]);
        self.size += k as u64;
        self.padded = text.last() == Some(&b'=');
        self.decoded_chars += n as u64;
        self.pending.drain(..n);
        Ok(())
    }
}

/// The size and SHA-1 of the bytes in-memory base64 text decodes to (for tests).
#[cfg(test)]
pub fn digest(text: &[u8]) -> Result<Digest, String> {
    let mut d = Decoder::default();
    d.feed(text, None)?;
    d.finish(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(n: u32) -> Vec<u8> {
        (0..n).map(|i| (i.wrapping_mul(7919) % 251) as u8).collect()
    }

    fn whole(bytes: &[u8]) -> Digest {
        Digest {
            size: bytes.len() as u64,
            sha1: sha1::Sha1::digest(bytes).into(),
        }
    }

    /// Decodes `text` fed in pieces of `piece` bytes, keeping the output.
    fn decode(text: &[u8], piece: usize) -> Result<(Vec<u8>, Digest), String> {
        let mut d = Decoder::default();
        let mut out = Vec::new();
        for p in text.chunks(piece) {
            d.feed(p, Some(&mut out))?;
        }
        let digest = d.finish(Some(&mut out))?;
        Ok((out, digest))
    }

    #[test]
    fn pieces_of_any_size_decode_to_the_body() {
        for n in [0, 1, 2, 3, 100, 200_000] {
            let b = body(n);
            let text = base64::engine::general_purpose::STANDARD.encode(&b);
            for piece in [1, 3, 5, 4096, 70_001, 1 << 20] {
                let (out, d) = decode(text.as_bytes(), piece).unwrap();
                assert_eq!(out, b, "{n} bytes in pieces of {piece}");
                assert_eq!(d, whole(&b));
            }
            assert_eq!(digest(text.as_bytes()).unwrap(), whole(&b));
        }
    }

    #[test]
    fn whitespace_and_json_escapes_are_read_as_json_means_them() {
        let b = body(5000);
        let text = base64::engine::general_purpose::STANDARD.encode(&b);
        // Wrapped at 76 with escaped newlines, '/' escaped, a \u escape and raw spaces.
        let mut raw = String::new();
        for (i, line) in text.as_bytes().chunks(76).enumerate() {
            let line = std::str::from_utf8(line).unwrap().replace('/', "\\/");
            if i == 3 {
                raw.push_str(&line.replacen('A', "\\u0041", 1));
            } else {
                raw.push_str(&line);
            }
            raw.push_str(if i % 2 == 0 { "\\r\\n" } else { " \\t" });
        }
        for piece in [1, 2, 7, 64, 100_000] {
            let (out, d) = decode(raw.as_bytes(), piece).unwrap();
            assert_eq!(out, b, "pieces of {piece}");
            assert_eq!(d, whole(&b));
        }
    }

    #[test]
    fn malformed_text_is_refused() {
        for bad in [
            &b"QUJD!"[..],
            b"QQ==QUJD",
            b"QUJDR",
            b"QUJ\\\"D",
            b"QUJ\\u00e9",
            b"QUJD\\u00",
        ] {
            for piece in [1, 3, 100] {
                assert!(
                    decode(bad, piece).is_err(),
                    "{:?} in pieces of {piece}",
                    bad
                );
            }
        }
        assert!(
            decode(b"QQ==  ", 2).is_ok(),
            "whitespace may follow the padding"
        );
    }
}

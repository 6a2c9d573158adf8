//! One pass over a stored Binary's JSON, fed in pieces: it finds where the content of the
//! top-level `data` string lies, decodes that content as it goes (size and SHA-1), and keeps
//! everything else — the skeleton: the Binary with `"data":""` — which the access rules and the
//! audit read. serde_json reads a document whole or through a reader without telling byte
//! offsets, so this small structural scanner is written by hand; the skeleton it keeps is parsed
//! by serde_json afterwards, so it only has to find boundaries, not validate.

use std::ops::Range;

use super::decode::{Decoder, Digest};

/// The most non-`data` JSON a Binary may carry to be served in pieces.
const SKELETON_LIMIT: usize = 1024 * 1024;

/// Where the scanner is in the top-level object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Start,
    BeforeKey,
    Key,
    AfterKey,
    BeforeValue,
    /// Inside a member value other than `data`.
    Value,
    /// Inside the content of the `data` string.
    Data,
    AfterValue,
    End,
}

/// What a finished scan found.
#[derive(Debug)]
pub struct Scanned {
    /// The JSON with the content of `data` left out.
    pub skeleton: Vec<u8>,
    /// The byte range of the content of `data` (between its quotes), if there is one.
    pub data: Option<Range<u64>>,
    /// Size and SHA-1 of the decoded content, or why it is not base64.
    pub digest: Result<Digest, String>,
}

/// The push scanner.
pub struct Scanner {
    state: State,
    depth: u32,
    in_string: bool,
    escaped: bool,
    key: Vec<u8>,
    skeleton: Vec<u8>,
    offset: u64,
    data: Option<Range<u64>>,
    decoder: Decoder,
    /// The first decoding error; the scan goes on, since the JSON may still be served as such.
    bad: Option<String>,
}

impl Default for Scanner {
    fn default() -> Self {
        Scanner {
            state: State::Start,
            depth: 0,
            in_string: false,
            escaped: false,
            key: Vec::new(),
            skeleton: Vec::new(),
            offset: 0,
            data: None,
            decoder: Decoder::default(),
            bad: None,
        }
    }
}

impl Scanner {
    /// Reads the next piece of the JSON.
    pub fn feed(&mut self, piece: &[u8]) -> Result<(), String> {
        let mut i = 0;
        while i < piece.len() {
            let at = self.offset + i as u64;
            if self.state == State::Data {
                i += self.data_run(&piece[i..], at);
                continue;
            }
            self.byte(piece[i], at)?;
            i += 1;
            if self.skeleton.len() > SKELETON_LIMIT {
                return Err(format!(
                    "more than {SKELETON_LIMIT} bytes of the Binary lie outside its data"
                ));
            }
        }
        self.offset += piece.len() as u64;
        Ok(())
    }

    /// Ends the scan.
    pub fn finish(self) -> Result<Scanned, String> {
        if self.state != State::End {
            return Err("the stored JSON ends before its top-level object does".into());
        }
        let digest = match self.bad {
            Some(e) => Err(e),
            None => self.decoder.finish(None),
        };
        Ok(Scanned {
            skeleton: self.skeleton,
            data: self.data,
            digest,
        })
    }

    /// Takes data content from `run` (which starts at byte `at`) up to its closing quote;
    /// returns the bytes used.
    fn data_run(&mut self, run: &[u8], at: u64) -> usize {
        let mut end = None;
        for (k, &b) in run.iter().enumerate() {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                end = Some(k);
                break;
            }
        }
        let content = &run[..end.unwrap_or(run.len())];
        if self.bad.is_none() {
            if let Err(e) = self.decoder.feed(content, None) {
                self.bad = Some(e);
            }
        }
        let Some(k) = end else {
            return run.len();
        };
        if let Some(r) = &mut self.data {
            r.end = at + k as u64;
        }
        self.skeleton.push(b'"');
        self.state = State::AfterValue;
        k + 1
    }

    fn byte(&mut self, b: u8, at: u64) -> Result<(), String> {
        let ws = b.is_ascii_whitespace();
        let unexpected =
            |s: State| format!("unexpected '{}' in the stored JSON ({s:?})", b as char);
        match self.state {
            State::Start | State::BeforeKey | State::AfterKey | State::AfterValue | State::End
                if ws => {}
            State::BeforeValue if ws => {}
            State::Start if b == b'{' => self.state = State::BeforeKey,
            State::BeforeKey if b == b'"' => {
                self.key.clear();
                self.state = State::Key;
            }
            State::BeforeKey if b == b'}' => self.state = State::End,
            State::Key => {
                if self.escaped {
                    self.escaped = false;
                    self.key.push(b);
                } else if b == b'\\' {
                    self.escaped = true;
                    self.key.push(b);
                } else if b == b'"' {
                    self.state = State::AfterKey;
                } else {
                    self.key.push(b);
                }
            }
            State::AfterKey if b == b':' => self.state = State::BeforeValue,
            State::BeforeValue if b == b'"' && self.key == b"data" => {
                if self.data.is_some() {
                    return Err("the stored Binary has two data members".into());
                }
                self.skeleton.push(b);
                self.state = State::Data;
                self.data = Some(at + 1..at + 1);
                return Ok(());
            }
            State::BeforeValue => {
                self.state = State::Value;
                self.depth = 0;
                self.in_string = false;
                return self.value(b);
            }
            State::Value => return self.value(b),
            State::AfterValue if b == b',' => self.state = State::BeforeKey,
            State::AfterValue if b == b'}' => self.state = State::End,
            s => return Err(unexpected(s)),
        }
        self.skeleton.push(b);
        Ok(())
    }

    /// One byte of a member value other than `data`.
    fn value(&mut self, b: u8) -> Result<(), String> {
        self.skeleton.push(b);
        if self.in_string {
            if self.escaped {
                self.escaped = false;
            } else if b == b'\\' {
                self.escaped = true;
            } else if b == b'"' {
                self.in_string = false;
                if self.depth == 0 {
                    self.state = State::AfterValue;
                }
            }
            return Ok(());
        }
        match b {
            b'"' => self.in_string = true,
            b'{' | b'[' => self.depth += 1,
            b'}' | b']' if self.depth == 0 => self.state = State::End,
            b'}' | b']' => {
                self.depth -= 1;
                if self.depth == 0 {
                    self.state = State::AfterValue;
                }
            }
            b',' if self.depth == 0 => self.state = State::BeforeKey,
            _ => {}
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use serde_json::{json, Value};

    fn scan(json: &[u8], piece: usize) -> Result<Scanned, String> {
        let mut s = Scanner::default();
        for p in json.chunks(piece.max(1)) {
            s.feed(p)?;
        }
        s.finish()
    }

    #[test]
    fn finds_the_data_wherever_it_lies_and_keeps_the_rest() {
        let body: Vec<u8> = (0..3000u32).map(|i| (i % 253) as u8).collect();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&body);
        let want = super::super::decode::digest(b64.as_bytes()).unwrap();
        let tricky = json!({"url": "x", "valueString": "a \"data\": {\"}\" ] ,", "data": "QQ=="});
        let layouts = [
            json!({"resourceType": "Binary", "data": b64, "contentType": "application/pdf"}),
            json!({"data": b64, "resourceType": "Binary", "meta": {"tag": [{"system": "s"}]}}),
            json!({"resourceType": "Binary", "extension": [tricky], "n": -1.5e3, "ok": true,
                   "nothing": null, "list": [[], {}, "]"], "data": b64}),
        ];
        for doc in layouts {
            for pretty in [false, true] {
                let text = if pretty {
                    serde_json::to_vec_pretty(&doc).unwrap()
                } else {
                    serde_json::to_vec(&doc).unwrap()
                };
                for piece in [1, 2, 7, 100, 1 << 20] {
                    let s = scan(&text, piece).unwrap();
                    let r = s.data.clone().unwrap();
                    let r = r.start as usize..r.end as usize;
                    assert_eq!(&text[r], b64.as_bytes(), "the range is the data content");
                    assert_eq!(s.digest, Ok(want));
                    let mut skeleton: Value = serde_json::from_slice(&s.skeleton).unwrap();
                    assert_eq!(skeleton["data"], json!(""));
                    skeleton["data"] = json!(b64);
                    assert_eq!(skeleton, doc, "the skeleton is the rest of the JSON");
                }
            }
        }
    }

    #[test]
    fn a_binary_without_data_has_an_empty_body() {
        let s = scan(
            br#"{"resourceType":"Binary","contentType":"text/plain"}"#,
            3,
        )
        .unwrap();
        assert!(s.data.is_none());
        assert_eq!(s.digest.unwrap().size, 0);
        let s = scan(br#"{}"#, 1).unwrap();
        assert_eq!(s.skeleton, b"{}");
    }

    #[test]
    fn bad_base64_is_reported_but_the_json_still_scans() {
        let s = scan(br#"{"resourceType":"Binary","data":"QU!D","id":"x"}"#, 4).unwrap();
        assert!(s.digest.is_err());
        assert_eq!(
            s.skeleton,
            br#"{"resourceType":"Binary","data":"","id":"x"}"#
        );
    }

    #[test]
    fn broken_json_is_refused() {
        for bad in [
            &br#"{"data":"QQ==""#[..],
            br#"{"data":"QQ==","data":"QQ=="}"#,
            br#"["data"]"#,
            br#"{"data":"QQ=="} x"#,
            br#"{"a" "b"}"#,
        ] {
            assert!(scan(bad, 5).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}

//! Document bodies served from the store a piece at a time (issue 9: "bodies are streamed, with
//! the stored hash checked on every read").
//!
//! A read of a Binary whose stored JSON is larger than [`INLINE`] never holds that JSON whole.
//! [`open`] reads it once, in [`PIECE`]-byte pieces (`Store::json_pieces`), through the scanner: that pass keeps the
//! skeleton (the Binary without its data) for the access rules and the audit, and the size and
//! SHA-1 of the decoded data for the integrity check, which runs before anything is sent. The
//! answer then streams the pieces again — as stored for FHIR JSON, decoded for the native form —
//! and decodes and hashes them once more on the way: should the bytes have changed between the
//! two passes, the stream is cut instead of ending, so a client never receives a complete
//! response with other bytes than those checked. Smaller Binaries are read whole, as any
//! resource, and run through the same scanner in memory.

mod decode;
mod scan;

use std::fmt;
use std::ops::Range;
use std::pin::Pin;
use std::sync::Arc;

use axum::body::Body;
use bytes::Bytes;
use futures_util::{Stream, StreamExt};
use zdrav_store::{DynStore, JsonKey, StoreError, StoredResource};

use decode::Decoder;
pub use decode::Digest;

use crate::binary::BinaryView;
use crate::error::ApiError;
use crate::rest::Ctx;

/// Bytes read from the store at a time.
pub const PIECE: usize = 128 * 1024;

/// A Binary whose stored JSON is larger than this is served from the store in pieces.
pub const INLINE: u64 = 256 * 1024;

/// The pieces of a stored JSON, in order.
pub type PieceStream = Pin<Box<dyn Stream<Item = Result<Bytes, StoreError>> + Send>>;

/// Stored JSON that can be read a piece at a time.
pub trait Pieces: Send + Sync + 'static {
    /// Its size in bytes.
    fn size(&self) -> u64;
    /// The JSON from byte `from` to its end, in pieces of at most [`PIECE`] bytes.
    fn pieces(&self, from: u64) -> PieceStream;
}

/// JSON held in memory (a Binary small enough to be read whole).
struct Memory(Bytes);

impl Pieces for Memory {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }

    fn pieces(&self, from: u64) -> PieceStream {
        let json = self.0.clone();
        let start = usize::try_from(from).unwrap_or(usize::MAX).min(json.len());
        let pieces = (start..json.len())
            .step_by(PIECE)
            .map(move |at| Ok(json.slice(at..(at + PIECE).min(json.len()))));
        Box::pin(futures_util::stream::iter(pieces))
    }
}

/// JSON left in the store.
struct InStore {
    store: DynStore,
    key: JsonKey,
    size: u64,
}

impl Pieces for InStore {
    fn size(&self) -> u64 {
        self.size
    }

    fn pieces(&self, from: u64) -> PieceStream {
        let rx = self.store.json_pieces(self.key, from, PIECE);
        Box::pin(futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|piece| (piece, rx))
        }))
    }
}

/// A stored Binary, scanned once: its skeleton, where its data lies and what the data decodes
/// to. Cheap to clone.
#[derive(Clone)]
pub struct StoredBinary {
    source: Arc<dyn Pieces>,
    skeleton: Bytes,
    data: Option<Range<u64>>,
    digest: Result<Digest, String>,
}

impl fmt::Debug for StoredBinary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredBinary")
            .field("size", &self.source.size())
            .field("data", &self.data)
            .field("digest", &self.digest)
            .finish_non_exhaustive()
    }
}

impl StoredBinary {
    /// Scans stored JSON, reading it a piece at a time.
    pub async fn scan(source: Arc<dyn Pieces>) -> Result<StoredBinary, String> {
        let mut scanner = scan::Scanner::default();
        let size = source.size();
        let mut pieces = source.pieces(0);
        let mut at = 0;
        while let Some(piece) = pieces.next().await {
            let piece = piece.map_err(|e| format!("reading the stored JSON at byte {at}: {e}"))?;
            scanner.feed(&piece)?;
            at += piece.len() as u64;
        }
        if at != size {
            return Err(format!("the stored JSON has {at} bytes, not {size}"));
        }
        Ok(Self::from_scan(source, scanner.finish()?))
    }

    /// Scans JSON held in memory.
    pub fn in_memory(json: Bytes) -> Result<StoredBinary, String> {
        let mut scanner = scan::Scanner::default();
        scanner.feed(&json)?;
        let scanned = scanner.finish()?;
        Ok(Self::from_scan(Arc::new(Memory(json)), scanned))
    }

    fn from_scan(source: Arc<dyn Pieces>, s: scan::Scanned) -> StoredBinary {
        StoredBinary {
            source,
            skeleton: Bytes::from(s.skeleton),
            data: s.data,
            digest: s.digest,
        }
    }

    /// The Binary's JSON with `"data":""`.
    pub fn skeleton(&self) -> &Bytes {
        &self.skeleton
    }

    /// The parts of the Binary the server looks at.
    pub fn view(&self) -> Result<BinaryView<'_>, serde_json::Error> {
        serde_json::from_slice(&self.skeleton)
    }

    /// Size and SHA-1 of the decoded data, or why the data is not base64.
    pub fn digest(&self) -> Result<Digest, &str> {
        self.digest.as_ref().copied().map_err(String::as_str)
    }

    /// The size of the stored JSON.
    pub fn json_size(&self) -> u64 {
        self.source.size()
    }

    /// The stored JSON, streamed as it is.
    pub fn json_body(&self) -> Body {
        self.body(false)
    }

    /// The decoded data, streamed (empty without data).
    pub fn native_body(&self) -> Body {
        self.body(true)
    }

    fn body(&self, native: bool) -> Body {
        let range = match (&self.data, native) {
            (Some(r), true) => r.clone(),
            (None, true) => 0..0,
            (_, false) => 0..self.source.size(),
        };
        let pump = Pump {
            pieces: self.source.pieces(range.start),
            at: range.start,
            end: range.end,
            native,
            data: self.data.clone().unwrap_or(0..0),
            decoder: Some(Decoder::default()),
            want: self.digest.clone().ok(),
        };
        Body::from_stream(futures_util::stream::unfold(pump, Pump::next))
    }
}

/// The state of one streamed answer.
struct Pump {
    pieces: PieceStream,
    at: u64,
    end: u64,
    native: bool,
    data: Range<u64>,
    /// `None` once the stream has ended.
    decoder: Option<Decoder>,
    /// What the first pass found; the second must find the same.
    want: Option<Digest>,
}

type Item = Result<Bytes, std::io::Error>;

impl Pump {
    async fn next(mut self) -> Option<(Item, Pump)> {
        self.decoder.as_ref()?;
        if self.at >= self.end {
            let decoder = self.decoder.take()?;
            let mut tail = Vec::new();
            let got = decoder.finish(self.native.then_some(&mut tail));
            let item = match (got, self.want) {
                (Ok(got), Some(want)) if got != want => Err(changed(format!(
                    "{} bytes with SHA-1 {} were checked, {} bytes with SHA-1 {} were read",
                    want.size,
                    hex(&want.sha1),
                    got.size,
                    hex(&got.sha1)
                ))),
                (Err(e), Some(_)) => Err(changed(e)),
                _ if tail.is_empty() => return None,
                _ => Ok(Bytes::from(tail)),
            };
            return Some((item, self));
        }
        let mut piece = match self.pieces.next().await {
            Some(Ok(p)) if !p.is_empty() => p,
            Some(Ok(_)) | None => {
                self.decoder = None;
                return Some((Err(changed("the stored JSON became shorter".into())), self));
            }
            Some(Err(e)) => {
                self.decoder = None;
                tracing::error!(error = %e, "reading a stored body failed while it was served");
                return Some((Err(std::io::Error::other(e.to_string())), self));
            }
        };
        // The native form stops at the end of the data.
        let left = self.end - self.at;
        if piece.len() as u64 > left {
            piece.truncate(left as usize);
        }
        let start = self.at;
        self.at += piece.len() as u64;
        let decoder = self.decoder.as_mut()?;
        let item = if self.native {
            let mut out = Vec::with_capacity(piece.len() / 4 * 3 + 3);
            match decoder.feed(&piece, Some(&mut out)) {
                Ok(()) => Ok(Bytes::from(out)),
                Err(e) => Err(e),
            }
        } else {
            let from = self.data.start.clamp(start, self.at) - start;
            let to = self.data.end.clamp(start, self.at) - start;
            match decoder.feed(&piece[from as usize..to as usize], None) {
                Ok(()) => Ok(piece),
                // Data that was not base64 on the first pass is served as stored.
                Err(_) if self.want.is_none() => Ok(piece),
                Err(e) => Err(e),
            }
        };
        match item {
            Ok(b) => Some((Ok(b), self)),
            Err(e) => {
                self.decoder = None;
                Some((Err(changed(e)), self))
            }
        }
    }
}

/// The error that cuts a stream whose bytes are no longer those checked: only damage or
/// tampering below the API causes it.
fn changed(what: String) -> std::io::Error {
    tracing::error!("a stored body changed while it was served: {what}; the answer is cut");
    std::io::Error::other(format!(
        "the stored body changed while it was served: {what}"
    ))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A version found for a read: held whole, or a large Binary left in the store.
pub enum Found {
    /// The version with its whole JSON.
    Whole(StoredResource),
    /// A large Binary: the version (without JSON) and its scan.
    Large(StoredResource, StoredBinary),
}

impl Found {
    /// The version.
    pub fn resource(&self) -> &StoredResource {
        match self {
            Found::Whole(r) | Found::Large(r, _) => r,
        }
    }

    /// The JSON the access rules read: the whole JSON, or a large Binary's skeleton.
    pub fn json(&self) -> &Bytes {
        match self {
            Found::Whole(r) => &r.json,
            Found::Large(_, b) => b.skeleton(),
        }
    }
}

/// Finds the current version (`version` `None`) or one version of `Binary/id`, leaving a large
/// body in the store. A large Binary that does not scan (no such JSON is written through the
/// API) is read whole instead, with a warning.
pub async fn open(ctx: &Ctx, id: &str, version: Option<u64>) -> Result<Option<Found>, ApiError> {
    let Some(o) = ctx.store.open("Binary", id, version, INLINE).await? else {
        return Ok(None);
    };
    if o.whole {
        return Ok(Some(Found::Whole(o.resource)));
    }
    let source = Arc::new(InStore {
        store: ctx.store.clone(),
        key: o.key,
        size: o.len,
    });
    match StoredBinary::scan(source).await {
        Ok(b) => Ok(Some(Found::Large(o.resource, b))),
        Err(e) => {
            tracing::warn!(binary = %id, error = %e, "a large Binary is read whole");
            let whole = match version {
                None => ctx.store.read("Binary", id).await?,
                Some(v) => ctx.store.vread("Binary", id, v).await?,
            };
            Ok(whole.map(Found::Whole))
        }
    }
}

#[cfg(test)]
mod tests;

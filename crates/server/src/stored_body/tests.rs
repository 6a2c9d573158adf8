use std::sync::Mutex;

use base64::Engine;
use sha1::Digest as _;

use super::*;

/// Stored JSON in a test, which can be changed in place (as damage below the API would)
/// between the scan and the answer.
struct Fake {
    json: Mutex<Vec<u8>>,
}

struct Shared(Arc<Fake>);

impl Pieces for Shared {
    fn size(&self) -> u64 {
        self.0.json.lock().unwrap().len() as u64
    }

    /// Each piece is cut from what is stored when it is read.
    fn pieces(&self, from: u64) -> PieceStream {
        let fake = Arc::clone(&self.0);
        Box::pin(futures_util::stream::unfold(from as usize, move |at| {
            let json = fake.json.lock().unwrap();
            let end = (at + PIECE).min(json.len());
            let piece = (at < end).then(|| (Ok(Bytes::copy_from_slice(&json[at..end])), end));
            std::future::ready(piece)
        }))
    }
}

fn document(size: usize) -> (Vec<u8>, Vec<u8>) {
    let body: Vec<u8> = (0..size).map(|i| (i * 31 % 256) as u8).collect();
    let json = serde_json::to_vec(&serde_json::json!({
        "resourceType": "Binary",
        "id": "b1",
        "contentType": "application/pdf",
        "data": base64::engine::general_purpose::STANDARD.encode(&body),
        "securityContext": {"reference": "DocumentReference/d1"},
    }))
    .unwrap();
    (body, json)
}

async fn scanned(json: Vec<u8>) -> (Arc<Fake>, StoredBinary) {
    let fake = Arc::new(Fake {
        json: Mutex::new(json),
    });
    let b = StoredBinary::scan(Arc::new(Shared(Arc::clone(&fake))))
        .await
        .unwrap();
    (fake, b)
}

/// Collects a streamed body and the size of its largest chunk.
async fn collect(body: Body) -> Result<(Vec<u8>, usize), String> {
    use futures_util::StreamExt;
    let mut stream = body.into_data_stream();
    let (mut all, mut largest) = (Vec::new(), 0);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| e.to_string())?;
        largest = largest.max(chunk.len());
        all.extend_from_slice(&chunk);
    }
    Ok((all, largest))
}

#[tokio::test]
async fn a_large_body_is_read_and_served_in_pieces() {
    let (body, json) = document(3_000_000);
    let (_, b) = scanned(json.clone()).await;
    let digest = b.digest().unwrap();
    assert_eq!(digest.size, body.len() as u64);
    assert_eq!(digest.sha1, <[u8; 20]>::from(sha1::Sha1::digest(&body)));
    let view = b.view().unwrap();
    assert_eq!(view.content_type.as_deref(), Some("application/pdf"));
    assert_eq!(
        view.security_context.and_then(|s| s.reference).as_deref(),
        Some("DocumentReference/d1")
    );
    assert!(b.skeleton().len() < 200, "the skeleton holds no data");

    let (served, largest) = collect(b.json_body()).await.unwrap();
    assert_eq!(served, json, "the JSON form is the stored JSON");
    assert!(largest <= PIECE);
    let (decoded, largest) = collect(b.native_body()).await.unwrap();
    assert_eq!(decoded, body, "the native form is the decoded data");
    assert!(largest <= PIECE);
}

#[tokio::test]
async fn a_body_changed_after_its_check_is_cut_off() {
    let (_, json) = document(1_000_000);
    let at = json.len() / 2;
    for native in [false, true] {
        let (fake, b) = scanned(json.clone()).await;
        // Damage in the middle of the data, after the check and before the answer.
        {
            let mut stored = fake.json.lock().unwrap();
            stored[at] = if stored[at] == b'A' { b'B' } else { b'A' };
        }
        let body = if native {
            b.native_body()
        } else {
            b.json_body()
        };
        let e = collect(body).await.unwrap_err();
        assert!(e.contains("changed while it was served"), "{e}");
    }
    let (fake, b) = scanned(json.clone()).await;
    fake.json.lock().unwrap().truncate(at);
    assert!(collect(b.json_body()).await.is_err(), "a shortened body");
}

#[tokio::test]
async fn small_bodies_take_the_same_path_in_memory() {
    let (body, json) = document(5000);
    let b = StoredBinary::in_memory(Bytes::from(json.clone())).unwrap();
    assert_eq!(b.json_size(), json.len() as u64);
    assert_eq!(collect(b.native_body()).await.unwrap().0, body);
    assert_eq!(collect(b.json_body()).await.unwrap().0, json);
    let none =
        StoredBinary::in_memory(Bytes::from_static(br#"{"resourceType":"Binary"}"#)).unwrap();
    assert_eq!(none.digest().unwrap().size, 0);
    assert!(collect(none.native_body()).await.unwrap().0.is_empty());
}

#[tokio::test]
async fn bad_base64_is_served_as_json_but_known_as_bad() {
    let json = br#"{"resourceType":"Binary","data":"QU!D"}"#;
    let b = StoredBinary::in_memory(Bytes::from_static(json)).unwrap();
    assert!(b.digest().is_err());
    assert_eq!(collect(b.json_body()).await.unwrap().0, json);
}

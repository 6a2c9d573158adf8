//! Walking raw DER, where the exact signed bytes matter: `der`'s SET OF decoding sorts its
//! elements, so re-encoding a parsed SignerInfo could differ from what was signed.

use der::{AnyRef, Decode, Reader, SliceReader, Tag, Tagged};

/// The TLV encodings of the elements inside a constructed value, in their original order.
pub(crate) fn elements(value: &[u8]) -> der::Result<Vec<&[u8]>> {
    let mut reader = SliceReader::new(value)?;
    let mut out = Vec::new();
    while !reader.is_finished() {
        out.push(reader.tlv_bytes()?);
    }
    Ok(out)
}

/// The tag and value octets of one TLV (which must span all of `tlv`).
pub(crate) fn split(tlv: &[u8]) -> der::Result<(Tag, &[u8])> {
    let any = AnyRef::from_der(tlv)?;
    Ok((any.tag(), any.value()))
}

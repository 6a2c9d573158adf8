//! Object identifiers this crate recognises.

use const_oid::ObjectIdentifier as Oid;

/// id-signedData (RFC 5652).
pub(crate) const SIGNED_DATA: Oid = Oid::new_unwrap("1.2.840.113549.1.7.2");
/// id-contentType signed attribute.
pub(crate) const CONTENT_TYPE: Oid = Oid::new_unwrap("1.2.840.113549.1.9.3");
/// id-messageDigest signed attribute.
pub(crate) const MESSAGE_DIGEST: Oid = Oid::new_unwrap("1.2.840.113549.1.9.4");
/// id-signingTime signed attribute.
pub(crate) const SIGNING_TIME: Oid = Oid::new_unwrap("1.2.840.113549.1.9.5");

/// id-tc26-gost3411-12-256 (Streebog-256).
pub(crate) const STREEBOG_256: Oid = Oid::new_unwrap("1.2.643.7.1.1.2.2");
/// id-tc26-gost3411-12-512 (Streebog-512).
pub(crate) const STREEBOG_512: Oid = Oid::new_unwrap("1.2.643.7.1.1.2.3");
/// id-sha256.
pub(crate) const SHA_256: Oid = Oid::new_unwrap("2.16.840.1.101.3.4.2.1");

/// id-tc26-gost3410-12-256: GOST R 34.10-2012 256-bit public key (also used as the signature
/// algorithm in SignerInfo by OpenSSL and CryptoPro).
pub(crate) const GOST_256_KEY: Oid = Oid::new_unwrap("1.2.643.7.1.1.1.1");
/// id-tc26-gost3410-12-512: GOST R 34.10-2012 512-bit public key.
pub(crate) const GOST_512_KEY: Oid = Oid::new_unwrap("1.2.643.7.1.1.1.2");
/// id-tc26-signwithdigest-gost3410-12-256.
pub(crate) const GOST_256_SIGN: Oid = Oid::new_unwrap("1.2.643.7.1.1.3.2");
/// id-tc26-signwithdigest-gost3410-12-512.
pub(crate) const GOST_512_SIGN: Oid = Oid::new_unwrap("1.2.643.7.1.1.3.3");

/// id-ecPublicKey.
pub(crate) const EC_PUBLIC_KEY: Oid = Oid::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 / secp256r1.
pub(crate) const P256: Oid = Oid::new_unwrap("1.2.840.10045.3.1.7");
/// ecdsa-with-SHA256.
pub(crate) const ECDSA_SHA256: Oid = Oid::new_unwrap("1.2.840.10045.4.3.2");

/// СНИЛС (OID.1.2.643.100.3, OpenSSL short name SNILS).
pub(crate) const SNILS: Oid = Oid::new_unwrap("1.2.643.100.3");
/// ОГРН (OID.1.2.643.100.1, OGRN).
pub(crate) const OGRN: Oid = Oid::new_unwrap("1.2.643.100.1");
/// ИНН (OID.1.2.643.3.131.1.1, INN).
pub(crate) const INN: Oid = Oid::new_unwrap("1.2.643.3.131.1.1");
/// ИНН ЮЛ (OID.1.2.643.100.4, INNLE): a legal entity's INN.
pub(crate) const INN_LE: Oid = Oid::new_unwrap("1.2.643.100.4");
/// commonName.
pub(crate) const COMMON_NAME: Oid = Oid::new_unwrap("2.5.4.3");
/// surname.
pub(crate) const SURNAME: Oid = Oid::new_unwrap("2.5.4.4");
/// givenName (in Russian certificates: first name and patronymic).
pub(crate) const GIVEN_NAME: Oid = Oid::new_unwrap("2.5.4.42");
/// subjectKeyIdentifier extension.
pub(crate) const SUBJECT_KEY_ID: Oid = Oid::new_unwrap("2.5.29.14");
/// authorityKeyIdentifier extension.
pub(crate) const AUTHORITY_KEY_ID: Oid = Oid::new_unwrap("2.5.29.35");
/// basicConstraints extension.
pub(crate) const BASIC_CONSTRAINTS: Oid = Oid::new_unwrap("2.5.29.19");
/// keyUsage extension.
pub(crate) const KEY_USAGE: Oid = Oid::new_unwrap("2.5.29.15");

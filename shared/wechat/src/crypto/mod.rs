//! WeChat protocol cryptography, one submodule per party we talk to.
//!
//! - [`official_account`]: Service Account URL verification and message signatures, safe-mode (WXBizMsgCrypt) AES.
//! - [`mini_program`]: `rawData` signature, `encryptedData` decryption, login-state HMAC.
//! - [`pay`]: WeChat Pay API v3 RSA signatures, Authorization header, notification verification, AEAD resources.
//!
//! Every function that reads network input returns `Result`; signature comparisons are constant-time.

pub mod mini_program;
pub mod official_account;
pub mod pay;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use cbc::cipher::generic_array::GenericArray;
use cbc::cipher::{BlockDecryptMut, BlockEncryptMut};
use subtle::ConstantTimeEq as _;

use crate::WechatError;

/// Standard base64 with padding, the only alphabet WeChat uses.
pub(crate) fn base64_encode(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Decodes standard base64, naming the protocol field on failure.
pub(crate) fn base64_decode(field: &'static str, text: &str) -> Result<Vec<u8>, WechatError> {
    STANDARD.decode(text.trim()).map_err(|_| WechatError::InvalidBase64 { field })
}

/// Compares a computed SHA-1 digest with a hex signature from the wire in constant time.
///
/// Decoding the received hex first (either case) means only the digest bytes are compared.
pub(crate) fn verify_hex_digest(expected: &[u8], received_hex: &str) -> Result<(), WechatError> {
    let received = hex::decode(received_hex.trim()).map_err(|_| WechatError::SignatureMismatch)?;
    if received.len() == expected.len() && bool::from(received.ct_eq(expected)) {
        Ok(())
    } else {
        Err(WechatError::SignatureMismatch)
    }
}

/// Removes PKCS#7-style padding whose value may go up to `unit` (32 for safe mode, 16 for standard PKCS#7).
pub(crate) fn strip_padding(plain: &[u8], unit: usize) -> Result<&[u8], WechatError> {
    let &last = plain.last().ok_or(WechatError::BadPadding)?;
    let n = usize::from(last);
    if n == 0 || n > unit || n > plain.len() {
        return Err(WechatError::BadPadding);
    }
    let (data, pad) = plain.split_at(plain.len() - n);
    if pad.iter().any(|&b| b != last) {
        return Err(WechatError::BadPadding);
    }
    Ok(data)
}

/// CBC-encrypts block-aligned data in place; each mode (32-byte WeChat padding, PKCS#7) pads before calling.
///
/// Block-by-block calls cannot fail, unlike the padded helpers of `cipher`, so no panic path exists.
pub(crate) fn cbc_encrypt_in_place<C: BlockEncryptMut>(mut cipher: C, buf: &mut [u8]) {
    debug_assert_eq!(buf.len() % C::block_size(), 0, "caller pads to whole blocks");
    for block in buf.chunks_exact_mut(C::block_size()) {
        cipher.encrypt_block_mut(GenericArray::from_mut_slice(block));
    }
}

/// CBC-decrypts in place; rejects data that is empty or not whole blocks instead of panicking.
pub(crate) fn cbc_decrypt_in_place<C: BlockDecryptMut>(mut cipher: C, buf: &mut [u8]) -> Result<(), WechatError> {
    if buf.is_empty() || buf.len() % C::block_size() != 0 {
        return Err(WechatError::MalformedCiphertext { reason: "length is not a positive multiple of 16" });
    }
    for block in buf.chunks_exact_mut(C::block_size()) {
        cipher.decrypt_block_mut(GenericArray::from_mut_slice(block));
    }
    Ok(())
}

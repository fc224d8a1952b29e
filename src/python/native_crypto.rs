//! `_ucrypto`: the native half of `crypto`/`ucrypto` (`lib/ucrypto.py`), firmware 1.20.2's
//! `esp32/mods/moducrypto.c`.
//!
//! * `AESCipher`: the object `crypto.AES(...)` returns. The ESP32's AES engine does the blocks
//!   there; here the `aes` crate does. The chaining is mbedTLS's (`esp_aes_crypt_cbc`,
//!   `_cfb128`, `_cfb8`, `_ctr`), with its state: one IV (or counter) register, one keystream
//!   block and one offset per object, shared by `encrypt` and `decrypt`, so a second call goes on
//!   where the first stopped, as on the module.
//! * `rsa_sign`, `rsa_encrypt`, `rsa_decrypt`: mbedTLS's `pk` calls of `generate_rsa_signature`,
//!   `rsa_encrypt` and `rsa_decrypt` (PEM keys, PKCS#1 v1.5), with its error codes.
//!
//! The Python layer checks the arguments and words the errors as the firmware does; this side
//! gets bytes.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};

use rustpython_vm::builtins::PyStr;
use rustpython_vm::function::ArgBytesLike;
use rustpython_vm::{PyObjectRef, PyResult, TryFromObject, VirtualMachine};

pub(crate) use ucrypto::module_def;

/// The bytes of `obj` as `mp_get_buffer_raise` reads them: a `str` gives its UTF-8, anything
/// with the buffer protocol its bytes.
pub fn buffer_bytes(obj: &PyObjectRef, vm: &VirtualMachine) -> PyResult<Vec<u8>> {
    if let Some(s) = obj.downcast_ref::<PyStr>() {
        return Ok(s.as_bytes().to_vec());
    }
    ArgBytesLike::try_from_object(vm, obj.clone())
        .map(|b| b.borrow_buf().to_vec())
        .map_err(|_| vm.new_type_error("object with buffer protocol required"))
}

/// The firmware's `crypt_mode_t`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Ecb,
    Cbc,
    Cfb8,
    Cfb128,
    Ctr,
}

/// An AES key of one of the three sizes.
#[derive(Clone)]
enum Key {
    K128(aes::Aes128),
    K192(aes::Aes192),
    K256(aes::Aes256),
}

impl Key {
    fn new(key: &[u8]) -> Option<Self> {
        use aes::cipher::KeyInit;
        match key.len() {
            16 => aes::Aes128::new_from_slice(key).ok().map(Key::K128),
            24 => aes::Aes192::new_from_slice(key).ok().map(Key::K192),
            32 => aes::Aes256::new_from_slice(key).ok().map(Key::K256),
            _ => None,
        }
    }

    fn encrypt(&self, block: &mut [u8; 16]) {
        use aes::cipher::BlockEncrypt;
        let b = aes::Block::from_mut_slice(block);
        match self {
            Key::K128(k) => k.encrypt_block(b),
            Key::K192(k) => k.encrypt_block(b),
            Key::K256(k) => k.encrypt_block(b),
        }
    }

    fn decrypt(&self, block: &mut [u8; 16]) {
        use aes::cipher::BlockDecrypt;
        let b = aes::Block::from_mut_slice(block);
        match self {
            Key::K128(k) => k.decrypt_block(b),
            Key::K192(k) => k.decrypt_block(b),
            Key::K256(k) => k.decrypt_block(b),
        }
    }
}

/// One cipher object's state, as `mp_obj_AES_t` keeps it.
pub struct Aes {
    key: Key,
    mode: Mode,
    /// The IV (CBC, CFB) or the counter (CTR), updated by every call.
    iv: [u8; 16],
    /// CTR's keystream block.
    stream: [u8; 16],
    /// Bytes of the current block used (CFB-128, CTR).
    offset: usize,
}

/// What `encrypt`/`decrypt` raise for a length ECB and CBC cannot take.
pub const BAD_LENGTH: &str = "Input strings must be a multiple of 16 in length";

impl Aes {
    /// None unless `key` is 16, 24 or 32 bytes long.
    pub fn new(key: &[u8], mode: Mode, iv: [u8; 16]) -> Option<Self> {
        Some(Aes {
            key: Key::new(key)?,
            mode,
            iv,
            stream: [0; 16],
            offset: 0,
        })
    }

    /// `input` encrypted (`encrypt`) or decrypted, the state moved on; Err for a length the
    /// mode cannot take.
    pub fn crypt(&mut self, encrypt: bool, input: &[u8]) -> Result<Vec<u8>, &'static str> {
        let mut out = Vec::with_capacity(input.len());
        match self.mode {
            Mode::Ecb | Mode::Cbc if !input.len().is_multiple_of(16) => return Err(BAD_LENGTH),
            Mode::Ecb => {
                for chunk in input.chunks_exact(16) {
                    let mut block: [u8; 16] = chunk.try_into().unwrap_or([0; 16]);
                    if encrypt {
                        self.key.encrypt(&mut block);
                    } else {
                        self.key.decrypt(&mut block);
                    }
                    out.extend_from_slice(&block);
                }
            }
            Mode::Cbc => {
                for chunk in input.chunks_exact(16) {
                    let given: [u8; 16] = chunk.try_into().unwrap_or([0; 16]);
                    let mut block = given;
                    if encrypt {
                        xor(&mut block, &self.iv);
                        self.key.encrypt(&mut block);
                        self.iv = block;
                    } else {
                        self.key.decrypt(&mut block);
                        xor(&mut block, &self.iv);
                        self.iv = given;
                    }
                    out.extend_from_slice(&block);
                }
            }
            Mode::Cfb128 => {
                for &byte in input {
                    if self.offset == 0 {
                        self.key.encrypt(&mut self.iv);
                    }
                    let c = byte ^ self.iv[self.offset];
                    out.push(c);
                    self.iv[self.offset] = if encrypt { c } else { byte };
                    self.offset = (self.offset + 1) % 16;
                }
            }
            Mode::Cfb8 => {
                for &byte in input {
                    let mut pad = self.iv;
                    self.key.encrypt(&mut pad);
                    let c = pad[0] ^ byte;
                    out.push(c);
                    self.iv.copy_within(1.., 0);
                    self.iv[15] = if encrypt { c } else { byte };
                }
            }
            Mode::Ctr => {
                for &byte in input {
                    if self.offset == 0 {
                        self.stream = self.iv;
                        self.key.encrypt(&mut self.stream);
                        for b in self.iv.iter_mut().rev() {
                            *b = b.wrapping_add(1);
                            if *b != 0 {
                                break;
                            }
                        }
                    }
                    out.push(byte ^ self.stream[self.offset]);
                    self.offset = (self.offset + 1) % 16;
                }
            }
        }
        Ok(out)
    }
}

fn xor(block: &mut [u8; 16], with: &[u8; 16]) {
    for (b, w) in block.iter_mut().zip(with) {
        *b ^= w;
    }
}

/// Random bytes for RSA's padding and blinding, drawn as `os.urandom` draws them (the
/// firmware seeds mbedTLS's CTR-DRBG from the ESP32's RNG).
struct DeviceRng {
    state: RandomState,
    counter: Cell<u64>,
}

impl DeviceRng {
    fn new() -> Self {
        DeviceRng {
            state: RandomState::new(),
            counter: Cell::new(0),
        }
    }
}

impl rand_core::RngCore for DeviceRng {
    fn next_u32(&mut self) -> u32 {
        self.next_u64() as u32
    }

    fn next_u64(&mut self) -> u64 {
        let c = self.counter.get().wrapping_add(1);
        self.counter.set(c);
        let mut h = self.state.build_hasher();
        h.write_u64(c);
        h.finish()
    }

    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let word = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&word[..chunk.len()]);
        }
    }

    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl rand_core::CryptoRng for DeviceRng {}

/// mbedTLS error codes the firmware prints (their negation, as `0x%X` of `-rc`).
pub mod mbedtls {
    /// `MBEDTLS_ERR_PK_KEY_INVALID_FORMAT`: what `mbedtls_pk_parse_key` gives text that is no
    /// private key.
    pub const PK_KEY_INVALID_FORMAT: i32 = 0x3D00;
    /// `MBEDTLS_ERR_PK_KEY_INVALID_FORMAT + MBEDTLS_ERR_ASN1_UNEXPECTED_TAG`: what
    /// `mbedtls_pk_parse_public_key` gives text that is no public key.
    pub const PK_PUBKEY_INVALID: i32 = 0x3D62;
    /// `MBEDTLS_ERR_RSA_BAD_INPUT_DATA`.
    pub const RSA_BAD_INPUT_DATA: i32 = 0x4080;
    /// `MBEDTLS_ERR_RSA_INVALID_PADDING`.
    pub const RSA_INVALID_PADDING: i32 = 0x4100;
    /// `MBEDTLS_ERR_RSA_OUTPUT_TOO_LARGE`.
    pub const RSA_OUTPUT_TOO_LARGE: i32 = 0x4400;
}

/// The text of a key as `mbedtls_pk_parse_*` reads it: up to the first NUL (the firmware passes
/// `strlen(key) + 1`).
fn key_text(key: &[u8]) -> &str {
    let end = key.iter().position(|&b| b == 0).unwrap_or(key.len());
    std::str::from_utf8(&key[..end]).unwrap_or("")
}

/// A private key in PEM (PKCS#1 `RSA PRIVATE KEY` or PKCS#8 `PRIVATE KEY`).
pub fn private_key(key: &[u8]) -> Result<rsa::RsaPrivateKey, i32> {
    use rsa::pkcs1::DecodeRsaPrivateKey;
    use rsa::pkcs8::DecodePrivateKey;
    let text = key_text(key).trim();
    rsa::RsaPrivateKey::from_pkcs1_pem(text)
        .or_else(|_| rsa::RsaPrivateKey::from_pkcs8_pem(text))
        .map_err(|_| mbedtls::PK_KEY_INVALID_FORMAT)
}

/// A public key in PEM (`PUBLIC KEY`, or PKCS#1 `RSA PUBLIC KEY`).
pub fn public_key(key: &[u8]) -> Result<rsa::RsaPublicKey, i32> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::pkcs8::DecodePublicKey;
    let text = key_text(key).trim();
    rsa::RsaPublicKey::from_public_key_pem(text)
        .or_else(|_| rsa::RsaPublicKey::from_pkcs1_pem(text))
        .map_err(|_| mbedtls::PK_PUBKEY_INVALID)
}

/// `mbedtls_pk_sign(MBEDTLS_MD_SHA256)` of `message` up to its first NUL: PKCS#1 v1.5.
pub fn sign(message: &[u8], key: &rsa::RsaPrivateKey) -> Result<Vec<u8>, i32> {
    use sha2::Digest;
    let end = message
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(message.len());
    let digest = sha2::Sha256::digest(&message[..end]);
    key.sign_with_rng(
        &mut DeviceRng::new(),
        rsa::Pkcs1v15Sign::new::<sha2::Sha256>(),
        &digest,
    )
    .map_err(|_| mbedtls::RSA_BAD_INPUT_DATA)
}

/// `mbedtls_pk_encrypt` into a buffer of `message.len() + 256` bytes: PKCS#1 v1.5.
pub fn encrypt(message: &[u8], key: &rsa::RsaPublicKey) -> Result<Vec<u8>, i32> {
    use rsa::traits::PublicKeyParts;
    let size = key.size();
    if size > message.len() + 256 {
        return Err(mbedtls::RSA_OUTPUT_TOO_LARGE);
    }
    if message.len() + 11 > size {
        return Err(mbedtls::RSA_BAD_INPUT_DATA);
    }
    key.encrypt(&mut DeviceRng::new(), rsa::Pkcs1v15Encrypt, message)
        .map_err(|_| mbedtls::RSA_BAD_INPUT_DATA)
}

/// `mbedtls_pk_decrypt`: PKCS#1 v1.5.
pub fn decrypt(message: &[u8], key: &rsa::RsaPrivateKey) -> Result<Vec<u8>, i32> {
    use rsa::traits::PublicKeyParts;
    if message.len() != key.size() {
        return Err(mbedtls::RSA_BAD_INPUT_DATA);
    }
    key.decrypt_blinded(&mut DeviceRng::new(), rsa::Pkcs1v15Encrypt, message)
        .map_err(|_| mbedtls::RSA_INVALID_PADDING)
}

#[rustpython_vm::pymodule(name = "_ucrypto")]
mod ucrypto {
    use rustpython_vm::builtins::{PyBytes, PyTypeRef};
    use rustpython_vm::common::lock::PyMutex;
    use rustpython_vm::function::FuncArgs;
    use rustpython_vm::{PyObjectRef, PyPayload, PyResult, VirtualMachine, pyclass};

    use super::{Aes, Mode, buffer_bytes};

    /// The firmware's type is plain `AESCipher` (`<class 'AESCipher'>`), of no module.
    pub(crate) fn module_exec(
        vm: &VirtualMachine,
        module: &rustpython_vm::Py<rustpython_vm::builtins::PyModule>,
    ) -> PyResult<()> {
        __module_exec(vm, module);
        let class = module.get_attr("AESCipher", vm)?;
        if let Some(class) = class.downcast_ref::<rustpython_vm::builtins::PyType>() {
            class.set_attr(
                vm.ctx.intern_str("__module__"),
                vm.ctx.new_str("builtins").into(),
            );
        }
        Ok(())
    }

    /// What `crypto.AES(...)` returns.
    #[pyattr]
    #[pyclass(module = false, name = "AESCipher")]
    #[derive(PyPayload)]
    pub struct AesCipher {
        state: PyMutex<Aes>,
    }

    impl std::fmt::Debug for AesCipher {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("AESCipher")
        }
    }

    #[pyclass]
    impl AesCipher {
        #[pyslot]
        fn slot_new(_cls: PyTypeRef, _args: FuncArgs, vm: &VirtualMachine) -> PyResult {
            Err(vm.new_type_error("cannot create 'AESCipher' instances"))
        }

        #[pymethod]
        fn encrypt(&self, data: PyObjectRef, vm: &VirtualMachine) -> PyResult<PyBytes> {
            self.crypt(true, data, vm)
        }

        #[pymethod]
        fn decrypt(&self, data: PyObjectRef, vm: &VirtualMachine) -> PyResult<PyBytes> {
            self.crypt(false, data, vm)
        }
    }

    impl AesCipher {
        fn crypt(
            &self,
            encrypt: bool,
            data: PyObjectRef,
            vm: &VirtualMachine,
        ) -> PyResult<PyBytes> {
            let input = buffer_bytes(&data, vm)?;
            self.state
                .lock()
                .crypt(encrypt, &input)
                .map(PyBytes::from)
                .map_err(|e| vm.new_value_error(e))
        }
    }

    /// A cipher on checked arguments: `mode` 1 (ECB), 2 (CBC), 3 (CFB), 6 (CTR); `segment` 8
    /// or 128 for CFB; `iv` the IV, or the initial counter for CTR.
    #[pyfunction]
    fn aes(
        key: PyObjectRef,
        mode: i32,
        iv: PyObjectRef,
        segment: i32,
        vm: &VirtualMachine,
    ) -> PyResult<AesCipher> {
        let key = buffer_bytes(&key, vm)?;
        let iv: [u8; 16] = buffer_bytes(&iv, vm)?
            .try_into()
            .map_err(|_| vm.new_value_error("IV must be 16 bytes long"))?;
        let mode = match (mode, segment) {
            (1, _) => Mode::Ecb,
            (2, _) => Mode::Cbc,
            (3, 128) => Mode::Cfb128,
            (3, _) => Mode::Cfb8,
            (6, _) => Mode::Ctr,
            _ => return Err(vm.new_value_error(format!("Unknown cipher feedback mode {mode}"))),
        };
        let aes = Aes::new(&key, mode, iv)
            .ok_or_else(|| vm.new_value_error("AES key must be either 16, 24, or 32 bytes long"))?;
        Ok(AesCipher {
            state: PyMutex::new(aes),
        })
    }

    /// `generate_rsa_signature(message, private_key)`.
    #[pyfunction]
    fn rsa_sign(message: PyObjectRef, key: PyObjectRef, vm: &VirtualMachine) -> PyResult<PyBytes> {
        let message = buffer_bytes(&message, vm)?;
        let key = super::private_key(&buffer_bytes(&key, vm)?).map_err(|rc| {
            vm.new_value_error(format!("Invalid Private Key, error code: {}", -rc))
        })?;
        super::sign(&message, &key)
            .map(PyBytes::from)
            .map_err(|rc| vm.new_runtime_error(format!("Signing failed, error code: {}!", -rc)))
    }

    /// `rsa_encrypt(message, key)`.
    #[pyfunction]
    fn rsa_encrypt(
        message: PyObjectRef,
        key: PyObjectRef,
        vm: &VirtualMachine,
    ) -> PyResult<PyBytes> {
        let message = buffer_bytes(&message, vm)?;
        let key = super::public_key(&buffer_bytes(&key, vm)?).map_err(|rc| {
            vm.new_value_error(format!("Invalid public key, mbedtls error code: 0x{rc:X}"))
        })?;
        super::encrypt(&message, &key)
            .map(PyBytes::from)
            .map_err(|rc| {
                vm.new_runtime_error(format!("Encrypt failed, mbedtls error code: 0x{rc:X}!"))
            })
    }

    /// `rsa_decrypt(message, key)`.
    #[pyfunction]
    fn rsa_decrypt(
        message: PyObjectRef,
        key: PyObjectRef,
        vm: &VirtualMachine,
    ) -> PyResult<PyBytes> {
        let message = buffer_bytes(&message, vm)?;
        let key = super::private_key(&buffer_bytes(&key, vm)?).map_err(|rc| {
            vm.new_value_error(format!("Invalid private key, mbedtls error code: 0x{rc:X}"))
        })?;
        super::decrypt(&message, &key)
            .map(PyBytes::from)
            .map_err(|rc| {
                vm.new_runtime_error(format!("Decrypt failed, mbedtls error code: 0x{rc:X}!"))
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ctr_counter_carries_across_bytes() {
        let mut a = Aes::new(&[0; 16], Mode::Ctr, [0xff; 16]).unwrap();
        let one = a.crypt(true, &[0; 17]).unwrap();
        let mut b = Aes::new(&[0; 16], Mode::Ctr, [0; 16]).unwrap();
        assert_eq!(one[16], b.crypt(true, &[0]).unwrap()[0]);
    }

    #[test]
    fn ecb_known_answer_fips_197() {
        let key = hex("000102030405060708090a0b0c0d0e0f");
        let mut a = Aes::new(&key, Mode::Ecb, [0; 16]).unwrap();
        let ct = a
            .crypt(true, &hex("00112233445566778899aabbccddeeff"))
            .unwrap();
        assert_eq!(ct, hex("69c4e0d86a7b0430d8cdb78070b4c55a"));
    }
}

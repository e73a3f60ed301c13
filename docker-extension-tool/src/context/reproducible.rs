//! Binaries that come out the same from the same sources, wherever they are built.
//!
//! Measured here: with zigbuild, the ELF binaries of two checkouts in different folders are
//! identical, but a PE's COFF header records the link time (`TimeDateStamp`), and a
//! Mach-O's `LC_UUID` changes on every link, even in the same folder (the linker computes it
//! before stripping, over symbols that name rustc's random temporary files); on arm64 the
//! ad-hoc code signature's hash of the page that holds it changes with it. dist normalises
//! its own copy: a PE's stamp becomes 0, a Mach-O's UUID a hash of the file's content with
//! the signature's page hashes computed again.
//!
//! A binary is changed only when that is known to be safe: 64-bit little-endian Mach-O, at
//! most one code signature, ad-hoc (no CMS blob: a real signature is never touched), SHA-256
//! pages, and the page hashes recomputed from the *unchanged* file match the signer's, byte
//! for byte. Anything else is left exactly as the linker wrote it. Every offset read from
//! the file is checked, so a crafted file is refused, never a panic.

use std::io::{Seek, SeekFrom, Write};

use anyhow::Context;
use camino::Utf8Path;
use sha2::{Digest, Sha256};

use crate::model::binary::{macho_load_commands, Bytes, FileBytes, LoadCommand, Reader};

const MH_MAGIC_64: u32 = 0xfeed_facf;
const LC_UUID: u32 = 0x1b;
const LC_CODE_SIGNATURE: u32 = 0x1d;
const SUPERBLOB_MAGIC: u32 = 0xfade_0cc0;
const CODE_DIRECTORY_MAGIC: u32 = 0xfade_0c02;
const BLOB_WRAPPER_MAGIC: u32 = 0xfade_0b01;
const CS_ADHOC: u32 = 0x2;
const HASH_SHA256: u8 = 2;

/// Bytes that can be changed in place: a file being normalised, or bytes in memory.
trait Patch: Bytes {
    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()>;
    fn bytes(&self) -> &dyn Bytes;
}

impl Patch for Vec<u8> {
    fn bytes(&self) -> &dyn Bytes {
        self
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        let start = usize::try_from(offset).map_err(std::io::Error::other)?;
        let end = start.checked_add(data.len()).filter(|end| *end <= self.len());
        let end = end.ok_or_else(|| std::io::Error::other("a write past the end"))?;
        self[start..end].copy_from_slice(data);
        Ok(())
    }
}

/// A file opened to be read and written in place.
struct PatchFile(FileBytes);

impl Bytes for PatchFile {
    fn size(&self) -> u64 {
        self.0.size()
    }
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        self.0.read_at(offset, buf)
    }
}

impl Patch for PatchFile {
    fn bytes(&self) -> &dyn Bytes {
        self
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> std::io::Result<()> {
        self.0.forget_window();
        let mut file = self.0.file();
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(data)
    }
}

/// The binary with a content-derived UUID and its ad-hoc signature updated, or the same
/// bytes when it is not a Mach-O this can safely normalise.
#[cfg(test)]
pub(crate) fn normalise(bytes: &[u8]) -> Vec<u8> {
    let mut out = bytes.to_vec();
    // Writes into memory do not fail.
    let _ = normalise_in_place(&mut out);
    out
}

/// The same, for a file, changed in place and never read whole.
pub(crate) fn normalise_file(path: &Utf8Path) -> anyhow::Result<()> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .with_context(|| format!("opening {path}"))?;
    let mut bytes = PatchFile(FileBytes::new(file).with_context(|| format!("reading {path}"))?);
    normalise_in_place(&mut bytes).with_context(|| format!("writing {path}"))?;
    Ok(())
}

fn normalise_in_place(bytes: &mut dyn Patch) -> std::io::Result<()> {
    if let Some(macho) = parse(bytes.bytes()) {
        return normalise_macho(bytes, &macho);
    }
    if let Some(stamp) = pe_stamp(bytes.bytes()) {
        return bytes.write_at(stamp as u64, &[0; 4]);
    }
    Ok(())
}

/// Where a PE records its link time, when it may be zeroed: only where the header's
/// checksum is 0 (unset, as zig and MinGW leave it); a set checksum covers the stamp and
/// would no longer match.
fn pe_stamp(bytes: &dyn Bytes) -> Option<usize> {
    let r = Reader(bytes);
    if r.bytes(0, 2).ok()? != b"MZ" {
        return None;
    }
    let pe = usize_of(r.u32(0x3c).ok()?)?;
    if r.bytes(pe, 4).ok()? != b"PE\0\0" {
        return None;
    }
    let stamp = pe.checked_add(8)?;
    let optional = pe.checked_add(24)?;
    // The checksum is at the same offset in PE32 and PE32+ optional headers.
    let magic = r.u16(optional).ok()?;
    if !matches!(magic, 0x10b | 0x20b) || r.u32(optional.checked_add(64)?).ok()? != 0 {
        return None;
    }
    r.u32(stamp).ok()?;
    Some(stamp)
}

/// Where the pieces are in a Mach-O, every offset checked against the file.
struct MachO {
    uuid: usize,
    signature: Option<Signature>,
}

struct Signature {
    /// The file bytes the pages cover: `[0, code_limit)`.
    code_limit: usize,
    page_size: usize,
    /// Where each page's hash is.
    hashes: usize,
    pages: usize,
}

fn usize_of(value: u32) -> Option<usize> {
    usize::try_from(value).ok()
}

fn parse(bytes: &dyn Bytes) -> Option<MachO> {
    let r = Reader(bytes);
    if r.u32(0).ok()? != MH_MAGIC_64 {
        return None;
    }
    let (mut uuid, mut signature) = (None, None);
    for LoadCommand { cmd, offset: at, size } in macho_load_commands(&r).ok()? {
        match cmd {
            LC_UUID if size >= 24 => uuid = Some(at.checked_add(8)?),
            LC_CODE_SIGNATURE if size >= 16 => {
                if signature.is_some() {
                    return None;
                }
                let offset = usize_of(r.u32(at.checked_add(8)?).ok()?)?;
                let length = usize_of(r.u32(at.checked_add(12)?).ok()?)?;
                signature = Some((offset, length));
            }
            _ => {}
        }
    }
    let uuid = uuid?;
    r.bytes(uuid, 16).ok()?;
    let signature = match signature {
        None => None,
        Some((offset, length)) => Some(code_directory(&r, offset, length)?),
    };
    Some(MachO { uuid, signature })
}

/// The one ad-hoc, SHA-256 CodeDirectory of a signature blob (big-endian, unlike the rest).
fn code_directory(r: &Reader, offset: usize, length: usize) -> Option<Signature> {
    // Every read stays inside the blob.
    let end = offset.checked_add(length)?;
    let be = |at: usize| -> Option<u32> {
        let at = offset.checked_add(at)?;
        (at.checked_add(4)? <= end).then_some(())?;
        r.u32_be(at).ok()
    };
    let byte = |at: usize| -> Option<u8> {
        let at = offset.checked_add(at)?;
        (at < end).then_some(())?;
        r.u8(at).ok()
    };
    if be(0)? != SUPERBLOB_MAGIC {
        return None;
    }
    let count = usize_of(be(8)?)?;
    let mut directory = None;
    for i in 0..count {
        let entry = 12usize.checked_add(i.checked_mul(8)?)?;
        let at = usize_of(be(entry.checked_add(4)?)?)?;
        match be(at)? {
            CODE_DIRECTORY_MAGIC if directory.is_none() => directory = Some(at),
            // A second CodeDirectory (SHA-1 alternates), or a CMS signature: not ours to change.
            CODE_DIRECTORY_MAGIC | BLOB_WRAPPER_MAGIC => return None,
            _ => {}
        }
    }
    let cd = directory?;
    let flags = be(cd.checked_add(12)?)?;
    let hash_offset = usize_of(be(cd.checked_add(16)?)?)?;
    let pages = usize_of(be(cd.checked_add(28)?)?)?;
    let code_limit = usize_of(be(cd.checked_add(32)?)?)?;
    let hash_size = byte(cd.checked_add(36)?)?;
    let hash_type = byte(cd.checked_add(37)?)?;
    let page_shift = u32::from(byte(cd.checked_add(39)?)?);
    if flags & CS_ADHOC == 0 || hash_type != HASH_SHA256 || hash_size != 32 || !(9..=16).contains(&page_shift)
    {
        return None;
    }
    let page_size = 1usize.checked_shl(page_shift)?;
    if code_limit > offset || pages != code_limit.div_ceil(page_size) {
        return None;
    }
    let hashes = offset.checked_add(cd)?.checked_add(hash_offset)?;
    r.bytes(hashes, pages.checked_mul(32)?).ok()?;
    Some(Signature { code_limit, page_size, hashes, pages })
}

/// The SHA-256 of each page the signature covers, read a page at a time.
fn page_hashes(bytes: &dyn Bytes, signature: &Signature) -> Option<Vec<u8>> {
    let mut hashes = Vec::with_capacity(signature.pages * 32);
    let mut page = vec![0u8; signature.page_size];
    for i in 0..signature.pages {
        let start = i * signature.page_size;
        let end = (start + signature.page_size).min(signature.code_limit);
        let page = &mut page[..end - start];
        if !bytes.read_at(start as u64, page) {
            return None;
        }
        hashes.extend_from_slice(&Sha256::digest(&*page));
    }
    Some(hashes)
}

fn normalise_macho(bytes: &mut dyn Patch, macho: &MachO) -> std::io::Result<()> {
    if let Some(signature) = &macho.signature {
        // Our hashing must agree with the signer's on the file as it is, or we touch nothing.
        let recorded = Reader(bytes.bytes()).bytes(signature.hashes, signature.pages * 32).ok();
        if recorded.is_none() || page_hashes(bytes.bytes(), signature) != recorded {
            return Ok(());
        }
    }
    let covered = macho.signature.as_ref().map_or(bytes.size(), |s| s.code_limit as u64);
    // A hash of the covered bytes with the UUID zeroed, read a chunk at a time.
    let mut hasher = Sha256::new();
    let mut chunk = vec![0u8; 64 * 1024];
    let (uuid_start, uuid_end) = (macho.uuid as u64, macho.uuid as u64 + 16);
    let mut at = 0u64;
    while at < covered {
        let n = usize::try_from((covered - at).min(chunk.len() as u64)).unwrap_or(chunk.len());
        let buf = &mut chunk[..n];
        if !bytes.read_at(at, buf) {
            return Ok(());
        }
        for (i, byte) in buf.iter_mut().enumerate() {
            let offset = at + i as u64;
            if (uuid_start..uuid_end).contains(&offset) {
                *byte = 0;
            }
        }
        hasher.update(&*buf);
        at += n as u64;
    }
    let digest = hasher.finalize();
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&digest[..16]);
    // A name-based UUID (RFC 4122 version 8 bits), as a linker's content hash is.
    uuid[6] = (uuid[6] & 0x0f) | 0x80;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    bytes.write_at(uuid_start, &uuid)?;
    if let Some(signature) = &macho.signature {
        if let Some(hashes) = page_hashes(bytes.bytes(), signature) {
            bytes.write_at(signature.hashes as u64, &hashes)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal signed Mach-O: header, LC_UUID, LC_CODE_SIGNATURE, two pages of code,
    /// then an ad-hoc SHA-256 signature over them, as zig's linker lays it out.
    fn signed(uuid: [u8; 16]) -> Vec<u8> {
        let page = 4096;
        let code_limit = 2 * page;
        let mut b = vec![0u8; code_limit];
        b[..4].copy_from_slice(&MH_MAGIC_64.to_le_bytes());
        b[4..8].copy_from_slice(&0x0100_000cu32.to_le_bytes());
        b[16..20].copy_from_slice(&2u32.to_le_bytes());
        b[32..36].copy_from_slice(&LC_UUID.to_le_bytes());
        b[36..40].copy_from_slice(&24u32.to_le_bytes());
        b[40..56].copy_from_slice(&uuid);
        b[56..60].copy_from_slice(&LC_CODE_SIGNATURE.to_le_bytes());
        b[60..64].copy_from_slice(&16u32.to_le_bytes());
        let cd_len = 44 + 2 * 32;
        let sig_len = 20 + cd_len;
        b[64..68].copy_from_slice(&(code_limit as u32).to_le_bytes());
        b[68..72].copy_from_slice(&(sig_len as u32).to_le_bytes());
        for (i, byte) in b[200..code_limit].iter_mut().enumerate() {
            *byte = (i % 251) as u8;
        }
        let mut sig = vec![];
        sig.extend(SUPERBLOB_MAGIC.to_be_bytes());
        sig.extend((sig_len as u32).to_be_bytes());
        sig.extend(1u32.to_be_bytes());
        sig.extend(0u32.to_be_bytes());
        sig.extend(20u32.to_be_bytes());
        let mut cd = vec![0u8; 44];
        cd[0..4].copy_from_slice(&CODE_DIRECTORY_MAGIC.to_be_bytes());
        cd[4..8].copy_from_slice(&(cd_len as u32).to_be_bytes());
        cd[12..16].copy_from_slice(&(CS_ADHOC | 0x20000).to_be_bytes());
        cd[16..20].copy_from_slice(&44u32.to_be_bytes());
        cd[28..32].copy_from_slice(&2u32.to_be_bytes());
        cd[32..36].copy_from_slice(&(code_limit as u32).to_be_bytes());
        cd[36] = 32;
        cd[37] = HASH_SHA256;
        cd[39] = 12;
        for p in 0..2 {
            cd.extend(Sha256::digest(&b[p * page..(p + 1) * page]));
        }
        sig.extend(cd);
        b.extend(sig);
        b
    }

    #[test]
    fn two_links_that_differ_only_in_their_uuid_become_identical_and_stay_signed() {
        let (a, b) = (signed([1; 16]), signed([2; 16]));
        assert_ne!(a, b);
        let (na, nb) = (normalise(&a), normalise(&b));
        assert_eq!(na, nb);
        assert_ne!(na[40..56], a[40..56], "a new UUID");
        // The signature is valid for the new bytes: normalising again changes nothing.
        assert_eq!(normalise(&na), na);
        let signature = parse(&na).unwrap().signature.unwrap();
        assert_eq!(page_hashes(&na, &signature).unwrap(), na[signature.hashes..signature.hashes + 64]);
    }

    fn pe(stamp: u32, checksum: u32) -> Vec<u8> {
        let mut b = vec![0u8; 0x80 + 24 + 240];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x88..0x8c].copy_from_slice(&stamp.to_le_bytes());
        b[0x98..0x9a].copy_from_slice(&0x20bu16.to_le_bytes());
        b[0x98 + 64..0x98 + 68].copy_from_slice(&checksum.to_le_bytes());
        b
    }

    #[test]
    fn two_pe_links_at_different_times_become_identical_unless_checksummed() {
        assert_eq!(normalise(&pe(1_795_893_514, 0)), normalise(&pe(1_795_893_519, 0)));
        assert_eq!(normalise(&pe(1_795_893_514, 0))[0x88..0x8c], [0, 0, 0, 0]);
        let checksummed = pe(1_795_893_514, 0x1234);
        assert_eq!(normalise(&checksummed), checksummed, "a set checksum: hands off");
        let good = pe(5, 0);
        for len in [0, 1, 0x3c, 0x40, 0x84, 0x8a, 0x99, 0x98 + 66] {
            assert_eq!(normalise(&good[..len]), &good[..len]);
        }
    }

    #[test]
    fn what_is_not_safe_to_change_is_left_alone() {
        // A page hash the signer computed differently: our hashing disagrees, hands off.
        let mut tampered = signed([1; 16]);
        tampered[300] ^= 0xff;
        assert_eq!(normalise(&tampered), tampered);
        // Not ad-hoc (a real signature would be broken by any change).
        let mut real = signed([1; 16]);
        let flags_at = 2 * 4096 + 20 + 12;
        real[flags_at..flags_at + 4].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(normalise(&real), real);
        // ELF, PE, garbage, truncations of a good one: unchanged, and never a panic.
        let good = signed([1; 16]);
        for len in [0, 3, 31, 40, 60, 70, 8192, 8200, good.len() - 1] {
            assert_eq!(normalise(&good[..len]), &good[..len]);
        }
        assert_eq!(normalise(b"\x7fELF\x02\x01\x01"), b"\x7fELF\x02\x01\x01");
    }
}

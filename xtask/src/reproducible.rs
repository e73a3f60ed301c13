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

use sha2::{Digest, Sha256};

use crate::binary::Reader;

const MH_MAGIC_64: u32 = 0xfeed_facf;
const LC_UUID: u32 = 0x1b;
const LC_CODE_SIGNATURE: u32 = 0x1d;
const SUPERBLOB_MAGIC: u32 = 0xfade_0cc0;
const CODE_DIRECTORY_MAGIC: u32 = 0xfade_0c02;
const BLOB_WRAPPER_MAGIC: u32 = 0xfade_0b01;
const CS_ADHOC: u32 = 0x2;
const HASH_SHA256: u8 = 2;

/// The binary with a content-derived UUID and its ad-hoc signature updated, or the same
/// bytes when it is not a Mach-O this can safely normalise.
pub fn normalise(bytes: &[u8]) -> Vec<u8> {
    normalise_macho(bytes).or_else(|| normalise_pe(bytes)).unwrap_or_else(|| bytes.to_vec())
}

/// A PE with its link time zeroed. Only where the header's checksum is 0 (unset, as zig
/// and MinGW leave it): a set checksum covers the stamp and would no longer match.
fn normalise_pe(bytes: &[u8]) -> Option<Vec<u8>> {
    if bytes.get(..2)? != b"MZ" {
        return None;
    }
    let pe = usize_of(u32_le(bytes, 0x3c)?)?;
    if bytes.get(pe..pe.checked_add(4)?)? != b"PE\0\0" {
        return None;
    }
    let stamp = pe.checked_add(8)?;
    let optional = pe.checked_add(24)?;
    // The checksum is at the same offset in PE32 and PE32+ optional headers.
    let magic = Reader(bytes).u16(optional).ok()?;
    if !matches!(magic, 0x10b | 0x20b) || u32_le(bytes, optional.checked_add(64)?)? != 0 {
        return None;
    }
    u32_le(bytes, stamp)?;
    let mut out = bytes.to_vec();
    out[stamp..stamp + 4].fill(0);
    Some(out)
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

fn u32_le(bytes: &[u8], at: usize) -> Option<u32> {
    Reader(bytes).u32(at).ok()
}

fn u32_be(bytes: &[u8], at: usize) -> Option<u32> {
    Reader(bytes).u32_be(at).ok()
}

fn usize_of(value: u32) -> Option<usize> {
    usize::try_from(value).ok()
}

fn parse(bytes: &[u8]) -> Option<MachO> {
    if u32_le(bytes, 0)? != MH_MAGIC_64 {
        return None;
    }
    let commands = usize_of(u32_le(bytes, 16)?)?;
    let mut at = 32usize;
    let (mut uuid, mut signature) = (None, None);
    for _ in 0..commands {
        let command = u32_le(bytes, at)?;
        let size = usize_of(u32_le(bytes, at.checked_add(4)?)?)?;
        if size < 8 {
            return None;
        }
        match command {
            LC_UUID if size >= 24 => uuid = Some(at.checked_add(8)?),
            LC_CODE_SIGNATURE if size >= 16 => {
                if signature.is_some() {
                    return None;
                }
                let offset = usize_of(u32_le(bytes, at.checked_add(8)?)?)?;
                let length = usize_of(u32_le(bytes, at.checked_add(12)?)?)?;
                signature = Some((offset, length));
            }
            _ => {}
        }
        at = at.checked_add(size)?;
    }
    let uuid = uuid?;
    bytes.get(uuid..uuid.checked_add(16)?)?;
    let signature = match signature {
        None => None,
        Some((offset, length)) => Some(code_directory(bytes, offset, length)?),
    };
    Some(MachO { uuid, signature })
}

/// The one ad-hoc, SHA-256 CodeDirectory of a signature blob (big-endian, unlike the rest).
fn code_directory(bytes: &[u8], offset: usize, length: usize) -> Option<Signature> {
    let blob = bytes.get(offset..offset.checked_add(length)?)?;
    if u32_be(blob, 0)? != SUPERBLOB_MAGIC {
        return None;
    }
    let count = usize_of(u32_be(blob, 8)?)?;
    let mut directory = None;
    for i in 0..count {
        let entry = 12usize.checked_add(i.checked_mul(8)?)?;
        let at = usize_of(u32_be(blob, entry.checked_add(4)?)?)?;
        match u32_be(blob, at)? {
            CODE_DIRECTORY_MAGIC if directory.is_none() => directory = Some(at),
            // A second CodeDirectory (SHA-1 alternates), or a CMS signature: not ours to change.
            CODE_DIRECTORY_MAGIC | BLOB_WRAPPER_MAGIC => return None,
            _ => {}
        }
    }
    let cd = directory?;
    let flags = u32_be(blob, cd.checked_add(12)?)?;
    let hash_offset = usize_of(u32_be(blob, cd.checked_add(16)?)?)?;
    let pages = usize_of(u32_be(blob, cd.checked_add(28)?)?)?;
    let code_limit = usize_of(u32_be(blob, cd.checked_add(32)?)?)?;
    let hash_size = *blob.get(cd.checked_add(36)?)?;
    let hash_type = *blob.get(cd.checked_add(37)?)?;
    let page_shift = u32::from(*blob.get(cd.checked_add(39)?)?);
    if flags & CS_ADHOC == 0 || hash_type != HASH_SHA256 || hash_size != 32 || !(9..=16).contains(&page_shift)
    {
        return None;
    }
    let page_size = 1usize.checked_shl(page_shift)?;
    if code_limit > offset || pages != code_limit.div_ceil(page_size) {
        return None;
    }
    let hashes = offset.checked_add(cd)?.checked_add(hash_offset)?;
    bytes.get(hashes..hashes.checked_add(pages.checked_mul(32)?)?)?;
    Some(Signature { code_limit, page_size, hashes, pages })
}

fn page_hashes(bytes: &[u8], signature: &Signature) -> Vec<[u8; 32]> {
    (0..signature.pages)
        .map(|page| {
            let start = page * signature.page_size;
            let end = (start + signature.page_size).min(signature.code_limit);
            Sha256::digest(&bytes[start..end]).into()
        })
        .collect()
}

fn normalise_macho(bytes: &[u8]) -> Option<Vec<u8>> {
    let macho = parse(bytes)?;
    if let Some(signature) = &macho.signature {
        // Our hashing must agree with the signer's on the file as it is, or we touch nothing.
        let recorded = bytes.get(signature.hashes..signature.hashes + signature.pages * 32)?;
        if page_hashes(bytes, signature).concat() != recorded {
            return None;
        }
    }
    let covered = macho.signature.as_ref().map_or(bytes.len(), |s| s.code_limit);
    let mut out = bytes.to_vec();
    out[macho.uuid..macho.uuid + 16].fill(0);
    let digest = Sha256::digest(&out[..covered]);
    let mut uuid = [0u8; 16];
    uuid.copy_from_slice(&digest[..16]);
    // A name-based UUID (RFC 4122 version 8 bits), as a linker's content hash is.
    uuid[6] = (uuid[6] & 0x0f) | 0x80;
    uuid[8] = (uuid[8] & 0x3f) | 0x80;
    out[macho.uuid..macho.uuid + 16].copy_from_slice(&uuid);
    if let Some(signature) = &macho.signature {
        let hashes = page_hashes(&out, signature).concat();
        out[signature.hashes..signature.hashes + hashes.len()].copy_from_slice(&hashes);
    }
    Some(out)
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
        assert_eq!(page_hashes(&na, &signature).concat(), na[signature.hashes..signature.hashes + 64]);
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

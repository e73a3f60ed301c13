//! Content digests: `sha256:` and 64 lowercase hex digits, the one form an image's blobs, a
//! registry, a host binary's download, the ownership ledger and the fingerprints use.
//!
//! A [`Digest`] is checked when it is made (computed, or parsed once from what an image, a
//! registry or the config says), so from then on its hex is safe as a file name and in a
//! URL, and two digests compare as values, never as strings that might differ by case or
//! prefix.

use std::fmt;
use std::str::FromStr;

use anyhow::Context;
use camino::Utf8Path;
use sha2::{Digest as _, Sha256};

/// `sha256:` and 64 lowercase hex digits (the only algorithm images and registries use
/// for extensions).
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct Digest {
    /// 64 lowercase hex digits.
    hex: String,
}

/// What every digest is written after.
const PREFIX: &str = "sha256:";

impl Digest {
    /// The digest of `bytes`.
    pub(crate) fn of(bytes: &[u8]) -> Digest {
        Digest::from_hasher(Sha256::new_with_prefix(bytes))
    }

    /// The digest of what `hasher` was fed.
    pub(crate) fn from_hasher(hasher: Sha256) -> Digest {
        Digest { hex: format!("{:x}", hasher.finalize()) }
    }

    /// The digest of a file's bytes, read a chunk at a time.
    pub(crate) fn of_file(path: &Utf8Path) -> anyhow::Result<Digest> {
        let mut file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
        let mut hasher = Sha256::new();
        std::io::copy(&mut file, &mut hasher).with_context(|| format!("reading {path}"))?;
        Ok(Digest::from_hasher(hasher))
    }

    /// A digest given as its hex alone (a download's `sha256` in the config, a blob's file
    /// name): 64 hex digits, either case.
    pub(crate) fn from_hex(hex: &str) -> Result<Digest, String> {
        if hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Digest { hex: hex.to_ascii_lowercase() })
        } else {
            Err(format!("`{hex}` is not a SHA-256 digest: write its 64 hex digits"))
        }
    }

    /// The digest a blob's file is named by in a layout (`blobs/sha256/<hex>`): exactly 64
    /// lowercase hex digits, or none.
    pub(crate) fn from_file_name(name: &str) -> Option<Digest> {
        format!("{PREFIX}{name}").parse().ok()
    }

    /// The 64 lowercase hex digits.
    pub(crate) fn hex(&self) -> &str {
        &self.hex
    }

    /// The first 12 hex digits, as Docker shortens an ID.
    pub(crate) fn short(&self) -> &str {
        &self.hex[..12]
    }
}

impl FromStr for Digest {
    type Err = String;

    /// `sha256:` and 64 lowercase hex digits, as the OCI image spec writes a SHA-256 digest.
    fn from_str(text: &str) -> Result<Digest, String> {
        match text.strip_prefix(PREFIX) {
            Some(hex) if hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) => {
                Ok(Digest { hex: hex.to_string() })
            }
            _ => Err(format!(
                "`{}` is not a sha256 digest (`sha256:` and 64 lowercase hex digits, the only kind \
                 images use)",
                text.escape_debug()
            )),
        }
    }
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex)
    }
}

impl fmt::Debug for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{PREFIX}{}", self.hex)
    }
}

impl serde::Serialize for Digest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Digest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Digest, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

    #[test]
    fn computed_parsed_and_written_the_same_way() {
        let empty = Digest::of(b"");
        assert_eq!(empty.to_string(), format!("sha256:{EMPTY}"));
        assert_eq!(empty.hex(), EMPTY);
        assert_eq!(empty.short(), &EMPTY[..12]);
        assert_eq!(format!("sha256:{EMPTY}").parse::<Digest>(), Ok(empty.clone()));
        assert_eq!(Digest::from_hex(&EMPTY.to_uppercase()), Ok(empty.clone()));
        assert_eq!(serde_json::to_string(&empty).unwrap(), format!("\"sha256:{EMPTY}\""));
        assert_eq!(serde_json::from_str::<Digest>(&format!("\"sha256:{EMPTY}\"")).unwrap(), empty);
        assert_eq!(format!("{empty:?}"), format!("sha256:{EMPTY}"));

        let dir = std::env::temp_dir().join(format!("xtask-digest-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = camino::Utf8PathBuf::from_path_buf(dir.join("f")).unwrap();
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(Digest::of_file(&path).unwrap(), Digest::of(b"abc"));
        let missing = Digest::of_file(&path.with_file_name("missing")).unwrap_err();
        assert!(format!("{missing:#}").contains("missing"), "{missing:#}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_well_formed_digests_are_read() {
        for bad in [
            "",
            EMPTY,
            &format!("sha512:{EMPTY}"),
            &format!("sha256:{}", EMPTY.to_uppercase()),
            &format!("sha256:{}", &EMPTY[1..]),
            &format!("sha256:{EMPTY}0"),
            &format!("sha256:../../{}", &EMPTY[6..]),
            &format!("sha256:{}\n", &EMPTY[1..]),
        ] {
            let error = bad.parse::<Digest>().unwrap_err();
            assert!(error.contains("is not a sha256 digest"), "{bad}: {error}");
            assert!(!error.contains('\n'), "one line: {error}");
            assert!(serde_json::from_str::<Digest>(&serde_json::to_string(bad).unwrap()).is_err(), "{bad}");
        }
        assert_eq!(Digest::from_file_name(EMPTY), Some(Digest::of(b"")));
        assert_eq!(Digest::from_file_name(&EMPTY.to_uppercase()), None);
        assert_eq!(Digest::from_file_name(&format!("{EMPTY}.partial")), None);
        assert!(Digest::from_hex("abc").unwrap_err().contains("`abc` is not a SHA-256 digest"));
        assert!(Digest::from_hex(&format!("{}g", &EMPTY[1..])).is_err());
    }
}

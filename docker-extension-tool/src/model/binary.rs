//! What a compiled binary is, read from its header: format (ELF, Mach-O, PE), CPU, and
//! for ELF whether it is statically linked. Hand-written rather than a parsing crate:
//! the few fields needed are at fixed offsets, and every user compiles the xtask.
//!
//! `check` reads binaries from images it did not build, so this must be as safe as a crate:
//! every read is bounds-checked ([`Reader`]) and every offset computed from the file is
//! checked arithmetic ([`add`], [`mul`]), so a crafted header gives an error, never a panic
//! (the test `crafted_headers_are_errors_never_panics` feeds thousands of them).

use std::fmt;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Format {
    Elf,
    MachO,
    Pe,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) enum Cpu {
    X86_64,
    Aarch64,
    X86,
    Arm,
    Other(u32),
}

/// The facts read from a binary's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BinaryInfo {
    pub format: Format,
    pub cpu: Cpu,
    /// ELF only: no program interpreter and no shared-library dependency.
    pub static_linked: bool,
    /// Mach-O: the dylibs it loads; PE: the DLLs it imports; ELF: DT_NEEDED entries.
    pub libraries: Vec<String>,
    /// Mach-O only: the minimum macOS version (LC_BUILD_VERSION / LC_VERSION_MIN_MACOSX).
    pub min_os: Option<String>,
    /// Not an executable: a shared library, object file or DLL.
    pub library_only: bool,
    /// A universal (fat) Mach-O: the CPU of each slice (`cpu` is the first's). Empty for a
    /// binary of one CPU.
    pub universal: Vec<Cpu>,
}

impl Format {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Format::Elf => "ELF",
            Format::MachO => "Mach-O",
            Format::Pe => "PE",
        }
    }
}

impl Cpu {
    /// How `file` names the CPU in each format, so messages match what users see there.
    pub(crate) fn name_in(self, format: Format) -> String {
        match (self, format) {
            (Cpu::X86_64, Format::MachO) => "x86_64".into(),
            (Cpu::X86_64, _) => "x86-64".into(),
            (Cpu::Aarch64, Format::Elf) => "aarch64".into(),
            (Cpu::Aarch64, Format::MachO) => "arm64".into(),
            (Cpu::Aarch64, Format::Pe) => "Aarch64".into(),
            (Cpu::X86, _) => "i386".into(),
            (Cpu::Arm, _) => "ARM".into(),
            (Cpu::Other(code), _) => format!("unknown CPU (0x{code:x})"),
        }
    }
}

/// "a static …", "an x86-64 …", "an arm64 …": the article for a description.
pub(crate) fn with_article(description: &str) -> String {
    // x86 is said "ex-86"; every CPU name here starts with a vowel sound but for the rest.
    match description.chars().next() {
        Some('a' | 'e' | 'i' | 'o' | 'u' | 'x' | 'A' | 'E' | 'I' | 'O' | 'U') => format!("an {description}"),
        _ => format!("a {description}"),
    }
}

/// "x86-64 ELF", "arm64 Mach-O": the kind of binary a path must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(crate) struct BinaryKind {
    pub format: Format,
    pub cpu: Cpu,
}

impl fmt::Display for BinaryKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.cpu.name_in(self.format), self.format.name())
    }
}

impl BinaryInfo {
    pub(crate) fn kind(&self) -> BinaryKind {
        BinaryKind { format: self.format, cpu: self.cpu }
    }

    /// Whether it runs on `cpu` natively: its CPU, or one of a universal binary's slices.
    pub(crate) fn runs_on(&self, cpu: Cpu) -> bool {
        self.cpu == cpu || self.universal.contains(&cpu)
    }

    /// "static x86-64 ELF executable", "arm64 Mach-O executable (macOS 11.0+)",
    /// "universal (x86_64, arm64) Mach-O executable".
    pub(crate) fn describe(&self) -> String {
        let mut s = String::new();
        if self.format == Format::Elf {
            s.push_str(if self.static_linked { "static " } else { "dynamically linked " });
        }
        if self.universal.is_empty() {
            s.push_str(&self.kind().to_string());
        } else {
            let cpus: Vec<String> = self.universal.iter().map(|c| c.name_in(self.format)).collect();
            s.push_str(&format!("universal ({}) {}", cpus.join(", "), self.format.name()));
        }
        s.push_str(if self.library_only { " library" } else { " executable" });
        if let Some(min_os) = &self.min_os {
            s.push_str(&format!(" (macOS {min_os}+)"));
        }
        s
    }
}

/// Bytes read by offset: a slice in memory, or a file read in place (a binary can be
/// large: nothing here reads one whole).
pub(crate) trait Bytes {
    /// How many bytes there are.
    fn size(&self) -> u64;
    /// Fills `buf` with the bytes at `offset`; false when they are not all there.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool;
}

impl Bytes for &[u8] {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        let Ok(start) = usize::try_from(offset) else { return false };
        match start.checked_add(buf.len()).and_then(|end| self.get(start..end)) {
            Some(found) => {
                buf.copy_from_slice(found);
                true
            }
            None => false,
        }
    }
}

impl Bytes for Vec<u8> {
    fn size(&self) -> u64 {
        self.len() as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        self.as_slice().read_at(offset, buf)
    }
}

/// A file read by offset (its length taken once, when opened), through a window of
/// [`WINDOW`] bytes: header fields are read a few bytes at a time, close together.
pub(crate) struct FileBytes {
    file: std::cell::RefCell<std::fs::File>,
    len: u64,
    /// The window: where it starts in the file, and its bytes.
    window: std::cell::RefCell<(u64, Vec<u8>)>,
}

const WINDOW: usize = 64 * 1024;

impl FileBytes {
    pub(crate) fn open(path: &camino::Utf8Path) -> std::io::Result<FileBytes> {
        FileBytes::new(std::fs::File::open(path)?)
    }

    pub(crate) fn new(file: std::fs::File) -> std::io::Result<FileBytes> {
        let len = file.metadata()?.len();
        let window = std::cell::RefCell::new((0, vec![]));
        Ok(FileBytes { file: std::cell::RefCell::new(file), len, window })
    }

    /// The file, to write to (then [`FileBytes::forget_window`]).
    pub(crate) fn file(&self) -> std::cell::RefMut<'_, std::fs::File> {
        self.file.borrow_mut()
    }

    /// Drops what was read ahead: the file changed.
    pub(crate) fn forget_window(&self) {
        self.window.borrow_mut().1.clear();
    }
}

impl Bytes for FileBytes {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        use std::io::{Read, Seek, SeekFrom};
        let Some(end) = offset.checked_add(buf.len() as u64).filter(|end| *end <= self.len) else {
            return false;
        };
        let mut window = self.window.borrow_mut();
        let (start, bytes) = &mut *window;
        let inside = offset >= *start && end <= *start + bytes.len() as u64;
        if !inside {
            if buf.len() > WINDOW {
                let mut file = self.file.borrow_mut();
                return file.seek(SeekFrom::Start(offset)).is_ok() && file.read_exact(buf).is_ok();
            }
            let length = usize::try_from((self.len - offset).min(WINDOW as u64)).unwrap_or(WINDOW);
            bytes.resize(length, 0);
            let mut file = self.file.borrow_mut();
            if file.seek(SeekFrom::Start(offset)).is_err() || file.read_exact(bytes).is_err() {
                bytes.clear();
                return false;
            }
            *start = offset;
        }
        let at = usize::try_from(offset - *start).unwrap_or(0);
        buf.copy_from_slice(&bytes[at..at + buf.len()]);
        true
    }
}

/// Reads the header of a file in place. The error says what the file holds instead.
pub(crate) fn inspect_file(path: &camino::Utf8Path) -> Result<BinaryInfo, String> {
    let bytes = FileBytes::open(path).map_err(|e| format!("a file that cannot be read ({e})"))?;
    inspect_bytes(&bytes)
}

/// Whether a file's first bytes are an executable's: ELF, Mach-O (thin or universal), PE
/// (`MZ`), or a shebang. Anything else is data.
pub(crate) fn starts_like_executable(head: &[u8]) -> bool {
    const MACHO: [[u8; 4]; 5] = [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
        [0xca, 0xfe, 0xba, 0xbe],
    ];
    head.starts_with(b"\x7fELF")
        || head.starts_with(b"MZ")
        || head.starts_with(b"#!")
        || MACHO.iter().any(|magic| head.starts_with(magic))
}

/// Reads the header of `bytes`. The error says what the bytes look like instead.
#[cfg(test)]
pub(crate) fn inspect(bytes: &[u8]) -> Result<BinaryInfo, String> {
    inspect_bytes(&bytes)
}

/// The same, for bytes read by offset.
pub(crate) fn inspect_bytes(bytes: &dyn Bytes) -> Result<BinaryInfo, String> {
    let mut magic = [0u8; 4];
    let head: &[u8] = if bytes.read_at(0, &mut magic) {
        &magic
    } else {
        let n = usize::try_from(bytes.size()).unwrap_or(0).min(3);
        let mut short = [0u8; 3];
        if !bytes.read_at(0, &mut short[..n]) {
            return Err(truncated());
        }
        return match &short[..n] {
            [] => Err("an empty file".into()),
            [b'#', b'!', ..] => Err("a script, not a compiled binary".into()),
            _ => Err("not an ELF, Mach-O or PE binary".into()),
        };
    };
    match head {
        [0x7f, b'E', b'L', b'F', ..] => elf(bytes),
        [0xcf, 0xfa, 0xed, 0xfe, ..] => macho(bytes),
        [0xca, 0xfe, 0xba, 0xbe, ..] => universal_macho(bytes, false),
        [0xca, 0xfe, 0xba, 0xbf, ..] => universal_macho(bytes, true),
        [0xce, 0xfa, 0xed, 0xfe, ..] => Err("a 32-bit Mach-O".into()),
        [b'M', b'Z', ..] => pe(bytes),
        [b'#', b'!', ..] => Err("a script, not a compiled binary".into()),
        _ => Err("not an ELF, Mach-O or PE binary".into()),
    }
}

fn truncated() -> String {
    "a truncated binary (its header points past the end of the file)".into()
}

/// `a + b`, or "truncated" when an offset from the file overflows.
fn add(a: usize, b: usize) -> Result<usize, String> {
    a.checked_add(b).ok_or_else(truncated)
}

/// The same for the 64-bit addresses and sizes of ELF.
fn add64(a: u64, b: u64) -> Result<u64, String> {
    a.checked_add(b).ok_or_else(truncated)
}

/// `a * b`, likewise.
fn mul(a: usize, b: usize) -> Result<usize, String> {
    a.checked_mul(b).ok_or_else(truncated)
}

/// Little-endian field reader that turns out-of-range reads into an error (also used by
/// `reproducible`, which edits Mach-O and PE headers).
pub(crate) struct Reader<'a>(pub(crate) &'a dyn Bytes);

/// The longest name read from a binary (a library's path): longer is not a real one.
const MAX_NAME: usize = 4096;

impl Reader<'_> {
    pub(crate) fn bytes(&self, offset: usize, len: usize) -> Result<Vec<u8>, String> {
        // Checked before anything is allocated: a length read from the file is not trusted.
        let end = (offset as u64).checked_add(len as u64).ok_or_else(truncated)?;
        if end > self.0.size() {
            return Err(truncated());
        }
        let mut buf = vec![0u8; len];
        if self.0.read_at(offset as u64, &mut buf) {
            Ok(buf)
        } else {
            Err(truncated())
        }
    }
    fn array<const N: usize>(&self, offset: usize) -> Result<[u8; N], String> {
        let mut array = [0u8; N];
        if self.0.read_at(offset as u64, &mut array) {
            Ok(array)
        } else {
            Err(truncated())
        }
    }
    pub(crate) fn u8(&self, offset: usize) -> Result<u8, String> {
        self.array::<1>(offset).map(|[b]| b)
    }
    pub(crate) fn u16(&self, offset: usize) -> Result<u16, String> {
        self.array(offset).map(u16::from_le_bytes)
    }
    pub(crate) fn u32(&self, offset: usize) -> Result<u32, String> {
        self.array(offset).map(u32::from_le_bytes)
    }
    /// Big-endian: code signatures and universal headers are.
    pub(crate) fn u32_be(&self, offset: usize) -> Result<u32, String> {
        self.array(offset).map(u32::from_be_bytes)
    }
    fn u64_be(&self, offset: usize) -> Result<u64, String> {
        self.array(offset).map(u64::from_be_bytes)
    }
    fn u64(&self, offset: usize) -> Result<u64, String> {
        self.array(offset).map(u64::from_le_bytes)
    }
    fn usize(&self, offset: usize) -> Result<usize, String> {
        usize::try_from(self.u64(offset)?).map_err(|_| truncated())
    }
    fn c_str(&self, offset: usize) -> Result<String, String> {
        let size = usize::try_from(self.0.size()).unwrap_or(usize::MAX);
        let available = size.checked_sub(offset).ok_or_else(truncated)?;
        let chunk = self.bytes(offset, available.min(MAX_NAME))?;
        let end = chunk.iter().position(|&b| b == 0).ok_or_else(truncated)?;
        Ok(String::from_utf8_lossy(&chunk[..end]).into_owned())
    }
}

/// A load command of a 64-bit Mach-O: its type, where it is and how long.
pub(crate) struct LoadCommand {
    pub(crate) cmd: u32,
    pub(crate) offset: usize,
    pub(crate) size: usize,
}

/// The load commands of a 64-bit little-endian Mach-O, every offset checked: the one
/// Mach-O reader (`inspect` and `reproducible` both walk it).
pub(crate) fn macho_load_commands(r: &Reader) -> Result<Vec<LoadCommand>, String> {
    let ncmds = r.u32(16)? as usize;
    let mut offset = 32; // mach_header_64
    let mut commands = vec![];
    for _ in 0..ncmds {
        let cmd = r.u32(offset)?;
        let size = r.u32(add(offset, 4)?)? as usize;
        if size < 8 {
            return Err(truncated());
        }
        // Every command lies inside the file: a count larger than the file is a lie.
        r.bytes(offset, 8)?;
        commands.push(LoadCommand { cmd, offset, size });
        offset = add(offset, size)?;
    }
    Ok(commands)
}

fn elf(bytes: &dyn Bytes) -> Result<BinaryInfo, String> {
    const PT_DYNAMIC: u32 = 2;
    const PT_INTERP: u32 = 3;
    const DT_NEEDED: u64 = 1;
    const DT_STRTAB: u64 = 5;
    let r = Reader(bytes);
    let class = r.u8(4)?;
    let data = r.u8(5)?;
    if data != 1 {
        return Err("a big-endian ELF".into());
    }
    let machine = r.u16(18)?;
    let cpu = match machine {
        62 => Cpu::X86_64,
        183 => Cpu::Aarch64,
        3 => Cpu::X86,
        40 => Cpu::Arm,
        other => Cpu::Other(other.into()),
    };
    if class != 2 {
        // 32-bit: report format and CPU, nothing deeper is needed to refuse it.
        return Ok(BinaryInfo {
            format: Format::Elf,
            cpu,
            static_linked: false,
            libraries: vec![],
            min_os: None,
            library_only: false,
            universal: vec![],
        });
    }
    let e_type = r.u16(16)?;
    let phoff = r.usize(32)?;
    let phentsize = usize::from(r.u16(54)?);
    let phnum = usize::from(r.u16(56)?);
    let mut interp = false;
    let mut dynamic = None;
    let mut loads = vec![];
    for i in 0..phnum {
        let ph = add(phoff, mul(i, phentsize)?)?;
        match r.u32(ph)? {
            PT_INTERP => interp = true,
            PT_DYNAMIC => dynamic = Some((r.usize(add(ph, 8)?)?, r.usize(add(ph, 32)?)?)),
            1 => loads.push((r.u64(add(ph, 16)?)?, r.u64(add(ph, 8)?)?, r.u64(add(ph, 32)?)?)),
            _ => {}
        }
    }
    let mut needed_offsets = vec![];
    let mut strtab_addr = None;
    if let Some((offset, size)) = dynamic {
        for entry in (offset..add(offset, size)?).step_by(16) {
            match r.u64(entry)? {
                0 => break,
                DT_NEEDED => needed_offsets.push(r.u64(add(entry, 8)?)?),
                DT_STRTAB => strtab_addr = Some(r.u64(add(entry, 8)?)?),
                _ => {}
            }
        }
    }
    // DT_STRTAB is a virtual address: map it to a file offset through the PT_LOAD segments.
    let strtab = match strtab_addr {
        None => None,
        Some(addr) => {
            let mut found = None;
            for &(vaddr, offset, filesz) in &loads {
                if (vaddr..add64(vaddr, filesz)?).contains(&addr) {
                    found = Some(add64(addr - vaddr, offset)?);
                    break;
                }
            }
            found
        }
    };
    let libraries: Vec<String> = match strtab {
        Some(strtab) => needed_offsets
            .iter()
            .map(|n| r.c_str(usize::try_from(add64(strtab, *n)?).map_err(|_| truncated())?))
            .collect::<Result<_, _>>()?,
        None => needed_offsets.iter().map(|_| "?".to_string()).collect(),
    };
    // ET_DYN without an interpreter is a static-pie executable; with a soname it is a library.
    let library_only = e_type == 1 || (e_type == 3 && !interp && !libraries.is_empty());
    Ok(BinaryInfo {
        format: Format::Elf,
        cpu,
        static_linked: !interp && libraries.is_empty(),
        libraries,
        min_os: None,
        library_only,
        universal: vec![],
    })
}

/// The most slices a universal Mach-O has here (Apple's have two or three); also what tells
/// it from a Java class file, which starts with the same magic and a version of 45 or more.
const MAX_SLICES: u32 = 8;

/// A universal (fat) Mach-O, as vendors ship macOS tools: each slice read as a thin 64-bit
/// Mach-O (`wide`: the fat_arch_64 layout); the result describes the first and lists the
/// CPU of every one.
fn universal_macho(bytes: &dyn Bytes, wide: bool) -> Result<BinaryInfo, String> {
    let r = Reader(bytes);
    let count = r.u32_be(4)?;
    if count == 0 || count > MAX_SLICES {
        return Err(
            "not an ELF, Mach-O or PE binary (a universal header with no slice, or a Java class file)".into(),
        );
    }
    let entry_size = if wide { 32 } else { 20 };
    let mut slices = vec![];
    for i in 0..count as usize {
        let at = add(8, mul(i, entry_size)?)?;
        let (offset, size) = if wide {
            (r.u64_be(add(at, 8)?)?, r.u64_be(add(at, 16)?)?)
        } else {
            (u64::from(r.u32_be(add(at, 8)?)?), u64::from(r.u32_be(add(at, 12)?)?))
        };
        if offset.checked_add(size).is_none_or(|end| end > bytes.size()) {
            return Err(truncated());
        }
        let slice = Slice { bytes, offset, size };
        let mut magic = [0u8; 4];
        if !slice.read_at(0, &mut magic) || magic != [0xcf, 0xfa, 0xed, 0xfe] {
            return Err("a universal Mach-O with a slice that is not a 64-bit Mach-O".into());
        }
        slices.push(macho(&slice)?);
    }
    let universal = slices.iter().map(|s| s.cpu).collect();
    let library_only = slices.iter().any(|s| s.library_only);
    let first = slices.swap_remove(0);
    Ok(BinaryInfo { universal, library_only, ..first })
}

/// A window of bytes: one slice of a universal Mach-O.
struct Slice<'a> {
    bytes: &'a dyn Bytes,
    offset: u64,
    size: u64,
}

impl Bytes for Slice<'_> {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> bool {
        let end = offset.checked_add(buf.len() as u64);
        end.is_some_and(|end| end <= self.size) && self.bytes.read_at(self.offset + offset, buf)
    }
}

fn macho(bytes: &dyn Bytes) -> Result<BinaryInfo, String> {
    const LC_LOAD_DYLIB: u32 = 0xc;
    const LC_LOAD_WEAK_DYLIB: u32 = 0x8000_0018;
    const LC_REEXPORT_DYLIB: u32 = 0x8000_001f;
    const LC_VERSION_MIN_MACOSX: u32 = 0x24;
    const LC_BUILD_VERSION: u32 = 0x32;
    const MH_EXECUTE: u32 = 2;
    let r = Reader(bytes);
    let cpu = match r.u32(4)? {
        0x0100_0007 => Cpu::X86_64,
        0x0100_000c => Cpu::Aarch64,
        7 => Cpu::X86,
        12 => Cpu::Arm,
        other => Cpu::Other(other),
    };
    let filetype = r.u32(12)?;
    let mut libraries = vec![];
    let mut min_os = None;
    for LoadCommand { cmd, offset, .. } in macho_load_commands(&r)? {
        match cmd {
            LC_LOAD_DYLIB | LC_LOAD_WEAK_DYLIB | LC_REEXPORT_DYLIB => {
                let name = r.u32(add(offset, 8)?)? as usize;
                libraries.push(r.c_str(add(offset, name)?)?);
            }
            LC_BUILD_VERSION => min_os = Some(macos_version(r.u32(add(offset, 12)?)?)),
            LC_VERSION_MIN_MACOSX => min_os = Some(macos_version(r.u32(add(offset, 8)?)?)),
            _ => {}
        }
    }
    Ok(BinaryInfo {
        format: Format::MachO,
        cpu,
        static_linked: false,
        libraries,
        min_os,
        library_only: filetype != MH_EXECUTE,
        universal: vec![],
    })
}

/// Mach-O packs versions as xxxx.yy.zz in nibbles.
fn macos_version(packed: u32) -> String {
    let (major, minor, patch) = (packed >> 16, (packed >> 8) & 0xff, packed & 0xff);
    if patch == 0 {
        format!("{major}.{minor}")
    } else {
        format!("{major}.{minor}.{patch}")
    }
}

fn pe(bytes: &dyn Bytes) -> Result<BinaryInfo, String> {
    const IMAGE_FILE_DLL: u16 = 0x2000;
    let r = Reader(bytes);
    let pe = r.u32(0x3c)? as usize;
    if r.bytes(pe, 4)? != b"PE\0\0" {
        return Err("a DOS executable without a PE header".into());
    }
    let cpu = match r.u16(add(pe, 4)?)? {
        0x8664 => Cpu::X86_64,
        0xaa64 => Cpu::Aarch64,
        0x14c => Cpu::X86,
        0x1c4 => Cpu::Arm,
        other => Cpu::Other(other.into()),
    };
    let sections = usize::from(r.u16(add(pe, 6)?)?);
    let optional_size = usize::from(r.u16(add(pe, 20)?)?);
    let characteristics = r.u16(add(pe, 22)?)?;
    let optional = add(pe, 24)?;
    let libraries = pe_imports(&r, optional, optional_size, sections).unwrap_or_default();
    Ok(BinaryInfo {
        format: Format::Pe,
        cpu,
        static_linked: false,
        libraries,
        min_os: None,
        library_only: characteristics & IMAGE_FILE_DLL != 0,
        universal: vec![],
    })
}

/// The DLL names in a PE32+ import directory (best effort: only for the summary).
fn pe_imports(
    r: &Reader,
    optional: usize,
    optional_size: usize,
    sections: usize,
) -> Result<Vec<String>, String> {
    if r.u16(optional)? != 0x20b {
        return Ok(vec![]); // PE32, not PE32+
    }
    let import_rva = r.u32(add(optional, 120)?)? as usize;
    if import_rva == 0 {
        return Ok(vec![]);
    }
    let section_table = add(optional, optional_size)?;
    let rva_to_offset = |rva: usize| -> Result<usize, String> {
        for i in 0..sections {
            let s = add(section_table, mul(i, 40)?)?;
            let (vsize, vaddr) = (r.u32(add(s, 8)?)? as usize, r.u32(add(s, 12)?)? as usize);
            let raw = r.u32(add(s, 20)?)? as usize;
            if (vaddr..add(vaddr, vsize.max(1))?).contains(&rva) {
                return add(rva - vaddr, raw);
            }
        }
        Err(truncated())
    };
    let mut names = vec![];
    let mut descriptor = rva_to_offset(import_rva)?;
    loop {
        let name_rva = r.u32(add(descriptor, 12)?)? as usize;
        if name_rva == 0 {
            break;
        }
        names.push(r.c_str(rva_to_offset(name_rva)?)?);
        descriptor = add(descriptor, 20)?;
    }
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal 64-bit little-endian ELF header with the given machine and program headers.
    pub(crate) fn elf_bytes(machine: u16, phdrs: &[u32]) -> Vec<u8> {
        let mut b = vec![0u8; 64 + 56 * phdrs.len()];
        b[..4].copy_from_slice(b"\x7fELF");
        b[4] = 2;
        b[5] = 1;
        b[16..18].copy_from_slice(&3u16.to_le_bytes());
        b[18..20].copy_from_slice(&machine.to_le_bytes());
        b[32..40].copy_from_slice(&64u64.to_le_bytes());
        b[54..56].copy_from_slice(&56u16.to_le_bytes());
        b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
        for (i, p_type) in phdrs.iter().enumerate() {
            b[64 + i * 56..68 + i * 56].copy_from_slice(&p_type.to_le_bytes());
        }
        b
    }

    #[test]
    fn elf_cpu_and_static() {
        let info = inspect(&elf_bytes(183, &[1])).unwrap();
        assert_eq!(info.kind().to_string(), "aarch64 ELF");
        assert!(info.static_linked);
        assert_eq!(info.describe(), "static aarch64 ELF executable");

        let info = inspect(&elf_bytes(62, &[3, 1])).unwrap();
        assert_eq!(info.kind().to_string(), "x86-64 ELF");
        assert!(!info.static_linked, "PT_INTERP means dynamically linked");
    }

    #[test]
    fn macho_cpu_and_min_os() {
        let mut b = vec![0u8; 32 + 24];
        b[..4].copy_from_slice(&[0xcf, 0xfa, 0xed, 0xfe]);
        b[4..8].copy_from_slice(&0x0100_000cu32.to_le_bytes());
        b[12..16].copy_from_slice(&2u32.to_le_bytes());
        b[16..20].copy_from_slice(&1u32.to_le_bytes());
        b[32..36].copy_from_slice(&0x32u32.to_le_bytes());
        b[36..40].copy_from_slice(&24u32.to_le_bytes());
        b[44..48].copy_from_slice(&0x000b_0000u32.to_le_bytes());
        let info = inspect(&b).unwrap();
        assert_eq!(info.kind().to_string(), "arm64 Mach-O");
        assert_eq!(info.min_os.as_deref(), Some("11.0"));
        assert_eq!(info.describe(), "arm64 Mach-O executable (macOS 11.0+)");
    }

    #[test]
    fn pe_machine() {
        let mut b = vec![0u8; 0x80 + 24];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&0xaa64u16.to_le_bytes());
        let info = inspect(&b).unwrap();
        assert_eq!(info.kind().to_string(), "Aarch64 PE");
        assert!(!info.library_only);
    }

    #[test]
    fn refusals_say_what_the_bytes_are() {
        assert_eq!(inspect(b"#!/bin/sh\n").unwrap_err(), "a script, not a compiled binary");
        assert_eq!(inspect(b"").unwrap_err(), "an empty file");
        assert!(inspect(b"\x7fELF\x02\x01").unwrap_err().contains("truncated"));
        assert!(inspect(&[0xca, 0xfe, 0xba, 0xbe, 0, 0]).is_err());
    }

    /// A tiny deterministic generator (xorshift), so the crafted inputs are the same on
    /// every run and a failure can be replayed.
    struct Noise(u64);

    impl Noise {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
    }

    fn pe_bytes() -> Vec<u8> {
        let mut b = vec![0u8; 0x80 + 24 + 240 + 40 * 2 + 64];
        b[..2].copy_from_slice(b"MZ");
        b[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        b[0x80..0x84].copy_from_slice(b"PE\0\0");
        b[0x84..0x86].copy_from_slice(&0x8664u16.to_le_bytes());
        b[0x86..0x88].copy_from_slice(&2u16.to_le_bytes());
        b[0x94..0x96].copy_from_slice(&240u16.to_le_bytes());
        b[0x98..0x9a].copy_from_slice(&0x20bu16.to_le_bytes());
        b[0x98 + 120..0x98 + 124].copy_from_slice(&0x1000u32.to_le_bytes());
        b
    }

    fn macho_bytes() -> Vec<u8> {
        let mut b = vec![0u8; 32 + 24 + 32];
        b[..4].copy_from_slice(&[0xcf, 0xfa, 0xed, 0xfe]);
        b[4..8].copy_from_slice(&0x0100_0007u32.to_le_bytes());
        b[12..16].copy_from_slice(&2u32.to_le_bytes());
        b[16..20].copy_from_slice(&2u32.to_le_bytes());
        b[32..36].copy_from_slice(&0x32u32.to_le_bytes());
        b[36..40].copy_from_slice(&24u32.to_le_bytes());
        b[56..60].copy_from_slice(&0xcu32.to_le_bytes());
        b[60..64].copy_from_slice(&32u32.to_le_bytes());
        b[64..68].copy_from_slice(&24u32.to_le_bytes());
        b
    }

    /// A universal Mach-O of `macho_bytes` for x86_64 and the same for arm64.
    fn universal_bytes() -> Vec<u8> {
        let x86 = macho_bytes();
        let mut arm = macho_bytes();
        arm[4..8].copy_from_slice(&0x0100_000cu32.to_le_bytes());
        let mut b = vec![0u8; 64];
        b[..4].copy_from_slice(&[0xca, 0xfe, 0xba, 0xbe]);
        b[4..8].copy_from_slice(&2u32.to_be_bytes());
        for (i, (cputype, slice)) in [(0x0100_0007u32, &x86), (0x0100_000c, &arm)].into_iter().enumerate() {
            let at = 8 + 20 * i;
            b[at..at + 4].copy_from_slice(&cputype.to_be_bytes());
            b[at + 8..at + 12].copy_from_slice(&(u32::try_from(64 + 128 * i).unwrap()).to_be_bytes());
            b[at + 12..at + 16].copy_from_slice(&(u32::try_from(slice.len()).unwrap()).to_be_bytes());
        }
        // Each slice at 64 + 128 * i, padded to the next.
        for (i, slice) in [&x86, &arm].into_iter().enumerate() {
            b.extend_from_slice(slice);
            b.resize(64 + 128 * (i + 1), 0);
        }
        b
    }

    #[test]
    fn a_universal_macho_runs_on_each_cpu_it_holds() {
        let info = inspect(&universal_bytes()).unwrap();
        assert_eq!(info.universal, [Cpu::X86_64, Cpu::Aarch64]);
        assert!(info.runs_on(Cpu::X86_64) && info.runs_on(Cpu::Aarch64) && !info.runs_on(Cpu::X86));
        assert!(
            info.describe().starts_with("universal (x86_64, arm64) Mach-O executable"),
            "{}",
            info.describe()
        );
        assert!(!inspect(&macho_bytes()).unwrap().runs_on(Cpu::Aarch64));
        // A slice past the end, a slice that is not a Mach-O, no slice, a Java class file.
        let mut past = universal_bytes();
        past[8 + 20 + 12..8 + 20 + 16].copy_from_slice(&100_000u32.to_be_bytes());
        assert!(inspect(&past).unwrap_err().contains("truncated"));
        let mut not_macho = universal_bytes();
        not_macho[64 + 128] = 0;
        assert!(inspect(&not_macho).unwrap_err().contains("not a 64-bit Mach-O"));
        let mut none = universal_bytes();
        none[4..8].copy_from_slice(&0u32.to_be_bytes());
        assert!(inspect(&none).is_err());
        let java = [0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 61];
        assert!(inspect(&java).unwrap_err().contains("Java class"));
    }

    #[test]
    fn crafted_headers_are_errors_never_panics() {
        let mut seeds = vec![elf_bytes(62, &[3, 2, 1]), macho_bytes(), pe_bytes(), universal_bytes()];
        seeds.push(std::fs::read(std::env::current_exe().unwrap()).unwrap()[..4096].to_vec());
        let extremes: [&[u8]; 5] = [
            &[0xff; 8],
            &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
            &[0; 8],
            &[0xf0; 8],
            &[1, 0, 0, 0, 0, 0, 0, 0x80],
        ];
        let mut tried = 0;
        for seed in &seeds {
            // Every truncation.
            for len in 0..seed.len().min(700) {
                let _ = inspect(&seed[..len]);
                tried += 1;
            }
            // Every field of the first 512 bytes set to extreme values, at every width.
            for at in 0..seed.len().min(512) {
                for width in [2, 4, 8] {
                    for extreme in extremes {
                        let mut b = seed.clone();
                        let end = (at + width).min(b.len());
                        b[at..end].copy_from_slice(&extreme[..end - at]);
                        let _ = inspect(&b);
                        tried += 1;
                    }
                }
            }
            // Random bytes sprayed over it.
            let mut noise = Noise(0x9e37_79b9_7f4a_7c15 ^ seed.len() as u64);
            for _ in 0..3000 {
                let mut b = seed.clone();
                for _ in 0..1 + noise.next() % 8 {
                    let at = (noise.next() as usize) % b.len();
                    b[at] = noise.next() as u8;
                }
                let _ = inspect(&b);
                tried += 1;
            }
        }
        assert!(tried > 30_000, "{tried}");
        // And a known overflow: a program header offset at the end of the address space.
        let mut b = elf_bytes(62, &[1]);
        b[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(inspect(&b).unwrap_err().contains("truncated"));
    }

    #[test]
    fn reads_this_test_binary() {
        // The test binary itself is a real executable of the host's format and CPU.
        let exe = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let info = inspect(&exe).unwrap();
        let cpu = match std::env::consts::ARCH {
            "x86_64" => Cpu::X86_64,
            "aarch64" => Cpu::Aarch64,
            _ => return,
        };
        assert_eq!(info.cpu, cpu);
        assert!(!info.library_only);
    }
}

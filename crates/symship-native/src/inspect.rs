//! Reading one file: is it an ELF or Mach-O (thin or fat), and for each object in it (each fat
//! slice separately), can it be uploaded, under which debug id, or why not.
//!
//! Headers, load commands, notes and section tables are read with the `object` crate through its
//! [`object::ReadCache`] over the open file: only the ranges those structures occupy are read,
//! never the DWARF itself, so a multi-GiB debug file costs a few reads here.
//!
//! The rules follow posthog-cli 0.19.0's `debug_symbols::parse_candidates` (`kinds-and-explain.md`
//! §3.3): only executables, libraries and debug companions count (symbolic's `ObjectKind`
//! Executable, Library, Debug: ELF `ET_EXEC`/`ET_DYN`; Mach-O `MH_EXECUTE`, `MH_DYLIB`,
//! `MH_BUNDLE`, `MH_DSYM`, ...); relocatable objects (`.o`) and everything else are not symbol
//! sets and are passed over silently. Then, in this order: no debug info (Mach-O with
//! `__zdebug_*` sections: compressed DWARF), ELF DWARF sections compressed with zstd (compressed
//! DWARF: PostHog reads only zlib), no build id / no `LC_UUID`, else uploadable.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use object::macho;
use object::read::macho::{FatArch, MachOFatFile32, MachOFatFile64};
use object::{Object, ObjectSection, ReadCache, ReadCacheRange, SectionKind};

use crate::id;
use crate::reason::Reason;

/// The two object formats PostHog stores native debug info of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Uploaded as an `ElfDebugInfo` container (type 6).
    Elf,
    /// Uploaded as an `AppleDsym` container (type 5); thin files, fat slices and dSYM DWARF files.
    MachO,
}

/// One uploadable object: a whole ELF file, a thin Mach-O file, or one slice of a fat Mach-O.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// The file it is in.
    pub path: PathBuf,
    pub format: Format,
    /// Architecture as `dwarfdump`/`lipo` name it (`x86_64`, `arm64`, ...; ELF: `x86_64`,
    /// `aarch64`, ...).
    pub arch: String,
    /// Byte range of the object in the file: `0..len` unless it is a fat slice. These bytes are
    /// what is uploaded as `dwarf` (posthog-cli: symbolic's `object.data()`, or `lipo -thin`).
    pub offset: u64,
    pub len: u64,
    /// The ref ([`crate::id`]).
    pub debug_id: String,
    /// Raw GNU build id (ELF) or `LC_UUID` bytes, for reports.
    pub code_id: String,
    /// Bytes of DWARF sections (`.debug_*`, `.zdebug_*`, `__debug_*`) in it: which of two files
    /// with one debug id is the richer.
    pub debug_bytes: u64,
}

/// What one file holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Can be uploaded.
    Slice(Slice),
    /// An ELF or Mach-O object that cannot be uploaded (`arch` is set for fat slices).
    Skipped {
        path: PathBuf,
        arch: Option<String>,
        reason: Reason,
    },
}

/// How a file starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Magic {
    Elf,
    Thin,
    Fat32,
    Fat64,
}

fn magic_of(head: &[u8]) -> Option<Magic> {
    let m: [u8; 4] = head.get(..4)?.try_into().ok()?;
    match m {
        [0x7f, b'E', b'L', b'F'] => Some(Magic::Elf),
        [0xcf, 0xfa, 0xed, 0xfe]
        | [0xce, 0xfa, 0xed, 0xfe]
        | [0xfe, 0xed, 0xfa, 0xcf]
        | [0xfe, 0xed, 0xfa, 0xce] => Some(Magic::Thin),
        [0xca, 0xfe, 0xba, 0xbe] => {
            // Java class files share this magic; their next word is (minor, major) version with
            // major >= 45, while a fat header's arch count is small (Apple's `file` uses the same
            // test).
            let n = u32::from_be_bytes(head.get(4..8)?.try_into().ok()?);
            (n > 0 && n < 43).then_some(Magic::Fat32)
        }
        [0xca, 0xfe, 0xba, 0xbf] => Some(Magic::Fat64),
        _ => None,
    }
}

/// Whether the file starts like an ELF or Mach-O file (reads 8 bytes). Unreadable files are
/// `Err`.
pub fn is_native(path: &Path) -> std::io::Result<bool> {
    let mut head = [0u8; 8];
    let mut f = File::open(path)?;
    let n = read_up_to(&mut f, &mut head)?;
    Ok(magic_of(&head[..n]).is_some())
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Everything uploadable or skipped in one file; empty for files that are not ELF/Mach-O
/// executables, libraries or debug files. A file that cannot be opened or parsed is one
/// [`Reason::Unreadable`] / [`Reason::Unparseable`] finding.
pub fn inspect(path: &Path) -> Vec<Finding> {
    let skipped = |reason| {
        vec![Finding::Skipped {
            path: path.to_path_buf(),
            arch: None,
            reason,
        }]
    };
    let mut file = match File::open(path) {
        Ok(f) => f,
        Err(e) => return skipped(Reason::Unreadable(e.to_string())),
    };
    let mut head = [0u8; 8];
    let magic = match read_up_to(&mut file, &mut head) {
        Ok(n) => magic_of(&head[..n]),
        Err(e) => return skipped(Reason::Unreadable(e.to_string())),
    };
    let Some(magic) = magic else { return Vec::new() };
    let cache = ReadCache::new(file);
    let len = match object::ReadRef::len(&cache) {
        Ok(n) => n,
        Err(()) => return skipped(Reason::Unreadable("could not read its length".into())),
    };
    match magic {
        Magic::Elf | Magic::Thin => match object_in(path, &cache, 0, len, None) {
            Ok(Some(f)) => vec![f],
            Ok(None) => Vec::new(),
            Err(e) => skipped(Reason::Unparseable(e)),
        },
        Magic::Fat32 => match MachOFatFile32::parse(&cache) {
            Ok(fat) => slices(path, &cache, fat.arches()),
            Err(e) => skipped(Reason::Unparseable(format!("fat Mach-O header: {e}"))),
        },
        Magic::Fat64 => match MachOFatFile64::parse(&cache) {
            Ok(fat) => slices(path, &cache, fat.arches()),
            Err(e) => skipped(Reason::Unparseable(format!("fat64 Mach-O header: {e}"))),
        },
    }
}

fn slices<A: FatArch>(path: &Path, cache: &ReadCache<File>, arches: &[A]) -> Vec<Finding> {
    arches
        .iter()
        .filter_map(|a| {
            let (offset, size) = a.file_range();
            let arch = cpu_name(a.cputype(), a.cpusubtype());
            match object_in(path, cache, offset, size, Some(&arch)) {
                Ok(f) => f,
                Err(e) => Some(Finding::Skipped {
                    path: path.to_path_buf(),
                    arch: Some(arch),
                    reason: Reason::Unparseable(e),
                }),
            }
        })
        .collect()
}

/// The debug id of an ELF file's GNU build id ([`crate::id::elf_debug_id`]), whether or not it
/// has debug info: a stripped file names the id its debug companion is uploaded under. `None`
/// for other files, or without a build id. Reads the headers and notes only.
pub fn elf_debug_id(path: &Path) -> Option<String> {
    let cache = ReadCache::new(File::open(path).ok()?);
    let obj = object::File::parse(&cache).ok()?;
    if obj.format() != object::BinaryFormat::Elf {
        return None;
    }
    id::elf_debug_id(obj.build_id().ok()??, obj.is_little_endian())
}

/// The ref an object would be uploaded under, whether or not it can be: the GNU build id's debug
/// id of an ELF file ([`elf_debug_id`]), or the `LC_UUID` of a thin Mach-O file or of the fat
/// slice named `arch` ([`cpu_name`]). `None` without one, for other files, or when it cannot be
/// read. Reads headers and load commands only.
pub fn debug_id(path: &Path, arch: Option<&str>) -> Option<String> {
    let mut file = File::open(path).ok()?;
    let mut head = [0u8; 8];
    let n = read_up_to(&mut file, &mut head).ok()?;
    let magic = magic_of(&head[..n])?;
    let cache = ReadCache::new(file);
    let uuid_in = |offset: u64, size: u64| -> Option<String> {
        let obj = object::File::parse(cache.range(offset, size)).ok()?;
        (obj.format() == object::BinaryFormat::MachO).then_some(())?;
        id::macho_debug_id(&obj.mach_uuid().ok()??)
    };
    fn fat<A: FatArch>(arches: &[A], arch: &str) -> Option<(u64, u64)> {
        arches
            .iter()
            .find(|a| cpu_name(a.cputype(), a.cpusubtype()) == arch)
            .map(|a| a.file_range())
    }
    match (magic, arch) {
        (Magic::Elf, None) => {
            drop(cache);
            elf_debug_id(path)
        }
        (Magic::Thin, None) => uuid_in(0, object::ReadRef::len(&cache).ok()?),
        (Magic::Fat32, Some(a)) => {
            let (o, n) = fat(MachOFatFile32::parse(&cache).ok()?.arches(), a)?;
            uuid_in(o, n)
        }
        (Magic::Fat64, Some(a)) => {
            let (o, n) = fat(MachOFatFile64::parse(&cache).ok()?.arches(), a)?;
            uuid_in(o, n)
        }
        _ => None,
    }
}

/// `lipo`/`dwarfdump`'s name of a Mach-O CPU type.
pub fn cpu_name(cputype: u32, cpusubtype: u32) -> String {
    let sub = cpusubtype & !macho::CPU_SUBTYPE_MASK;
    match cputype {
        macho::CPU_TYPE_X86_64 if sub == macho::CPU_SUBTYPE_X86_64_H => "x86_64h".into(),
        macho::CPU_TYPE_X86_64 => "x86_64".into(),
        macho::CPU_TYPE_X86 => "i386".into(),
        macho::CPU_TYPE_ARM64 if sub == macho::CPU_SUBTYPE_ARM64E => "arm64e".into(),
        macho::CPU_TYPE_ARM64 => "arm64".into(),
        macho::CPU_TYPE_ARM64_32 => "arm64_32".into(),
        macho::CPU_TYPE_ARM if sub == macho::CPU_SUBTYPE_ARM_V7K => "armv7k".into(),
        macho::CPU_TYPE_ARM if sub == macho::CPU_SUBTYPE_ARM_V7S => "armv7s".into(),
        macho::CPU_TYPE_ARM if sub == macho::CPU_SUBTYPE_ARM_V7 => "armv7".into(),
        macho::CPU_TYPE_ARM => "arm".into(),
        macho::CPU_TYPE_POWERPC => "ppc".into(),
        macho::CPU_TYPE_POWERPC64 => "ppc64".into(),
        _ => format!("cputype {cputype:#x}"),
    }
}

/// Whether a Mach-O `filetype` is one symbolic counts as Executable, Library or Debug.
fn macho_filetype_counts(filetype: u32) -> bool {
    matches!(
        filetype,
        macho::MH_EXECUTE
            | macho::MH_PRELOAD
            | macho::MH_DYLINKER
            | macho::MH_FVMLIB
            | macho::MH_DYLIB
            | macho::MH_BUNDLE
            | macho::MH_KEXT_BUNDLE
            | macho::MH_DSYM
    )
}

/// The one object at `offset..offset+size`: `Ok(None)` if it is not a kind that counts.
fn object_in(
    path: &Path,
    cache: &ReadCache<File>,
    offset: u64,
    size: u64,
    fat_arch: Option<&str>,
) -> Result<Option<Finding>, String> {
    let data: ReadCacheRange<'_, File> = cache.range(offset, size);
    let obj = object::File::parse(data).map_err(|e| e.to_string())?;
    let format = match obj.format() {
        object::BinaryFormat::Elf => Format::Elf,
        object::BinaryFormat::MachO => Format::MachO,
        _ => return Ok(None),
    };
    let counts = match format {
        Format::Elf => matches!(
            obj.kind(),
            object::ObjectKind::Executable | object::ObjectKind::Dynamic
        ),
        Format::MachO => {
            let head = object::ReadRef::read_bytes_at(data, 0, 16)
                .map_err(|()| "short Mach-O header".to_string())?;
            let raw: [u8; 4] = head[12..16].try_into().expect("4 bytes");
            let filetype = if obj.is_little_endian() {
                u32::from_le_bytes(raw)
            } else {
                u32::from_be_bytes(raw)
            };
            macho_filetype_counts(filetype)
        }
    };
    if !counts {
        return Ok(None);
    }
    let arch = match fat_arch {
        Some(a) => a.to_string(),
        None if format == Format::MachO => {
            let head = object::ReadRef::read_bytes_at(data, 0, 12)
                .map_err(|()| "short Mach-O header".to_string())?;
            let word = |i: usize| {
                let raw: [u8; 4] = head[i..i + 4].try_into().expect("4 bytes");
                if obj.is_little_endian() {
                    u32::from_le_bytes(raw)
                } else {
                    u32::from_be_bytes(raw)
                }
            };
            cpu_name(word(4), word(8))
        }
        None => elf_arch_name(obj.architecture()),
    };
    let skipped = |reason| {
        Ok(Some(Finding::Skipped {
            path: path.to_path_buf(),
            arch: fat_arch.map(str::to_string),
            reason,
        }))
    };

    // A truncated file still parses (headers and load commands come first) but its section data
    // is cut: symbolic refuses it (posthog-cli: "Unparseable object"), and uploading it would
    // store a broken set under the real id.
    for s in obj.sections() {
        if let Some((start, n)) = s.file_range() {
            if s.kind() != SectionKind::UninitializedData && start.saturating_add(n) > size {
                let name = String::from_utf8_lossy(s.name_bytes().unwrap_or(b"?")).into_owned();
                return Err(format!(
                    "its section {name} ends at byte {} but the object has {size} bytes (the file is truncated \
                     or corrupt); upload the complete file",
                    start.saturating_add(n)
                ));
            }
        }
    }

    let mut has_debug_info = false;
    let mut zdebug = false;
    let mut zstd = false;
    let mut debug_bytes = 0u64;
    for s in obj.sections() {
        let Ok(name) = s.name_bytes() else { continue };
        let dwarf_name = match format {
            // symbolic: a `.debug_info` or `.zdebug_info` section that has file bytes (not
            // NOBITS, offset not 0: objcopy --only-keep-debug and strip leave empty headers).
            Format::Elf => name.strip_prefix(b".z").or_else(|| name.strip_prefix(b".")),
            Format::MachO => {
                if name.starts_with(b"__zdebug_") {
                    zdebug = true;
                }
                name.strip_prefix(b"__")
            }
        };
        let Some(dwarf_name) = dwarf_name else { continue };
        if !dwarf_name.starts_with(b"debug_") {
            continue;
        }
        let in_file =
            s.kind() != SectionKind::UninitializedData && s.file_range().is_some_and(|(o, _)| o != 0);
        if !in_file {
            continue;
        }
        debug_bytes += s.file_range().map_or(0, |(_, n)| n);
        if dwarf_name == b"debug_info" {
            has_debug_info = true;
        }
        // SHF_COMPRESSED with ch_type ELFCOMPRESS_ZSTD (`objcopy --compress-debug-sections=zstd`,
        // `-gz=zstd`): the compression header is read, a few bytes
        if format == Format::Elf
            && s.compressed_file_range()
                .is_ok_and(|c| c.format == object::CompressionFormat::Zstandard)
        {
            zstd = true;
        }
    }
    if !has_debug_info {
        return skipped(if zdebug {
            Reason::CompressedDwarf
        } else {
            Reason::NoDebugInfo
        });
    }
    if zstd {
        // symbolic, which PostHog's symbolicator reads debug files with, decompresses only zlib
        // (ElfObject::decompress_section): the set would be stored and never read
        return skipped(Reason::ZstdDwarf);
    }

    let (debug_id, code_id) = match format {
        Format::Elf => {
            let build_id = obj.build_id().map_err(|e| format!("GNU build id note: {e}"))?;
            match build_id.and_then(|b| id::elf_debug_id(b, obj.is_little_endian()).map(|d| (d, id::hex(b))))
            {
                Some(ids) => ids,
                None => return skipped(Reason::NoBuildId),
            }
        }
        Format::MachO => {
            let uuid = obj.mach_uuid().map_err(|e| format!("LC_UUID: {e}"))?;
            let Some(uuid) = uuid else {
                return skipped(Reason::NoUuid);
            };
            match id::macho_debug_id(&uuid) {
                Some(d) => (d.clone(), d),
                None => return skipped(Reason::NilUuid),
            }
        }
    };
    Ok(Some(Finding::Slice(Slice {
        path: path.to_path_buf(),
        format,
        arch,
        offset,
        len: size,
        debug_id,
        code_id,
        debug_bytes,
    })))
}

fn elf_arch_name(a: object::Architecture) -> String {
    use object::Architecture as A;
    match a {
        A::X86_64 | A::X86_64_X32 => "x86_64".into(),
        A::I386 => "i386".into(),
        A::Aarch64 | A::Aarch64_Ilp32 => "aarch64".into(),
        A::Arm => "arm".into(),
        A::Riscv64 => "riscv64".into(),
        A::Riscv32 => "riscv32".into(),
        A::PowerPc64 => "ppc64".into(),
        A::PowerPc => "ppc".into(),
        A::S390x => "s390x".into(),
        A::Mips => "mips".into(),
        A::Mips64 => "mips64".into(),
        A::LoongArch64 => "loongarch64".into(),
        other => format!("{other:?}").to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_class_files_are_not_fat_mach_o() {
        // A Java 8 class file: cafebabe, minor 0, major 52.
        assert_eq!(magic_of(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52]), None);
        assert_eq!(
            magic_of(&[0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 2]),
            Some(Magic::Fat32)
        );
        assert_eq!(magic_of(b"\x7fELF\x02\x01\x01\x00"), Some(Magic::Elf));
        assert_eq!(magic_of(b"#!/bin/sh"), None);
        assert_eq!(magic_of(b"\x7fEL"), None);
    }
}

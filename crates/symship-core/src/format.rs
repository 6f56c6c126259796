//! What a file is, from its first bytes, for messages that refuse a file of the wrong format
//! ("... is a gzip-compressed file, not a ProGuard mapping"): the magic numbers of the formats a
//! build directory holds (compressed files, archives, ELF and Mach-O, Java classes, UTF-16 text).
//! Not a parser: the kinds read their own formats.

/// A file format recognised by [`sniff`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `1f 8b`.
    Gzip,
    /// `28 b5 2f fd`.
    Zstd,
    /// `fd 37 7a 58 5a 00`.
    Xz,
    /// `PK\x03\x04` (or an empty archive's `PK\x05\x06`): a zip, jar, aar, apk or ipa.
    Zip,
    /// `7f E L F`.
    Elf,
    /// A thin Mach-O file (`feedface`/`feedfacf`, either byte order).
    MachO,
    /// A fat (universal) Mach-O file (`cafebabe` with a small arch count, or `cafebabf`).
    FatMachO,
    /// A Java class file (`cafebabe` followed by its version, major >= 45).
    JavaClass,
    /// UTF-16 text (a byte-order mark `ff fe` or `fe ff`).
    Utf16,
    /// None of these, with a NUL among the first bytes.
    Binary,
    /// None of these, without a NUL: text (perhaps not UTF-8).
    Text,
}

impl Format {
    /// The format in a few words, with an article: "a gzip-compressed file", "an ELF file (an
    /// executable, library or debug file)".
    pub fn describe(self) -> &'static str {
        match self {
            Format::Gzip => "a gzip-compressed file",
            Format::Zstd => "a zstd-compressed file",
            Format::Xz => "an xz-compressed file",
            Format::Zip => "a zip archive (or a jar, aar, apk or ipa)",
            Format::Elf => "an ELF file (an executable, library or debug file)",
            Format::MachO => "a Mach-O file (an executable, library or dSYM's DWARF file)",
            Format::FatMachO => "a fat Mach-O file (an executable, library or dSYM's DWARF file)",
            Format::JavaClass => "a Java class file",
            Format::Utf16 => "UTF-16 text",
            Format::Binary => "a binary file",
            Format::Text => "text",
        }
    }

    /// Whether the file is compressed (a copy that decompresses to the expected file may exist).
    pub fn is_compressed(self) -> bool {
        matches!(self, Format::Gzip | Format::Zstd | Format::Xz)
    }
}

/// Bytes [`sniff`] needs to tell every format apart.
pub const SNIFF_LEN: usize = 64;

/// What a file that starts with `head` (its first [`SNIFF_LEN`] bytes, or all of a shorter file)
/// is.
pub fn sniff(head: &[u8]) -> Format {
    let starts = |m: &[u8]| head.starts_with(m);
    let be32 = |at: usize| {
        head.get(at..at + 4)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    };
    if starts(&[0x1f, 0x8b]) {
        Format::Gzip
    } else if starts(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Format::Zstd
    } else if starts(&[0xfd, b'7', b'z', b'X', b'Z', 0x00]) {
        Format::Xz
    } else if starts(b"PK\x03\x04") || starts(b"PK\x05\x06") {
        Format::Zip
    } else if starts(b"\x7fELF") {
        Format::Elf
    } else if [
        [0xfe, 0xed, 0xfa, 0xce],
        [0xfe, 0xed, 0xfa, 0xcf],
        [0xce, 0xfa, 0xed, 0xfe],
        [0xcf, 0xfa, 0xed, 0xfe],
    ]
    .iter()
    .any(|m| starts(m))
    {
        Format::MachO
    } else if starts(&[0xca, 0xfe, 0xba, 0xbf]) {
        Format::FatMachO
    } else if starts(&[0xca, 0xfe, 0xba, 0xbe]) {
        // a fat header's arch count is small; a class file's next word is its version (major
        // >= 45), as Apple's `file` tells them apart
        match be32(4) {
            Some(n) if n > 0 && n < 43 => Format::FatMachO,
            _ => Format::JavaClass,
        }
    } else if starts(&[0xff, 0xfe]) || starts(&[0xfe, 0xff]) {
        Format::Utf16
    } else if head.contains(&0) {
        Format::Binary
    } else {
        Format::Text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_format_is_told_by_its_first_bytes() {
        let cases: [(&[u8], Format); 13] = [
            (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", Format::Gzip),
            (b"\x28\xb5\x2f\xfd\x04\x00", Format::Zstd),
            (b"\xfd7zXZ\x00\x00", Format::Xz),
            (b"PK\x03\x04\x14\x00", Format::Zip),
            (b"\x7fELF\x02\x01\x01\x00", Format::Elf),
            (b"\xcf\xfa\xed\xfe\x0c\x00\x00\x01", Format::MachO),
            (b"\xca\xfe\xba\xbe\x00\x00\x00\x02", Format::FatMachO),
            (b"\xca\xfe\xba\xbf\x00\x00\x00\x02", Format::FatMachO),
            // a class file of Java 8 (major 52)
            (b"\xca\xfe\xba\xbe\x00\x00\x00\x34", Format::JavaClass),
            (b"\xff\xfec\x00o\x00m\x00", Format::Utf16),
            (b"\x00\x01\x02\x03", Format::Binary),
            (b"com.a.B -> a:\n    int \xe9 -> a\n", Format::Text),
            (b"", Format::Text),
        ];
        for (head, want) in cases {
            assert_eq!(sniff(head), want, "{head:?}");
        }
        assert!(Format::Gzip.is_compressed() && !Format::Zip.is_compressed());
        assert!(Format::Elf.describe().starts_with("an ELF file"));
    }
}

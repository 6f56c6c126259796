//! Why a native file is not uploaded, each with a stable code and what to do (the cases
//! posthog-cli 0.19.0's `report_problems` warns about, `kinds-and-explain.md` §3.3, plus the
//! files it cannot read).

use std::path::PathBuf;

use symship_core::Code;

/// Why an ELF or Mach-O object (or a split-DWARF file) is not uploaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Reason {
    /// An executable or library without DWARF (stripped, or built without `-g`; a Mach-O
    /// executable whose DWARF is in its dSYM).
    #[error(
        "has no debug info; build with debug info (-g; Rust: debug = \"line-tables-only\" in [profile.release]) \
         and upload before stripping, or upload the dSYM / objcopy --only-keep-debug companion instead"
    )]
    NoDebugInfo,
    /// An ELF with DWARF but no GNU build id: crash events could never name it.
    #[error(
        "has debug info but no GNU build id, so no crash can be matched to it; link with -Wl,--build-id=sha1 \
         (Rust: -C link-arg=-Wl,--build-id=sha1; Go: -ldflags=-B=gobuildid, or where Go refuses \
         it (1.19: \"-B argument must start with 0x\"): -ldflags=-B=0x followed by 40 hex digits new for each build, \
         such as a commit hash)"
    )]
    NoBuildId,
    /// A Mach-O with DWARF but no (or a nil) `LC_UUID`.
    #[error(
        "has debug info but no LC_UUID, so no crash can be matched to it; link without -no_uuid \
         (Apple's ld adds an LC_UUID by default; Go 1.19's linker writes none)"
    )]
    NoUuid,
    /// A Mach-O with DWARF whose `LC_UUID` is all zeros (the nil UUID): no crash names it.
    #[error(
        "has debug info but its LC_UUID is all zeros, so no crash can be matched to it; link it again with \
         a real UUID (Apple's ld writes one by default; a tool that zeroed it for reproducibility must not)"
    )]
    NilUuid,
    /// A Mach-O whose DWARF sections are compressed (`__zdebug_*`, Go's default on macOS), which
    /// PostHog cannot read.
    #[error(
        "carries compressed DWARF (__zdebug_* sections), which PostHog cannot symbolicate with; \
         rebuild with -ldflags=-compressdwarf=false (Go) and upload that binary"
    )]
    CompressedDwarf,
    /// An ELF whose DWARF sections are compressed with zstd (`SHF_COMPRESSED`, `ch_type` 2:
    /// `objcopy --compress-debug-sections=zstd`, `gcc -gz=zstd`): PostHog's symbolicator reads
    /// debug files with symbolic, which decompresses zlib only.
    #[error(
        "carries DWARF sections compressed with zstd, which PostHog cannot read (it reads zlib only); \
         upload a copy made with objcopy --decompress-debug-sections (or --compress-debug-sections=zlib), \
         or build with -gz=zlib or -gz=none"
    )]
    ZstdDwarf,
    /// A `.dwo`/`.dwp` split-DWARF file, which PostHog does not read.
    #[error(
        "is split DWARF (.dwo/.dwp), which PostHog does not read; build with the debug info in the binary \
         (no -gsplit-dwarf), or upload an objcopy --only-keep-debug companion"
    )]
    SplitDwarf,
    /// A zipped dSYM (`App.app.dSYM.zip`, written by fastlane's gym beside the IPA, or
    /// `appDsyms.zip` from App Store Connect): the zip is not opened.
    #[error(
        "is a zipped dSYM, which is not read inside the zip; unzip it (unzip <file> -d dSYMs) and upload the \
         unzipped folder"
    )]
    ZippedDsym,
    /// A regular file named `*.dSYM` (a dSYM is a directory): `format` is what it is, from its
    /// first bytes (a zip: a zipped dSYM renamed; a Mach-O file: a dSYM's DWARF file out of its
    /// bundle).
    #[error("is a file, not a dSYM bundle (a dSYM is a folder: X.dSYM/Contents/Resources/DWARF/X); {}", not_a_bundle_what(*.0))]
    NotABundle(symship_core::format::Format),
    /// A `.dSYM` bundle without `Contents/Resources/DWARF/` (copied without its contents, or not
    /// written by `dsymutil`): it holds no debug info.
    #[error(
        "has no Contents/Resources/DWARF/ folder, so it holds no debug info: an incomplete dSYM bundle; copy \
         the whole bundle, or make it again with dsymutil"
    )]
    NoDwarfFolder,
    /// Another file has the same debug id and more DWARF; that one is uploaded.
    #[error(
        "has the debug id {debug_id} of {}, which carries at least as much debug info and is uploaded instead; \
         nothing to do if it is a copy or a debug companion of that file, but if it is another program, the two \
         share a build id given by hand (-Wl,--build-id=0x...) and crashes of one resolve against the other: give \
         each build its own id (--build-id=sha1)",
        .kept.display()
    )]
    Duplicate { debug_id: String, kept: PathBuf },
    /// It could not be opened or read.
    #[error("cannot be read: {0}")]
    Unreadable(String),
    /// A symbolic link that leads back to a directory above it: the walk does not follow it.
    #[error("is part of a symbolic-link loop ({0}); remove the loop or point -d below it")]
    SymlinkLoop(String),
    /// It starts like an ELF or Mach-O file but its headers are not valid.
    #[error("is not a valid ELF or Mach-O file: {0}")]
    Unparseable(String),
}

/// What a file named `*.dSYM` is, and what to do with it.
fn not_a_bundle_what(format: symship_core::format::Format) -> String {
    use symship_core::format::Format;
    match format {
        Format::Zip => "it is a zip archive, likely a zipped dSYM: unzip it (unzip <file> -d dSYMs) and upload the \
             unzipped folder"
            .into(),
        Format::MachO | Format::FatMachO => format!(
            "it is {}, likely a dSYM's DWARF file copied out of its bundle: copy the whole bundle (cp -R), or \
             upload the file with `symship symbol-sets upload`, which reads loose Mach-O files",
            format.describe()
        ),
        other => format!(
            "it is {}, neither a zipped dSYM nor a Mach-O file: copy the whole bundle (cp -R), or move the file \
             out of the directory",
            other.describe()
        ),
    }
}

impl Reason {
    /// Its code in symship's registry of codes (`symship_core::Code`: JSON reports, the README's
    /// table).
    pub fn registered(&self) -> Code {
        match self {
            Reason::NoDebugInfo | Reason::NoDwarfFolder => Code::NoDebugInfo,
            Reason::NoBuildId => Code::NoBuildId,
            Reason::NoUuid | Reason::NilUuid => Code::NoUuid,
            Reason::CompressedDwarf | Reason::ZstdDwarf => Code::CompressedDwarf,
            Reason::SplitDwarf => Code::SplitDwarf,
            Reason::ZippedDsym => Code::ZippedDsym,
            Reason::NotABundle(_) => Code::NotABundle,
            Reason::Duplicate { .. } => Code::DuplicateDebugId,
            Reason::Unreadable(_) => Code::Unreadable,
            Reason::Unparseable(_) => Code::Unparseable,
            Reason::SymlinkLoop(_) => Code::SymlinkLoop,
        }
    }

    /// A stable code for reports (JSON, `explain`): [`Reason::registered`]'s string.
    pub fn code(&self) -> &'static str {
        self.registered().as_str()
    }
}

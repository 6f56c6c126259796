//! The kinds of symbol set PostHog error tracking stores, one per posthog-symbol-data container
//! type (spec `posthog-protocol.md` §6; `posthog-symbol-data` 0.5.2 `SymbolDataType`).

/// A kind of symbol set: its container type tag, its name in the spec and in JSON output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// Type 2: a minified JavaScript file and its sourcemap (web and Node chunks). Ref: the chunk id.
    SourceAndMap,
    /// Type 3: a React Native composed map (Metro + hermesc). Ref: the chunk id.
    HermesMap,
    /// Type 4: a ProGuard/R8 mapping text. Ref: the map id (`--map-id`).
    ProguardMapping,
    /// Type 5: a zip with the dSYM's DWARF (`dwarf`) and optional `__source/`. Ref: LC_UUID, upper-case.
    AppleDsym,
    /// Type 6: a zip with ELF debug info (`dwarf`) and optional `__source/`. Ref: the debug id of the build id.
    ElfDebugInfo,
}

impl Kind {
    /// Every kind, in type-tag order.
    pub const ALL: [Kind; 5] = [
        Kind::SourceAndMap,
        Kind::HermesMap,
        Kind::ProguardMapping,
        Kind::AppleDsym,
        Kind::ElfDebugInfo,
    ];

    /// The container's type tag (`u32 LE` at offset 26 of a v2 container).
    pub const fn tag(self) -> u32 {
        match self {
            Kind::SourceAndMap => 2,
            Kind::HermesMap => 3,
            Kind::ProguardMapping => 4,
            Kind::AppleDsym => 5,
            Kind::ElfDebugInfo => 6,
        }
    }

    /// The kind of a type tag; `None` for tags posthog-symbol-data 0.5.2 does not know.
    pub fn from_tag(tag: u32) -> Option<Kind> {
        Kind::ALL.into_iter().find(|k| k.tag() == tag)
    }

    /// The name posthog-symbol-data and the spec use (`SourceAndMap`, `HermesMap`, ...).
    pub const fn name(self) -> &'static str {
        match self {
            Kind::SourceAndMap => "SourceAndMap",
            Kind::HermesMap => "HermesMap",
            Kind::ProguardMapping => "ProguardMapping",
            Kind::AppleDsym => "AppleDsym",
            Kind::ElfDebugInfo => "ElfDebugInfo",
        }
    }

    /// The stable lower-case name of JSON output and reports (`source_and_map`, `hermes_map`,
    /// `proguard_mapping`, `apple_dsym`, `elf_debug_info`).
    pub const fn code(self) -> &'static str {
        match self {
            Kind::SourceAndMap => "source_and_map",
            Kind::HermesMap => "hermes_map",
            Kind::ProguardMapping => "proguard_mapping",
            Kind::AppleDsym => "apple_dsym",
            Kind::ElfDebugInfo => "elf_debug_info",
        }
    }

    /// What it holds, in words ("a Hermes map").
    pub const fn describe(self) -> &'static str {
        match self {
            Kind::SourceAndMap => "JavaScript and its sourcemap",
            Kind::HermesMap => "a Hermes map",
            Kind::ProguardMapping => "a ProGuard mapping",
            Kind::AppleDsym => "an Apple dSYM",
            Kind::ElfDebugInfo => "ELF debug info",
        }
    }

    /// What a set's ref is called in reports: `chunk` (its chunk id: web and Hermes maps), `map id`
    /// (ProGuard/R8: `--map-id`, spec `kinds-and-explain.md` §2.4) or `debug id` (native debug
    /// files: `LC_UUID` or the ELF build id as a GUID, §3.2).
    pub const fn ref_name(self) -> &'static str {
        match self {
            Kind::SourceAndMap | Kind::HermesMap => "chunk",
            Kind::ProguardMapping => "map id",
            Kind::AppleDsym | Kind::ElfDebugInfo => "debug id",
        }
    }

    /// Whether its sets are native debug files (dSYM, Mach-O or ELF), not maps.
    pub const fn is_debug_file(self) -> bool {
        matches!(self, Kind::AppleDsym | Kind::ElfDebugInfo)
    }

    /// What to do about a set of this kind over PostHog's 100 MiB limit
    /// ([`crate::container::MAX_SET_BYTES`], the compressed container): the registry's hint for
    /// `too_large` ([`crate::Code::TooLarge`]) covers every kind; this is the one that fits.
    pub const fn too_large_hint(self) -> &'static str {
        match self {
            Kind::SourceAndMap | Kind::HermesMap => "split the chunk in the bundler",
            Kind::ProguardMapping => {
                "check it is one build's mapping (R8 writes one mapping.txt per variant): PostHog stores at most \
                 100 MiB of it compressed"
            }
            Kind::AppleDsym | Kind::ElfDebugInfo => {
                "upload the debug info alone (ELF: objcopy --only-keep-debug; Apple: the dSYM, not the app), \
                 build with less of it (-gline-tables-only or -g1; Rust: debug = \"line-tables-only\"), or leave out \
                 --include-source"
            }
        }
    }
}

impl std::fmt::Display for Kind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_match_posthog_symbol_data() {
        use posthog_symbol_data as p;
        let tag = |c: Vec<u8>| u32::from_le_bytes(c[26..30].try_into().unwrap());
        let text = String::from("x");
        for (k, written) in [
            (
                Kind::SourceAndMap,
                p::write_symbol_data(p::SourceAndMap {
                    minified_source: text.clone(),
                    sourcemap: text.clone(),
                }),
            ),
            (
                Kind::HermesMap,
                p::write_symbol_data(p::HermesMap {
                    sourcemap: text.clone(),
                }),
            ),
            (
                Kind::ProguardMapping,
                p::write_symbol_data(p::ProguardMapping {
                    content: text.clone(),
                }),
            ),
            (
                Kind::AppleDsym,
                p::write_symbol_data(p::AppleDsym { data: vec![1] }),
            ),
            (
                Kind::ElfDebugInfo,
                p::write_symbol_data(p::ElfDebugInfo { data: vec![1] }),
            ),
        ] {
            assert_eq!(k.tag(), tag(written.unwrap()), "{k}");
            assert_eq!(Kind::from_tag(k.tag()), Some(k));
        }
        assert_eq!(Kind::from_tag(1), None);
        assert_eq!(Kind::from_tag(7), None);
    }
}

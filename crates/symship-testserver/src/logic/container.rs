//! What the server checks about a finished upload (§6), as cymbal reads it: the object must be a
//! posthog-symbol-data container (v1 or v2) of type SourceAndMap whose map is a JSON object (what
//! cymbal hands to its sourcemap parser). The map's `chunk_id` member is not checked: cymbal finds
//! the set by its ref and never reads that member, so PostHog accepts a map without one (what
//! @posthog/rollup-plugin uploads through posthog-cli, injecting in memory) or with another chunk's
//! (a map shared by several chunks). Uses the official crate, not a copy.

//!
//! AppleDsym (5) and ElfDebugInfo (6) containers: the payload must be a zip whose `dwarf` entry is
//! one Mach-O slice / one ELF file whose own debug id (`LC_UUID` upper-case; the GNU build id as
//! posthog-cli's debug id) is the set's ref (`symship_native::package::verify_payload`): cymbal
//! finds the debug file by that ref, so any other file would symbolicate nothing.

//!
//! HermesMap (3): the map must decode as a Hermes map with the `sourcemap` crate
//! (`SourceMapHermes::from_slice`, which cymbal's `hermesmap.rs` calls): a flat map with
//! `x_facebook_sources`; anything else is "Invalid map" there. ProguardMapping (4): the text must
//! pass `proguard::ProguardMapping::is_valid` (cymbal's `FetchedMapping::new` refuses it with
//! `InvalidMapping` otherwise).

use posthog_symbol_data::{
    read_symbol_data, AppleDsym, ElfDebugInfo, HermesMap, ProguardMapping, SourceAndMap,
};

/// The container's type tag, when the bytes start with a container header.
fn type_tag(bytes: &[u8]) -> Option<u32> {
    let magic = b"posthog_error_tracking";
    (bytes.len() >= magic.len() + 8 && bytes.starts_with(magic))
        .then(|| u32::from_le_bytes(bytes[26..30].try_into().expect("4 bytes")))
}

/// `Err((kind, detail))` names the failed check: `container`, `map_json` or `native_payload`.
/// (`reference` is the symbol set's ref: native payloads must carry it as their own debug id; a
/// map's `chunk_id` need not match it.)
pub fn check(bytes: &[u8], reference: &str) -> Result<(), (&'static str, String)> {
    let native = |zip: &[u8], format| {
        symship_native::package::verify_payload(zip, format, reference).map_err(|e| ("native_payload", e))
    };
    match type_tag(bytes) {
        Some(5) => {
            let d: AppleDsym = read_symbol_data(bytes)
                .map_err(|e| ("container", format!("not an AppleDsym container: {e}")))?;
            return native(&d.data, symship_native::Format::MachO);
        }
        Some(6) => {
            let d: ElfDebugInfo = read_symbol_data(bytes)
                .map_err(|e| ("container", format!("not an ElfDebugInfo container: {e}")))?;
            return native(&d.data, symship_native::Format::Elf);
        }
        Some(3) => {
            let data: HermesMap = read_symbol_data(bytes)
                .map_err(|e| ("container", format!("not a HermesMap container: {e}")))?;
            sourcemap::SourceMapHermes::from_slice(data.sourcemap.as_bytes()).map_err(|e| {
                (
                    "hermes_map",
                    format!("cymbal cannot read the map as a Hermes map (a flat map with x_facebook_sources): {e}"),
                )
            })?;
            return Ok(());
        }
        Some(4) => {
            let data: ProguardMapping = read_symbol_data(bytes)
                .map_err(|e| ("container", format!("not a ProguardMapping container: {e}")))?;
            if !proguard::ProguardMapping::new(data.content.as_bytes()).is_valid() {
                return Err((
                    "proguard_mapping",
                    "not a valid ProGuard mapping (no class line followed by a member in the first 50 records)".into(),
                ));
            }
            return Ok(());
        }
        _ => {}
    }
    let data: SourceAndMap =
        read_symbol_data(bytes).map_err(|e| ("container", format!("not a SourceAndMap container: {e}")))?;
    let map: serde_json::Value = serde_json::from_str(&data.sourcemap)
        .map_err(|e| ("map_json", format!("the map is not JSON: {e}")))?;
    if !map.is_object() {
        return Err(("map_json", "the map is not a JSON object".to_owned()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn native_payloads_must_carry_their_ref_as_their_own_debug_id() {
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/native/posthog-cli-0.19.0");
        let read = |rel: &str| std::fs::read(dir.join(rel)).unwrap();
        let elf_ref = "f734873c-9dcd-04d1-273a-d1a45db9639b";
        let mac_ref = "4C4C44D0-5555-3144-A1A6-90248F0DD418";
        let elf = write_symbol_data(ElfDebugInfo {
            data: read(&format!("elf/payloads/{elf_ref}.bin")),
        })
        .unwrap();
        let mac = write_symbol_data(AppleDsym {
            data: read(&format!("dsym/payloads/{mac_ref}.bin")),
        })
        .unwrap();
        // what posthog-cli 0.19.0 uploaded is accepted
        assert_eq!(check(&elf, elf_ref), Ok(()));
        assert_eq!(check(&mac, mac_ref), Ok(()));
        // under another ref, as the other kind, or not a zip: refused
        assert_eq!(
            check(&elf, "00000000-0000-0000-0000-000000000000").unwrap_err().0,
            "native_payload"
        );
        assert_eq!(
            check(&mac, &mac_ref.to_lowercase()).unwrap_err().0,
            "native_payload"
        );
        let swapped = write_symbol_data(AppleDsym {
            data: read(&format!("elf/payloads/{elf_ref}.bin")),
        })
        .unwrap();
        assert_eq!(check(&swapped, elf_ref).unwrap_err().0, "native_payload");
        let junk = write_symbol_data(ElfDebugInfo {
            data: b"not a zip".to_vec(),
        })
        .unwrap();
        assert_eq!(check(&junk, elf_ref).unwrap_err().0, "native_payload");
    }
    use posthog_symbol_data::{write_symbol_data, write_symbol_data_uncompressed};

    fn sam(map: &str) -> SourceAndMap {
        SourceAndMap {
            minified_source: "console.log(1)".into(),
            sourcemap: map.into(),
        }
    }

    #[test]
    fn accepts_v2_and_uncompressed() {
        let map = r#"{"version":3,"chunk_id":"abc","mappings":""}"#;
        assert_eq!(check(&write_symbol_data(sam(map)).unwrap(), "abc"), Ok(()));
        assert_eq!(
            check(&write_symbol_data_uncompressed(sam(map)).unwrap(), "abc"),
            Ok(())
        );
    }

    #[test]
    fn accepts_v1() {
        let payload = {
            let mut p = Vec::new();
            let src = b"x";
            let map = br#"{"chunk_id":"v1"}"#;
            p.extend_from_slice(&(src.len() as u64).to_le_bytes());
            p.extend_from_slice(src);
            p.extend_from_slice(&(map.len() as u64).to_le_bytes());
            p.extend_from_slice(map);
            p
        };
        let mut v1 = b"posthog_error_tracking".to_vec();
        v1.extend_from_slice(&1u32.to_le_bytes());
        v1.extend_from_slice(&2u32.to_le_bytes());
        v1.extend_from_slice(&payload);
        assert_eq!(check(&v1, "v1"), Ok(()));
    }

    #[test]
    fn the_maps_chunk_id_is_not_read() {
        for map in [
            r#"{"version":3,"mappings":""}"#,
            r#"{"version":3,"chunk_id":"b","mappings":""}"#,
        ] {
            assert_eq!(check(&write_symbol_data(sam(map)).unwrap(), "a"), Ok(()), "{map}");
        }
    }

    #[test]
    fn rejects_what_cymbal_could_not_use() {
        assert_eq!(check(b"hello", "a").unwrap_err().0, "container");
        let raw = write_symbol_data(sam("not json")).unwrap();
        assert_eq!(check(&raw, "a").unwrap_err().0, "map_json");
        let array = write_symbol_data(sam("[]")).unwrap();
        assert_eq!(check(&array, "a").unwrap_err().0, "map_json");
        let mut trailing = write_symbol_data_uncompressed(sam(r#"{"chunk_id":"a"}"#)).unwrap();
        trailing.push(0);
        assert_eq!(check(&trailing, "a").unwrap_err().0, "container");
    }

    fn fixture(rel: &str) -> String {
        std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../fixtures")
                .join(rel),
        )
        .unwrap()
    }

    #[test]
    fn hermes_maps_are_read_as_cymbal_reads_them() {
        let hermes = |map: String| write_symbol_data(HermesMap { sourcemap: map }).unwrap();
        // the composed map the build wrote: flat, x_facebook_sources, x_hermes_function_offsets
        assert_eq!(
            check(&hermes(fixture("hermes/posthog/index.android.bundle.map")), "a"),
            Ok(())
        );
        // Metro's packager map is an index map: not a Hermes map for cymbal
        let packager = hermes(fixture("hermes/posthog/index.android.bundle.packager.map"));
        assert_eq!(check(&packager, "a").unwrap_err().0, "hermes_map");
        // hermesc's own map has no x_facebook_sources
        let compiler = hermes(fixture("hermes/posthog/index.android.bundle.hbc.map"));
        assert_eq!(check(&compiler, "a").unwrap_err().0, "hermes_map");
        assert_eq!(check(&hermes("{".into()), "a").unwrap_err().0, "hermes_map");
    }

    #[test]
    fn proguard_mappings_must_be_valid() {
        let pg = |content: String| write_symbol_data(ProguardMapping { content }).unwrap();
        for f in [
            "proguard/proguard-6.2.2/mapping.txt",
            "proguard/r8-derived/mapping.txt",
        ] {
            assert_eq!(check(&pg(fixture(f)), "m"), Ok(()), "{f}");
        }
        assert_eq!(check(&pg("hello".into()), "m").unwrap_err().0, "proguard_mapping");
        // a ProGuard container is not read as SourceAndMap
        assert_eq!(check(&pg("".into()), "m").unwrap_err().0, "proguard_mapping");
    }
}

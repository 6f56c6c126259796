//! What the server checks about a finished upload (§6), as cymbal reads it: the object must be a
//! posthog-symbol-data container (v1 or v2) of type SourceAndMap whose map is a JSON object (what
//! cymbal hands to its sourcemap parser). The map's `chunk_id` member is not checked: cymbal finds
//! the set by its ref and never reads that member, so PostHog accepts a map without one (what
//! @posthog/rollup-plugin uploads through posthog-cli, injecting in memory) or with another chunk's
//! (a map shared by several chunks). Uses the official crate, not a copy.

use posthog_symbol_data::{read_symbol_data, SourceAndMap};

/// `Err((kind, detail))` names the failed check: `container` or `map_json`. (`_ref` is the symbol
/// set's ref, for the detail of a future check; the map's `chunk_id` need not match it.)
pub fn check(bytes: &[u8], _ref: &str) -> Result<(), (&'static str, String)> {
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
}

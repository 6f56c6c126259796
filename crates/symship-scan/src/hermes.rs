//! React Native (Hermes) composed maps (spec `kinds-and-explain.md` §1): finding them, `hermes
//! clone`, and the [`SymbolSet`] of kind HermesMap the upload pipeline sends.
//!
//! A release build composes Metro's packager map with hermesc's compiler map
//! (`compose-source-maps.js`), which drops every top-level key it does not know, the chunk id
//! among them: [`clone`] copies the chunk id (or Expo's `debugId`) and the release id from the
//! packager map into the composed map, as posthog-cli 0.19.0's `hermes clone` does.
//!
//! Maps are written and sent in posthog-cli's serialization (`SourceMapContent` through
//! `serde_json` without `preserve_order`): compact, `release_id`, `chunk_id`, `debugId` first
//! (each only when set; a `chunkId` is written as `chunk_id`), then every other key in byte order,
//! nested objects sorted too. So the payloads equal posthog-cli's byte for byte (the tests compare
//! them with its recorded uploads), and a map cloned by either tool uploads the same.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};
use symship_core::container;
use symship_core::kind::Kind;
use symship_core::set::{digest, Context, Prepared, SetError, SymbolSet};
use symship_core::Code;
use uuid::Uuid;

use crate::ReleaseMode;

/// The key hermesc writes and posthog-cli requires before it uploads a map as a Hermes map.
pub const FUNCTION_OFFSETS: &str = "x_hermes_function_offsets";

/// Why a map cannot be read or written.
#[derive(Debug, thiserror::Error)]
pub enum HermesError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path} is not a sourcemap: {reason}")]
    NotAMap { path: PathBuf, reason: String },
    #[error("could not write {path}: {source}")]
    Write { path: PathBuf, source: std::io::Error },
}

/// A map read as posthog-cli reads it: the three keys it knows, and the rest.
#[derive(Debug, Clone, PartialEq)]
pub struct MapContent {
    pub release_id: Option<String>,
    /// `chunk_id`, or its alias `chunkId`.
    pub chunk_id: Option<String>,
    /// A bundler's (Expo's) debug id.
    pub debug_id: Option<String>,
    /// Every other top-level key.
    pub fields: Map<String, Value>,
}

impl MapContent {
    /// Parses a map (any JSON object); `release_id`, `chunk_id`/`chunkId` and `debugId` must be
    /// strings or null when present.
    pub fn parse(bytes: &[u8]) -> Result<MapContent, String> {
        let Value::Object(mut fields) =
            serde_json::from_slice::<Value>(bytes).map_err(|e| format!("not JSON ({e})"))?
        else {
            return Err("not a JSON object".into());
        };
        let mut take = |key: &str| -> Result<Option<String>, String> {
            match fields.shift_remove(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s)),
                Some(other) => Err(format!("its {key:?} is {other}, not a string")),
            }
        };
        let release_id = take("release_id")?;
        let chunk_id = take("chunk_id")?;
        let alias = take("chunkId")?;
        if chunk_id.is_some() && alias.is_some() {
            // posthog-cli's reader refuses the file (a duplicate field) and skips it silently
            return Err("it has both \"chunk_id\" and \"chunkId\"".into());
        }
        let debug_id = take("debugId")?;
        Ok(MapContent {
            release_id,
            chunk_id: chunk_id.or(alias),
            debug_id,
            fields,
        })
    }

    /// Reads and parses `path`.
    pub fn load(path: &Path) -> Result<MapContent, HermesError> {
        let bytes = std::fs::read(path).map_err(|source| HermesError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        MapContent::parse(&bytes).map_err(|reason| HermesError::NotAMap {
            path: path.to_path_buf(),
            reason,
        })
    }

    /// The id it uploads under: its chunk id, else its debug id (Expo).
    pub fn upload_id(&self) -> Option<&str> {
        self.chunk_id.as_deref().or(self.debug_id.as_deref())
    }

    /// Whether hermesc's function offsets are there (a composed or compiler map, not a packager map).
    pub fn is_hermes(&self) -> bool {
        self.fields.contains_key(FUNCTION_OFFSETS)
    }

    /// No mappings, sources or names (sections recursed), as posthog-cli's `is_empty`.
    pub fn is_empty(&self) -> bool {
        map_is_empty(&self.fields)
    }

    /// posthog-cli's serialization (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Map::new();
        if let Some(r) = &self.release_id {
            out.insert("release_id".into(), Value::String(r.clone()));
        }
        if let Some(c) = &self.chunk_id {
            out.insert("chunk_id".into(), Value::String(c.clone()));
        }
        if let Some(d) = &self.debug_id {
            out.insert("debugId".into(), Value::String(d.clone()));
        }
        let mut rest = Value::Object(self.fields.clone());
        rest.sort_all_objects();
        if let Value::Object(rest) = rest {
            out.extend(rest);
        }
        serde_json::to_vec(&Value::Object(out)).expect("a JSON value serializes")
    }
}

fn map_is_empty(m: &Map<String, Value>) -> bool {
    let mappings = m
        .get("mappings")
        .and_then(Value::as_str)
        .is_none_or(str::is_empty);
    let sources = m
        .get("sources")
        .and_then(Value::as_array)
        .is_none_or(Vec::is_empty);
    let names = m.get("names").and_then(Value::as_array).is_none_or(Vec::is_empty);
    let sections = m.get("sections").and_then(Value::as_array).is_none_or(|s| {
        s.iter()
            .all(|sec| sec.get("map").and_then(Value::as_object).is_none_or(map_is_empty))
    });
    mappings && sources && names && sections
}

/// What [`clone`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cloned {
    /// The id now in the composed map (`None`: the packager map had none, the composed map keeps
    /// what it had).
    pub chunk_id: Option<String>,
    pub release_id: Option<String>,
    /// The packager map was rewritten (its release id changed).
    pub packager_rewritten: bool,
}

/// Which release [`clone`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneRelease<'a> {
    /// Event mode: the packager map is left as it is, and the composed map gets no release (the
    /// app reports its release with each event).
    Event,
    /// Symbol-set mode: this release (`None`: none) in both maps.
    Set(Option<&'a str>),
}

/// `hermes clone`: copies the chunk id (or debug id) and the release id of the packager map
/// into the composed map (posthog-cli 0.19.0 `clone.rs`, spec §1.5):
/// 1. With [`CloneRelease::Set`], the packager map's `release_id` becomes that release; when it
///    differs, the packager map is rewritten. [`CloneRelease::Event`] leaves the packager map as
///    it is (posthog-cli removes a release a symbol-set inject stamped into it).
/// 2. The composed map's `chunk_id` becomes the packager map's chunk id, else its `debugId`, when
///    it has one; its `release_id` becomes the release written (so `None` clears a stale one).
/// 3. The composed map is always rewritten. Both writes are atomic (`symship_fs::write`).
pub fn clone(packager: &Path, composed: &Path, release: CloneRelease<'_>) -> Result<Cloned, HermesError> {
    let mut p = MapContent::load(packager)?;
    let mut c = MapContent::load(composed)?;
    let mut packager_rewritten = false;
    let release = match release {
        CloneRelease::Event => None,
        CloneRelease::Set(release) => {
            if p.release_id.as_deref() != release {
                p.release_id = release.map(str::to_owned);
                write(packager, &p.to_bytes())?;
                packager_rewritten = true;
            }
            p.release_id.clone()
        }
    };
    if let Some(id) = p.upload_id() {
        c.chunk_id = Some(id.to_owned());
    }
    c.release_id = release;
    write(composed, &c.to_bytes())?;
    Ok(Cloned {
        chunk_id: c.chunk_id,
        release_id: c.release_id,
        packager_rewritten,
    })
}

fn write(path: &Path, bytes: &[u8]) -> Result<(), HermesError> {
    symship_fs::write(path, bytes).map_err(|source| HermesError::Write {
        path: path.to_path_buf(),
        source,
    })
}

/// The files under `dir` that may be maps, sorted: every regular file (symbolic links not
/// followed, as posthog-cli's walk) whose first non-blank byte is `{`. posthog-cli parses every
/// file and drops what is not a JSON object silently (the bundle, the bytecode); this drops them
/// without reading them whole. Which candidates are composed maps [`HermesMap::prepare`] decides.
pub fn candidates(dir: &Path) -> Result<Vec<HermesMap>, HermesError> {
    let mut out = Vec::new();
    for e in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let e = e.map_err(|e| HermesError::Read {
            path: e.path().unwrap_or(dir).to_path_buf(),
            source: e
                .into_io_error()
                .unwrap_or_else(|| std::io::Error::other("walk failed")),
        })?;
        if e.file_type().is_file() && starts_like_json(e.path()) {
            out.push(HermesMap { path: e.into_path() });
        }
    }
    Ok(out)
}

/// Whether the first non-blank byte of the file (in its first 4 KiB) is `{`; an unreadable file
/// is a candidate (its preparation says why it cannot be read).
fn starts_like_json(path: &Path) -> bool {
    use std::io::Read as _;
    let Ok(f) = std::fs::File::open(path) else {
        return true;
    };
    let mut head = Vec::with_capacity(4096);
    if f.take(4096).read_to_end(&mut head).is_err() {
        return true;
    }
    head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{')
}

/// A file `hermes upload` looks at: a composed map is sent as a HermesMap container under its
/// chunk id (or debug id). Other files are skipped: not JSON (`not_a_map`, as the bundle and the
/// bytecode), no chunk id (`no_chunk_id`), empty (`empty_map`). A map with a chunk id but without
/// `x_hermes_function_offsets` fails (`not_hermes_map`; posthog-cli fails the whole run there):
/// it is usually the packager map beside the composed one.
#[derive(Debug, Clone)]
pub struct HermesMap {
    pub path: PathBuf,
}

fn skip(code: Code, reason: String) -> SetError {
    SetError::Skip { code, reason }
}

impl HermesMap {
    /// Whether `hermes upload` can send this file: a JSON object with a chunk id (or debug id),
    /// not empty, with `x_hermes_function_offsets` (what [`SymbolSet::prepare`] goes on to
    /// build a container from). Reads the file whole; an unreadable one cannot.
    pub fn can_be_sent(&self) -> bool {
        self.sendable_ref().is_some()
    }

    /// The chunk id (or debug id) the map would be sent under, when [`HermesMap::can_be_sent`].
    pub fn sendable_ref(&self) -> Option<String> {
        let bytes = std::fs::read(&self.path).ok()?;
        let m = MapContent::parse(&bytes).ok()?;
        if m.is_empty() || !m.is_hermes() {
            return None;
        }
        m.upload_id().map(str::to_owned)
    }

    /// The payload and the release it is sent with, for the bytes read.
    fn payload(
        &self,
        bytes: &[u8],
        mode: ReleaseMode,
        run_release: Option<Uuid>,
    ) -> Result<(String, Option<Uuid>, Vec<u8>), SetError> {
        let shown = self.path.display();
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(skip(
                Code::NotAMap,
                format!("{shown} is not a sourcemap (not a JSON object)"),
            ));
        }
        let mut map = MapContent::parse(bytes)
            .map_err(|reason| skip(Code::NotAMap, format!("{shown} is not a sourcemap: {reason}")))?;
        let Some(id) = map.upload_id().map(str::to_owned) else {
            return Err(skip(
                Code::NoChunkId,
                format!("{shown} has no chunk id (no chunk_id, chunkId or debugId): run `symship hermes clone` on it after the build composed it"),
            ));
        };
        if map.is_empty() {
            return Err(SetError::Empty {
                reason: format!(
                    "{shown} is empty (no mappings, sources or names); check the bundler's sourcemap setting"
                ),
                digest: digest(bytes),
            });
        }
        if !map.is_hermes() {
            return Err(SetError::Failed {
                code: Code::NotHermesMap,
                reason: format!(
                    "{shown} has chunk id {id} but no {FUNCTION_OFFSETS}: it is not the composed Hermes map (a packager map from Metro?); \
                     pass --directory the folder of the composed map only, or run `symship hermes clone` to copy the id into the composed map"
                ),
            });
        }
        match mode {
            ReleaseMode::Event => map.release_id = None,
            ReleaseMode::SymbolSet => {
                if let Some(r) = run_release {
                    map.release_id = Some(r.hyphenated().to_string());
                }
            }
        }
        let release = match &map.release_id {
            None => None,
            Some(r) => Some(Uuid::parse_str(r).map_err(|_| {
                skip(
                    Code::InvalidReleaseId,
                    format!("{shown} has release_id {r:?}, which is not a UUID; clone it again (`symship hermes clone --release-mode symbol-set`)"),
                )
            })?),
        };
        Ok((id, release, map.to_bytes()))
    }
}

impl SymbolSet for HermesMap {
    fn kind(&self) -> Kind {
        Kind::HermesMap
    }

    fn path(&self) -> &Path {
        &self.path
    }

    fn input_len(&self) -> u64 {
        std::fs::metadata(&self.path).map_or(0, |m| m.len())
    }

    /// Reads the map, applies the release mode (event: no release; symbol-set: the run's
    /// release, else the map's own) and builds the container: the content hash is its SHA-512,
    /// as posthog-cli sends it in both modes. In symbol-set mode the set
    /// [`Prepared::names_release`] (the one it is prepared under, else its own).
    fn prepare(&self, cx: &Context<'_>) -> Result<Prepared, SetError> {
        let bytes = std::fs::read(&self.path).map_err(|e| SetError::unreadable(&self.path, &e))?;
        let (id, release, payload) = self.payload(&bytes, cx.mode, cx.release_id)?;
        let c = build(&self.path, &payload)?;
        let mut p = Prepared::of_container(id, release, &bytes, c);
        p.check = digest(&payload);
        // the release it is prepared under is stamped into the map sent (as posthog-cli does),
        // else the map keeps its own: a set the server holds bound to another release is
        // prepared again under that one
        p.names_release = cx.mode == ReleaseMode::SymbolSet;
        Ok(p)
    }

    fn write_container(&self, prepared: &Prepared) -> Result<Vec<u8>, SetError> {
        let bytes = std::fs::read(&self.path).map_err(|e| SetError::unreadable(&self.path, &e))?;
        let mode = if prepared.release_id.is_some() {
            ReleaseMode::SymbolSet
        } else {
            ReleaseMode::Event
        };
        let (_, _, payload) = self.payload(&bytes, mode, prepared.release_id)?;
        prepared.unchanged(&self.path, digest(&bytes), digest(&payload))?;
        build(&self.path, &payload)
    }
}

fn build(path: &Path, payload: &[u8]) -> Result<Vec<u8>, SetError> {
    let c = container::build(Kind::HermesMap, &[payload]).map_err(|e| SetError::container(path, &e))?;
    if c.len() as u64 > container::MAX_SET_BYTES {
        return Err(SetError::TooLarge {
            bytes: c.len() as u64,
        });
    }
    Ok(c)
}

#[cfg(test)]
#[allow(
    clippy::disallowed_methods,
    reason = "tests build fixtures in temporary directories"
)]
mod tests {
    use super::*;

    fn fixtures() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/hermes")
    }

    /// The PostHog fixture's packager and composed maps in a temporary directory.
    fn build() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let packager = dir.path().join("index.android.bundle.packager.map");
        let composed_dir = dir.path().join("composed");
        std::fs::create_dir(&composed_dir).unwrap();
        let composed = composed_dir.join("index.android.bundle.map");
        std::fs::copy(
            fixtures().join("posthog/index.android.bundle.packager.map"),
            &packager,
        )
        .unwrap();
        std::fs::copy(fixtures().join("posthog/index.android.bundle.map"), &composed).unwrap();
        (dir, packager, composed)
    }

    fn payload_of(
        set: &HermesMap,
        mode: ReleaseMode,
        release: Option<Uuid>,
    ) -> Result<(Prepared, String), SetError> {
        let p = set.prepare(&Context {
            mode,
            release_id: release,
            build_small: true,
            memo: None,
        })?;
        let c = p.container.clone().unwrap();
        let container::Payload::HermesMap(text) = container::read_any(&c).unwrap() else {
            panic!("not a HermesMap container")
        };
        assert_eq!(p.content_hash, container::content_hash(&c));
        assert_eq!(set.write_container(&p).unwrap(), c, "rebuilt equal");
        Ok((p, text))
    }

    #[test]
    fn event_mode_clone_and_upload_equal_posthog_cli() {
        let (_dir, packager, composed) = build();
        let before = std::fs::read(&packager).unwrap();
        let done = clone(&packager, &composed, CloneRelease::Event).unwrap();
        assert_eq!(
            done.chunk_id.as_deref(),
            Some("9d56951e-981d-4597-990e-2402c3b1d1a8")
        );
        assert!(!done.packager_rewritten);
        assert_eq!(
            std::fs::read(&packager).unwrap(),
            before,
            "event mode leaves the packager map alone"
        );
        // also one that carries a release (a symbol-set inject stamped it): event mode leaves it
        // there, and the composed map gets none
        let mut stamped: Value = serde_json::from_slice(&before).unwrap();
        stamped["release_id"] = Value::from("0192d8a0-0000-7000-8000-0000000000ff");
        let stamped = serde_json::to_vec(&stamped).unwrap();
        std::fs::write(&packager, &stamped).unwrap();
        let again = clone(&packager, &composed, CloneRelease::Event).unwrap();
        assert!(!again.packager_rewritten);
        assert_eq!(again.release_id, None);
        assert_eq!(std::fs::read(&packager).unwrap(), stamped);
        std::fs::write(&packager, &before).unwrap();
        clone(&packager, &composed, CloneRelease::Event).unwrap();
        let golden = std::fs::read_to_string(
            fixtures()
                .join("posthog-cli-0.19.0/gradle-event/payloads/9d56951e-981d-4597-990e-2402c3b1d1a8.json"),
        )
        .unwrap();
        assert_eq!(
            std::fs::read_to_string(&composed).unwrap(),
            golden,
            "the cloned map is posthog-cli's"
        );
        let (p, text) = payload_of(&HermesMap { path: composed }, ReleaseMode::Event, None).unwrap();
        assert_eq!(text, golden, "the payload is posthog-cli's");
        assert_eq!(p.reference, "9d56951e-981d-4597-990e-2402c3b1d1a8");
        assert_eq!(p.release_id, None);
    }

    #[test]
    fn symbol_set_mode_clone_and_upload_equal_posthog_cli() {
        let (_dir, packager, composed) = build();
        let release = Uuid::parse_str("0192d8a0-0000-7000-8000-0000000000ff").unwrap();
        let r = release.hyphenated().to_string();
        let done = clone(&packager, &composed, CloneRelease::Set(Some(&r))).unwrap();
        assert!(done.packager_rewritten);
        let ref_dir = fixtures().join("posthog-cli-0.19.0/gradle-symbol-set");
        let golden_packager = std::fs::read_to_string(
            ref_dir.join("after/android/app/build/intermediates/sourcemaps/react/release/index.android.bundle.packager.map"),
        )
        .unwrap()
        .replace("<release-1>", &r);
        assert_eq!(std::fs::read_to_string(&packager).unwrap(), golden_packager);
        let golden =
            std::fs::read_to_string(ref_dir.join("payloads/9d56951e-981d-4597-990e-2402c3b1d1a8.json"))
                .unwrap()
                .replace("<release-1>", &r);
        assert_eq!(std::fs::read_to_string(&composed).unwrap(), golden);
        let set = HermesMap { path: composed };
        let (p, text) = payload_of(&set, ReleaseMode::SymbolSet, Some(release)).unwrap();
        assert_eq!(text, golden);
        assert_eq!(p.release_id, Some(release));
        // Event mode strips the release the map carries.
        let (p, text) = payload_of(&set, ReleaseMode::Event, Some(release)).unwrap();
        assert_eq!(p.release_id, None);
        assert!(!text.contains("release_id"), "{}", &text[..80]);
    }

    #[test]
    fn what_is_not_a_composed_map_is_named() {
        let (dir, packager, _composed) = build();
        let skipped = |path: PathBuf| {
            payload_of(&HermesMap { path }, ReleaseMode::Event, None)
                .map(|_| ())
                .unwrap_err()
        };
        // The packager map has a chunkId but no function offsets: a failure, named.
        match skipped(packager) {
            SetError::Failed { code, reason } => {
                assert_eq!(code, Code::NotHermesMap);
                assert!(reason.contains("x_hermes_function_offsets"), "{reason}");
            }
            e => panic!("{e:?}"),
        }
        // The plain composed map (no clone): no chunk id.
        let plain = dir.path().join("plain.map");
        std::fs::copy(fixtures().join("plain/index.android.bundle.map"), &plain).unwrap();
        assert!(matches!(
            skipped(plain),
            SetError::Skip {
                code: Code::NoChunkId,
                ..
            }
        ));
        // The bytecode and the bundle are not maps.
        for f in ["posthog/index.android.bundle.hbc", "posthog/index.android.bundle"] {
            let p = dir.path().join(f.replace('/', "-"));
            std::fs::copy(fixtures().join(f), &p).unwrap();
            assert!(
                matches!(
                    skipped(p),
                    SetError::Skip {
                        code: Code::NotAMap,
                        ..
                    }
                ),
                "{f}"
            );
        }
        // An empty map with an id.
        let empty = dir.path().join("empty.map");
        std::fs::write(
            &empty,
            r#"{"version":3,"chunk_id":"x","mappings":"","sources":[],"x_hermes_function_offsets":{}}"#,
        )
        .unwrap();
        assert!(matches!(skipped(empty), SetError::Empty { .. }));
    }

    #[test]
    fn candidates_are_the_json_objects_of_the_directory() {
        let dir = tempfile::tempdir().unwrap();
        for f in [
            "index.android.bundle",
            "index.android.bundle.hbc",
            "index.android.bundle.map",
        ] {
            std::fs::copy(fixtures().join("posthog").join(f), dir.path().join(f)).unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        std::fs::write(dir.path().join("sub/x.json"), "  {}").unwrap();
        let found: Vec<PathBuf> = candidates(dir.path())
            .unwrap()
            .into_iter()
            .map(|m| m.path.strip_prefix(dir.path()).unwrap().to_path_buf())
            .collect();
        assert_eq!(
            found,
            [
                PathBuf::from("index.android.bundle.map"),
                PathBuf::from("sub/x.json")
            ]
        );
    }

    #[test]
    fn serialization_puts_the_ids_first_and_sorts_the_rest() {
        let m = MapContent::parse(br#"{"version":3,"z":{"b":1,"a":[{"d":1,"c":2}]},"debugId":"D","chunkId":"C","release_id":null,"mappings":"AA"}"#).unwrap();
        assert_eq!(m.upload_id(), Some("C"));
        assert_eq!(
            String::from_utf8(m.to_bytes()).unwrap(),
            r#"{"chunk_id":"C","debugId":"D","mappings":"AA","version":3,"z":{"a":[{"c":2,"d":1}],"b":1}}"#
        );
        assert!(MapContent::parse(br#"{"chunk_id":"a","chunkId":"b"}"#).is_err());
        assert!(MapContent::parse(br#"{"chunk_id":5}"#).is_err());
        assert!(MapContent::parse(b"[1]").is_err());
        // Expo: only a debug id.
        let expo = MapContent::parse(br#"{"debugId":"e","mappings":"A"}"#).unwrap();
        assert_eq!(expo.upload_id(), Some("e"));
    }
}

//! The Hermes and ProGuard/R8 fixtures (`fixtures/hermes`, `fixtures/proguard`, issue 16) where
//! PostHog's Gradle plugins find them, and the ids and release flags of their recorded
//! posthog-cli 0.19.0 uploads: shared by symship's tests and the test server's conformance tests
//! with posthog-cli.

use std::path::PathBuf;

use crate::fixture_dir;

/// The chunk id of `fixtures/hermes/posthog`'s composed map.
pub const HERMES_CHUNK_ID: &str = "9d56951e-981d-4597-990e-2402c3b1d1a8";
/// The map id posthog-android's Gradle plugin derives for `fixtures/proguard/proguard-6.2.2`.
pub const PROGUARD_MAP_ID: &str = "6322fcf1-2071-3e2c-be64-68917a9cfecf";
/// The map id of `fixtures/proguard/r8-derived`.
pub const R8_MAP_ID: &str = "58e5f053-e1ef-3b27-aa91-33925018acc2";
/// The release flags the fixtures' uploads were recorded with.
pub const RELEASE: [&str; 6] = [
    "--release-name",
    "com.symship.fixture",
    "--release-version",
    "1.0.0",
    "--build",
    "1",
];
/// Where posthog-react-native's Gradle script has Metro write the packager map (relative to
/// the app's root).
pub const PACKAGER: &str =
    "android/app/build/intermediates/sourcemaps/react/release/index.android.bundle.packager.map";
/// Where it has the composed map written, and the map itself.
pub const COMPOSED_DIR: &str = "android/app/build/generated/sourcemaps/react/release";
pub const COMPOSED: &str = "android/app/build/generated/sourcemaps/react/release/index.android.bundle.map";

/// A React Native Android build's maps (`fixtures/hermes/posthog`) at [`PACKAGER`] and
/// [`COMPOSED`]: (the app's root, the packager map, the composed map).
pub fn android_build() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = fixture_dir(&[
        ("hermes/posthog/index.android.bundle.packager.map", PACKAGER),
        ("hermes/posthog/index.android.bundle.map", COMPOSED),
    ]);
    let (packager, composed) = (dir.path().join(PACKAGER), dir.path().join(COMPOSED));
    (dir, packager, composed)
}

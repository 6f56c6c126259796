//! `--output json`: the summary as one pretty-printed JSON document (schema in the README;
//! `schema_version` says which).

use super::Summary;

/// The document and its final newline.
pub fn render(summary: &Summary) -> anyhow::Result<String> {
    let mut text = serde_json::to_string_pretty(summary)?;
    text.push('\n');
    Ok(text)
}

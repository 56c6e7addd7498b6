//! Secrets.
use crate::config::{Catalogue, ConfigFinding};

pub(crate) fn scan_text(
    _cat: &Catalogue,
    _file: &str,
    _text: &str,
    _found: &mut Vec<ConfigFinding>,
) {
}

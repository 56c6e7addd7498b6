//! Terraform.
use super::{Catalogue, ConfigFinding, ParseError};

pub(crate) const CATALOGUE: &str = "";

pub(crate) fn scan(
    _cat: &Catalogue,
    _file: &str,
    _text: &str,
    _found: &mut Vec<ConfigFinding>,
) -> Result<(), ParseError> {
    Ok(())
}

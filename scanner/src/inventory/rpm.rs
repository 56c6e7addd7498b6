//! RPM databases. The SQLite `rpmdb.sqlite` holds rpm header blobs; reading them is not implemented yet, so the
//! analyzer reports the database instead of silently finding nothing.

use super::Package;

pub(crate) fn parse(path: &str, _data: &[u8]) -> Result<Vec<Package>, String> {
    Err(format!(
        "{path}: RPM databases are not supported yet; RPM packages in this image are not scanned"
    ))
}

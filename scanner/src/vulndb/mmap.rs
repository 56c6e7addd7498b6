//! The crate's only `unsafe`: mapping the database file read-only.
//!
//! Justification: the Trivy database is over 1 GB and a scan touches a few hundred pages of it, so reading it
//! whole would cost seconds and a gigabyte of memory per scan. `memmap2::Mmap::map` is unsafe because another
//! process could truncate or modify the file while it is mapped. Palisade never writes a database in place:
//! `palisade db update` writes a new file and renames it over the old one, so the mapped inode is never modified
//! by us; every read through the mapping is bounds-checked against the length taken at map time.
#![allow(unsafe_code)]

use std::fs::File;

/// A read-only mapping of a whole file.
pub(crate) struct Mapped(memmap2::Mmap);

impl Mapped {
    pub(crate) fn open(file: &File) -> std::io::Result<Mapped> {
        // SAFETY: see the module documentation: the file is replaced by rename, never modified in place, and all
        // accesses are bounds-checked slices of the mapping.
        let map = unsafe { memmap2::Mmap::map(file)? };
        Ok(Mapped(map))
    }
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

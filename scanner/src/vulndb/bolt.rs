//! A read-only reader for BoltDB (etcd-io/bbolt) files.
//!
//! Everything read from the file is bounds-checked: page ids against the high-water mark and the file length,
//! element tables against their page, keys and values against their page span. Walks carry a page budget (the
//! number of pages in the file) so that a corrupt file with cycles in its branch pages ends in an error rather than
//! looping. The meta pages' FNV-1a checksums are verified and the valid meta with the highest transaction id wins.

use std::ops::ControlFlow;

use super::DbError;

const MAGIC: u32 = 0xED0C_DAED;
const VERSION: u32 = 2;
const PAGE_HEADER: usize = 16;
const ELEMENT: usize = 16;
const BUCKET_HEADER: usize = 16;
const FLAG_BRANCH: u16 = 0x01;
const FLAG_LEAF: u16 = 0x02;
const FLAG_META: u16 = 0x04;
const LEAF_BUCKET: u32 = 0x01;
const MAX_DEPTH: usize = 64;

/// The decoded meta page in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Page size in bytes.
    pub page_size: u32,
    /// Root page of the root bucket.
    pub root: u64,
    /// High-water mark: pages at or above it are not part of the database.
    pub high_water: u64,
    /// Transaction id of this meta.
    pub txid: u64,
}

/// A bucket: either a tree rooted at a page of the file, or an inline page stored inside its parent's value.
#[derive(Debug, Clone, Copy)]
pub struct Bucket<'a> {
    root: u64,
    inline: Option<&'a [u8]>,
}

/// One key's entry in a bucket.
#[derive(Debug, Clone, Copy)]
pub enum Entry<'a> {
    /// A plain value.
    Value(&'a [u8]),
    /// A nested bucket.
    Bucket(Bucket<'a>),
}

/// A read-only view of a bbolt file held in memory (mapped or read).
pub struct BoltFile<D> {
    data: D,
    meta: Meta,
}

impl<D: AsRef<[u8]>> std::fmt::Debug for BoltFile<D> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BoltFile")
            .field("len", &self.data.as_ref().len())
            .field("meta", &self.meta)
            .finish()
    }
}

fn corrupt(msg: impl Into<String>) -> DbError {
    DbError::Corrupt(msg.into())
}

fn u16_at(b: &[u8], off: usize) -> Result<u16, DbError> {
    let s = b
        .get(
            off..off
                .checked_add(2)
                .ok_or_else(|| corrupt("offset overflow"))?,
        )
        .ok_or_else(|| {
            corrupt(format!(
                "u16 at {off} is past the end of a {}-byte span",
                b.len()
            ))
        })?;
    Ok(u16::from_le_bytes([s[0], s[1]]))
}

fn u32_at(b: &[u8], off: usize) -> Result<u32, DbError> {
    let s = b
        .get(
            off..off
                .checked_add(4)
                .ok_or_else(|| corrupt("offset overflow"))?,
        )
        .ok_or_else(|| {
            corrupt(format!(
                "u32 at {off} is past the end of a {}-byte span",
                b.len()
            ))
        })?;
    Ok(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn u64_at(b: &[u8], off: usize) -> Result<u64, DbError> {
    let s = b
        .get(
            off..off
                .checked_add(8)
                .ok_or_else(|| corrupt("offset overflow"))?,
        )
        .ok_or_else(|| {
            corrupt(format!(
                "u64 at {off} is past the end of a {}-byte span",
                b.len()
            ))
        })?;
    let mut a = [0u8; 8];
    a.copy_from_slice(s);
    Ok(u64::from_le_bytes(a))
}

fn slice(b: &[u8], off: usize, len: usize) -> Result<&[u8], DbError> {
    let end = off
        .checked_add(len)
        .ok_or_else(|| corrupt("length overflow"))?;
    b.get(off..end).ok_or_else(|| {
        corrupt(format!(
            "bytes {off}..{end} are past the end of a {}-byte page",
            b.len()
        ))
    })
}

/// FNV-1a, 64 bits (Go's hash/fnv New64a).
fn fnv1a64(data: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in data {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// Decodes a meta page starting at `off` (the page header's address).
fn read_meta(data: &[u8], off: usize) -> Result<Meta, DbError> {
    let page = data
        .get(off..)
        .ok_or_else(|| corrupt("file too short for a meta page"))?;
    let flags = u16_at(page, 8)?;
    if flags & FLAG_META == 0 {
        return Err(corrupt(format!(
            "page at byte {off} is not a meta page (flags {flags:#x})"
        )));
    }
    let m = slice(page, PAGE_HEADER, 64)?;
    if u32_at(m, 0)? != MAGIC {
        return Err(corrupt("bad magic: not a BoltDB file"));
    }
    let version = u32_at(m, 4)?;
    if version != VERSION {
        return Err(corrupt(format!("unsupported BoltDB version {version}")));
    }
    let checksum = u64_at(m, 56)?;
    if fnv1a64(&m[..56]) != checksum {
        return Err(corrupt("meta page checksum mismatch"));
    }
    let page_size = u32_at(m, 8)?;
    if !(512..=(1 << 20)).contains(&page_size) || !page_size.is_power_of_two() {
        return Err(corrupt(format!("implausible page size {page_size}")));
    }
    Ok(Meta {
        page_size,
        root: u64_at(m, 16)?,
        high_water: u64_at(m, 40)?,
        txid: u64_at(m, 48)?,
    })
}

impl<D: AsRef<[u8]>> BoltFile<D> {
    /// Validates the meta pages and returns a reader over `data`.
    pub fn new(data: D) -> Result<Self, DbError> {
        let bytes = data.as_ref();
        let m0 = read_meta(bytes, 0);
        let ps1 = match &m0 {
            Ok(m) => vec![m.page_size as usize],
            Err(_) => vec![4096, 8192, 16384, 65536, 512, 1024, 2048, 32768],
        };
        let mut m1 = Err(corrupt("no valid second meta page"));
        for ps in ps1 {
            m1 = read_meta(bytes, ps);
            if m1.is_ok() {
                break;
            }
        }
        let meta = match (m0, m1) {
            (Ok(a), Ok(b)) => {
                if b.txid > a.txid {
                    b
                } else {
                    a
                }
            }
            (Ok(a), Err(_)) | (Err(_), Ok(a)) => a,
            (Err(e), Err(_)) => return Err(e),
        };
        if meta.root < 2 || meta.root >= meta.high_water {
            return Err(corrupt(format!(
                "root page {} outside 2..{}",
                meta.root, meta.high_water
            )));
        }
        Ok(BoltFile { data, meta })
    }

    /// The meta page in force.
    pub fn meta(&self) -> Meta {
        self.meta
    }

    /// The root bucket (its keys are the top-level bucket names).
    pub fn root(&self) -> Bucket<'_> {
        Bucket {
            root: self.meta.root,
            inline: None,
        }
    }

    /// The whole span of page `id` (header included, overflow pages included).
    fn page(&self, id: u64) -> Result<&[u8], DbError> {
        if id < 2 || id >= self.meta.high_water {
            return Err(corrupt(format!(
                "page id {id} outside 2..{}",
                self.meta.high_water
            )));
        }
        let data = self.data.as_ref();
        let ps = self.meta.page_size as usize;
        let off = usize::try_from(id)
            .ok()
            .and_then(|i| i.checked_mul(ps))
            .ok_or_else(|| corrupt("page offset overflow"))?;
        let head = slice(data, off, PAGE_HEADER)?;
        let stored = u64_at(head, 0)?;
        if stored != id {
            return Err(corrupt(format!("page {id} says it is page {stored}")));
        }
        let overflow = u32_at(head, 12)? as usize;
        let span = overflow
            .checked_add(1)
            .and_then(|n| n.checked_mul(ps))
            .ok_or_else(|| corrupt("page span overflow"))?;
        slice(data, off, span)
    }

    /// Calls `f` for each entry with key >= `start` (all entries when `start` is empty), in key order, until it
    /// returns `Break`.
    pub fn for_each_from<'a>(
        &'a self,
        bucket: Bucket<'a>,
        start: &[u8],
        f: &mut dyn FnMut(&'a [u8], Entry<'a>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, DbError> {
        let mut budget = self.meta.high_water.saturating_add(1);
        match bucket.inline {
            Some(page) => self.walk_page(page, start, 0, &mut budget, f),
            None => {
                let page = self.page(bucket.root)?;
                self.walk_page(page, start, 0, &mut budget, f)
            }
        }
    }

    fn walk_page<'a>(
        &'a self,
        page: &'a [u8],
        start: &[u8],
        depth: usize,
        budget: &mut u64,
        f: &mut dyn FnMut(&'a [u8], Entry<'a>) -> ControlFlow<()>,
    ) -> Result<ControlFlow<()>, DbError> {
        if depth > MAX_DEPTH {
            return Err(corrupt("tree deeper than 64 levels"));
        }
        if *budget == 0 {
            return Err(corrupt(
                "tree visits more pages than the file holds (cycle)",
            ));
        }
        *budget -= 1;
        let flags = u16_at(page, 8)?;
        let count = u16_at(page, 10)? as usize;
        let table_end = PAGE_HEADER + count * ELEMENT;
        if table_end > page.len() {
            return Err(corrupt(format!(
                "{count} elements do not fit a {}-byte page",
                page.len()
            )));
        }
        if flags & FLAG_LEAF != 0 {
            // Lower bound: first key >= start.
            let mut lo = 0usize;
            let mut hi = count;
            while lo < hi {
                let mid = (lo + hi) / 2;
                if self.leaf_key(page, mid)? < start {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            for i in lo..count {
                let (key, entry) = self.leaf_element(page, i)?;
                if f(key, entry).is_break() {
                    return Ok(ControlFlow::Break(()));
                }
            }
            Ok(ControlFlow::Continue(()))
        } else if flags & FLAG_BRANCH != 0 {
            if count == 0 {
                return Err(corrupt("empty branch page"));
            }
            // Last child whose first key <= start (or the first child).
            let mut idx = 0usize;
            if !start.is_empty() {
                let mut lo = 0usize;
                let mut hi = count;
                while lo < hi {
                    let mid = (lo + hi) / 2;
                    if self.branch_element(page, mid)?.0 <= start {
                        lo = mid + 1;
                    } else {
                        hi = mid;
                    }
                }
                idx = lo.saturating_sub(1);
            }
            for i in idx..count {
                let (_, child) = self.branch_element(page, i)?;
                let child_page = self.page(child)?;
                let s = if i == idx { start } else { &[][..] };
                if self
                    .walk_page(child_page, s, depth + 1, budget, f)?
                    .is_break()
                {
                    return Ok(ControlFlow::Break(()));
                }
            }
            Ok(ControlFlow::Continue(()))
        } else {
            Err(corrupt(format!(
                "expected a branch or leaf page, found flags {flags:#x}"
            )))
        }
    }

    fn leaf_key<'a>(&self, page: &'a [u8], i: usize) -> Result<&'a [u8], DbError> {
        let base = PAGE_HEADER + i * ELEMENT;
        let pos = u32_at(page, base + 4)? as usize;
        let ksize = u32_at(page, base + 8)? as usize;
        slice(
            page,
            base.checked_add(pos)
                .ok_or_else(|| corrupt("pos overflow"))?,
            ksize,
        )
    }

    fn leaf_element<'a>(&self, page: &'a [u8], i: usize) -> Result<(&'a [u8], Entry<'a>), DbError> {
        let base = PAGE_HEADER + i * ELEMENT;
        let flags = u32_at(page, base)?;
        let pos = u32_at(page, base + 4)? as usize;
        let ksize = u32_at(page, base + 8)? as usize;
        let vsize = u32_at(page, base + 12)? as usize;
        let kstart = base
            .checked_add(pos)
            .ok_or_else(|| corrupt("pos overflow"))?;
        let key = slice(page, kstart, ksize)?;
        let value = slice(page, kstart + ksize, vsize)?;
        if flags & LEAF_BUCKET != 0 {
            if value.len() < BUCKET_HEADER {
                return Err(corrupt("bucket header shorter than 16 bytes"));
            }
            let root = u64_at(value, 0)?;
            let inline = if root == 0 {
                let p = &value[BUCKET_HEADER..];
                if p.len() < PAGE_HEADER {
                    return Err(corrupt("inline bucket page shorter than its header"));
                }
                if u16_at(p, 8)? & FLAG_LEAF == 0 {
                    return Err(corrupt("inline bucket page is not a leaf"));
                }
                Some(p)
            } else {
                None
            };
            Ok((key, Entry::Bucket(Bucket { root, inline })))
        } else {
            Ok((key, Entry::Value(value)))
        }
    }

    fn branch_element<'a>(&self, page: &'a [u8], i: usize) -> Result<(&'a [u8], u64), DbError> {
        let base = PAGE_HEADER + i * ELEMENT;
        let pos = u32_at(page, base)? as usize;
        let ksize = u32_at(page, base + 4)? as usize;
        let pgid = u64_at(page, base + 8)?;
        let key = slice(
            page,
            base.checked_add(pos)
                .ok_or_else(|| corrupt("pos overflow"))?,
            ksize,
        )?;
        Ok((key, pgid))
    }

    /// The entry stored under exactly `key`.
    pub fn get<'a>(&'a self, bucket: Bucket<'a>, key: &[u8]) -> Result<Option<Entry<'a>>, DbError> {
        let mut found = None;
        let _ = self.for_each_from(bucket, key, &mut |k, e| {
            if k == key {
                found = Some(e);
            }
            ControlFlow::Break(())
        })?;
        Ok(found)
    }

    /// The nested bucket under `key`, if there is one.
    pub fn bucket<'a>(
        &'a self,
        parent: Bucket<'a>,
        key: &[u8],
    ) -> Result<Option<Bucket<'a>>, DbError> {
        match self.get(parent, key)? {
            Some(Entry::Bucket(b)) => Ok(Some(b)),
            _ => Ok(None),
        }
    }

    /// Every entry whose key starts with `prefix`, in key order.
    pub fn prefixed<'a>(
        &'a self,
        bucket: Bucket<'a>,
        prefix: &[u8],
    ) -> Result<Vec<(&'a [u8], Entry<'a>)>, DbError> {
        let mut out = Vec::new();
        let _ = self.for_each_from(bucket, prefix, &mut |k, e| {
            if k.starts_with(prefix) {
                out.push((k, e));
                ControlFlow::Continue(())
            } else {
                ControlFlow::Break(())
            }
        })?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_matches_go() {
        // Go: fnv.New64a().Write([]byte("hello")) = 0xa430d84680aabd0b
        assert_eq!(fnv1a64(b"hello"), 0xa430_d846_80aa_bd0b);
    }

    #[test]
    fn short_and_garbage_inputs_are_errors() {
        for len in [0usize, 1, 15, 16, 80, 4096, 8192] {
            assert!(BoltFile::new(vec![0u8; len]).is_err());
            assert!(BoltFile::new(vec![0xffu8; len]).is_err());
        }
    }
}

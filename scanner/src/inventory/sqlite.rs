//! A read-only reader for SQLite 3 database files held in memory: just enough to walk the rows of one rowid
//! table (the RPM database's `Packages`), with every offset bounds-checked, each page visited at most once
//! (cycles in a hostile file are an error, not a loop) and overflow chains bounded by the payload size.
//!
//! Format reference: <https://www.sqlite.org/fileformat2.html> (database header, b-tree pages, cell payloads,
//! overflow pages, record format). The write-ahead log is not read: images ship checkpointed databases.

use std::borrow::Cow;

const MAGIC: &[u8; 16] = b"SQLite format 3\0";
/// Deepest b-tree a real database reaches is far below this.
const MAX_DEPTH: usize = 40;

/// The per-row callback of [`Sqlite::rows`]: `(rowid, payload)`.
pub(crate) type RowFn<'f> = dyn FnMut(i64, &[u8]) -> Result<(), String> + 'f;

/// One column value of a record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a [u8]),
    Blob(&'a [u8]),
}

/// An SQLite database file.
pub(crate) struct Sqlite<'a> {
    data: &'a [u8],
    page_size: usize,
    usable: usize,
    pages: u32,
}

fn err(s: impl Into<String>) -> String {
    format!("SQLite: {}", s.into())
}

/// Reads a varint at `*pos`, advancing it.
fn varint(b: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut v: u64 = 0;
    for i in 0..9 {
        let byte = *b.get(*pos).ok_or_else(|| err("truncated varint"))?;
        *pos += 1;
        if i == 8 {
            return Ok((v << 8) | u64::from(byte));
        }
        v = (v << 7) | u64::from(byte & 0x7f);
        if byte & 0x80 == 0 {
            return Ok(v);
        }
    }
    unreachable!("the loop returns by the ninth byte")
}

fn be16(b: &[u8], at: usize) -> Result<usize, String> {
    b.get(at..at + 2)
        .map(|x| usize::from(u16::from_be_bytes([x[0], x[1]])))
        .ok_or_else(|| err("truncated page"))
}

fn be32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .map(|x| u32::from_be_bytes([x[0], x[1], x[2], x[3]]))
        .ok_or_else(|| err("truncated page"))
}

impl<'a> Sqlite<'a> {
    /// Checks the database header.
    pub(crate) fn open(data: &'a [u8]) -> Result<Sqlite<'a>, String> {
        if data.len() < 100 || &data[..16] != MAGIC {
            return Err(err("not an SQLite 3 database (bad header)"));
        }
        let page_size = match be16(data, 16)? {
            1 => 65536,
            n if (512..=32768).contains(&n) && n.is_power_of_two() => n,
            n => return Err(err(format!("invalid page size {n}"))),
        };
        let reserved = usize::from(data[20]);
        let usable = page_size - reserved;
        if usable < 480 {
            return Err(err(format!("usable page size {usable} is below 480")));
        }
        let pages = u32::try_from(data.len() / page_size).unwrap_or(u32::MAX);
        if pages == 0 {
            return Err(err("file shorter than one page"));
        }
        Ok(Sqlite {
            data,
            page_size,
            usable,
            pages,
        })
    }

    fn page(&self, n: u32) -> Result<&'a [u8], String> {
        if n == 0 || n > self.pages {
            return Err(err(format!(
                "page {n} is outside the file ({} pages)",
                self.pages
            )));
        }
        let start = (n as usize - 1) * self.page_size;
        Ok(&self.data[start..start + self.page_size])
    }

    /// The root page of table `name`, from the schema table.
    pub(crate) fn table_root(&self, name: &str) -> Result<Option<u32>, String> {
        let mut root = None;
        self.rows(1, &mut |_, payload| {
            let cols = record(payload)?;
            let is = |i: usize, want: &str| {
                matches!(cols.get(i), Some(Value::Text(t)) if t.eq_ignore_ascii_case(want.as_bytes()))
            };
            if root.is_none() && is(0, "table") && is(1, name) {
                match cols.get(3) {
                    Some(Value::Int(n)) if *n > 0 && *n <= i64::from(u32::MAX) => {
                        root = Some(*n as u32)
                    }
                    _ => return Err(err(format!("table {name} has no valid root page"))),
                }
            }
            Ok(())
        })?;
        Ok(root)
    }

    /// Calls `f(rowid, payload)` for every row of the rowid table rooted at `root`, in rowid order.
    pub(crate) fn rows(&self, root: u32, f: &mut RowFn<'_>) -> Result<(), String> {
        let mut seen = vec![false; self.pages as usize + 1];
        self.walk(root, 0, &mut seen, f)
    }

    fn mark(seen: &mut [bool], n: u32) -> Result<(), String> {
        match seen.get_mut(n as usize) {
            Some(s) if !*s => {
                *s = true;
                Ok(())
            }
            Some(_) => Err(err(format!("page {n} is referenced twice (cycle)"))),
            None => Err(err(format!("page {n} is outside the file"))),
        }
    }

    fn walk(
        &self,
        n: u32,
        depth: usize,
        seen: &mut [bool],
        f: &mut RowFn<'_>,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(err("b-tree deeper than 40 levels"));
        }
        Self::mark(seen, n)?;
        let page = self.page(n)?;
        let hdr = if n == 1 { 100 } else { 0 };
        let kind = *page.get(hdr).ok_or_else(|| err("truncated page"))?;
        let cells = be16(page, hdr + 3)?;
        let (ptrs, interior) = match kind {
            0x05 => (hdr + 12, true),
            0x0d => (hdr + 8, false),
            k => {
                return Err(err(format!(
                    "page {n}: type {k:#x} is not a table b-tree page"
                )))
            }
        };
        if ptrs + 2 * cells > self.usable {
            return Err(err(format!("page {n}: {cells} cells do not fit the page")));
        }
        for i in 0..cells {
            let off = be16(page, ptrs + 2 * i)?;
            if off >= self.usable {
                return Err(err(format!("page {n}: cell {i} outside the page")));
            }
            if interior {
                let child = be32(page, off)?;
                self.walk(child, depth + 1, seen, f)?;
            } else {
                let (rowid, payload) = self.leaf_cell(page, off, seen)?;
                f(rowid, &payload)?;
            }
        }
        if interior {
            let right = be32(page, hdr + 8)?;
            self.walk(right, depth + 1, seen, f)?;
        }
        Ok(())
    }

    /// A table leaf cell: its rowid and its whole payload (overflow pages joined).
    fn leaf_cell(
        &self,
        page: &'a [u8],
        off: usize,
        seen: &mut [bool],
    ) -> Result<(i64, Cow<'a, [u8]>), String> {
        let cell = &page[off..self.usable];
        let mut pos = 0;
        let size = varint(cell, &mut pos)?;
        let rowid = varint(cell, &mut pos)? as i64;
        if size > self.data.len() as u64 {
            return Err(err(format!(
                "row {rowid}: payload of {size} bytes exceeds the file"
            )));
        }
        let size = size as usize;
        let u = self.usable;
        let max_local = u - 35;
        let local = if size <= max_local {
            size
        } else {
            let min_local = (u - 12) * 32 / 255 - 23;
            let k = min_local + (size - min_local) % (u - 4);
            if k <= max_local {
                k
            } else {
                min_local
            }
        };
        let here = cell
            .get(pos..pos + local)
            .ok_or_else(|| err(format!("row {rowid}: payload runs past its page")))?;
        if local == size {
            return Ok((rowid, Cow::Borrowed(here)));
        }
        let mut out = Vec::with_capacity(size);
        out.extend_from_slice(here);
        let mut next = be32(cell, pos + local)?;
        while out.len() < size {
            if next == 0 {
                return Err(err(format!("row {rowid}: overflow chain ends early")));
            }
            Self::mark(seen, next)?;
            let p = self.page(next)?;
            let take = (size - out.len()).min(u - 4);
            out.extend_from_slice(&p[4..4 + take]);
            next = be32(p, 0)?;
        }
        Ok((rowid, Cow::Owned(out)))
    }
}

/// Decodes a record (a row's payload) into its column values.
pub(crate) fn record(payload: &[u8]) -> Result<Vec<Value<'_>>, String> {
    let mut pos = 0;
    let header_len = varint(payload, &mut pos)?;
    if header_len > payload.len() as u64 || (header_len as usize) < pos {
        return Err(err("record header runs past the payload"));
    }
    let header_len = header_len as usize;
    let mut body = header_len;
    let mut out = Vec::new();
    while pos < header_len {
        let t = varint(&payload[..header_len], &mut pos)?;
        let len = match t {
            0 | 8 | 9 => 0,
            1 => 1,
            2 => 2,
            3 => 3,
            4 => 4,
            5 => 6,
            6 | 7 => 8,
            10 | 11 => return Err(err("reserved serial type in a record")),
            n => ((n - 12) / 2) as usize,
        };
        let bytes = payload
            .get(
                body..body
                    .checked_add(len)
                    .ok_or_else(|| err("record too large"))?,
            )
            .ok_or_else(|| err("record value runs past the payload"))?;
        body += len;
        let int = || {
            let mut v: i64 = if bytes.first().is_some_and(|b| b & 0x80 != 0) {
                -1
            } else {
                0
            };
            for b in bytes {
                v = (v << 8) | i64::from(*b);
            }
            v
        };
        out.push(match t {
            0 => Value::Null,
            1..=6 => Value::Int(int()),
            7 => Value::Real(f64::from_bits(int() as u64)),
            8 => Value::Int(0),
            9 => Value::Int(1),
            n if n % 2 == 0 => Value::Blob(bytes),
            _ => Value::Text(bytes),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints() {
        let mut p = 0;
        assert_eq!(varint(&[0x7f], &mut p).unwrap(), 0x7f);
        p = 0;
        assert_eq!(varint(&[0x81, 0x00], &mut p).unwrap(), 0x80);
        p = 0;
        assert_eq!(varint(&[0xff; 9], &mut p).unwrap(), u64::MAX);
        assert_eq!(p, 9);
        p = 0;
        assert!(varint(&[0x81], &mut p).is_err());
    }

    #[test]
    fn records() {
        // header: len 4, types: NULL, int8, text(2) ; body: 0xfe, "hi"
        let r = record(&[4, 0, 1, 17, 0xfe, b'h', b'i']).unwrap();
        assert_eq!(r, vec![Value::Null, Value::Int(-2), Value::Text(b"hi")]);
        assert!(record(&[4, 0, 1, 19, 0xfe, b'h', b'i']).is_err());
        assert!(record(&[9, 0]).is_err());
        assert!(record(&[2, 10]).is_err());
    }

    #[test]
    fn rejects_garbage_without_panicking() {
        assert!(Sqlite::open(b"not a database").is_err());
        let mut d = vec![0u8; 4096];
        d[..16].copy_from_slice(MAGIC);
        d[16..18].copy_from_slice(&1000u16.to_be_bytes());
        assert!(Sqlite::open(&d).is_err());
        d[16..18].copy_from_slice(&1024u16.to_be_bytes());
        let db = Sqlite::open(&d).unwrap();
        // Page 1 has type 0: not a table page.
        assert!(db.table_root("Packages").is_err());
        // Interior page 1 whose right child is itself: a cycle, reported.
        d[100] = 0x05;
        d[108..112].copy_from_slice(&1u32.to_be_bytes());
        let db = Sqlite::open(&d).unwrap();
        assert!(db.table_root("Packages").unwrap_err().contains("cycle"));
    }
}

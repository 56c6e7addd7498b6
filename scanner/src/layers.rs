//! Applying image layers in order, streaming: whiteouts, opaque directories, symlinks and hard links, with every
//! hostile-archive case bounded (path traversal, link loops, decompression bombs, oversized files, truncation).
//!
//! Only the files the analyzers want are read, each is analyzed as it streams past, and only the analysis (not
//! the bytes) is kept, keyed by path. A later layer's whiteout removes what lower layers contributed.

use std::collections::BTreeMap;
use std::io::{self, BufRead, BufReader, Read};

use crate::inventory::{self, Analysis, FileKind};
use crate::ScanError;

/// Bounds applied while reading untrusted archives.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most decompressed bytes one layer may expand to.
    pub max_layer_bytes: u64,
    /// Most entries one layer may hold.
    pub max_entries: u64,
    /// Largest file an analyzer reads; bigger ones are skipped with a warning.
    pub max_file_bytes: u64,
    /// Most warnings kept (further ones are counted).
    pub max_warnings: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 16 << 30,
            max_entries: 2_000_000,
            max_file_bytes: inventory::MAX_ANALYZED_FILE,
            max_warnings: 1000,
        }
    }
}

/// Reader that fails once more than `left` bytes have been read (decompression bomb guard).
pub(crate) struct Capped<R> {
    inner: R,
    left: u64,
    what: &'static str,
}

impl<R: Read> Capped<R> {
    pub(crate) fn new(inner: R, cap: u64, what: &'static str) -> Self {
        Capped {
            inner,
            left: cap,
            what,
        }
    }
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // Allow a clean EOF exactly at the cap.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => Err(io::Error::other(format!(
                    "{} expands past the configured limit (decompression bomb?)",
                    self.what
                ))),
            };
        }
        let n = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..n])?;
        self.left -= got as u64;
        Ok(got)
    }
}

/// Wraps a possibly compressed layer stream (gzip, zstd or plain tar, detected by magic bytes).
pub(crate) fn decompress<'a, R: Read + 'a>(r: R) -> Result<Box<dyn Read + 'a>, ScanError> {
    let mut br = BufReader::with_capacity(256 << 10, r);
    let head = br
        .fill_buf()
        .map_err(|e| ScanError::Archive(format!("reading layer: {e}")))?;
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok(Box::new(flate2::bufread::MultiGzDecoder::new(br)))
    } else if is_zstd(head) {
        Ok(Box::new(ZstdFrames::new(br)))
    } else {
        Ok(Box::new(br))
    }
}

/// A zstd frame or a skippable frame (`0x184D2A50..=0x184D2A5F`, little-endian) starts the stream.
fn is_zstd(head: &[u8]) -> bool {
    head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd])
        || (head.len() >= 4 && head[0] & 0xf0 == 0x50 && head[1..4] == [0x2a, 0x4d, 0x18])
}

/// Decodes every frame of a zstd stream in sequence: concatenated frames (as `zstd` writes when appending and
/// `pzstd` writes always) and skippable frames (skipped). Memory is bounded by the decoder's window limit; the
/// caller caps the decompressed bytes.
struct ZstdFrames<R> {
    source: R,
    decoder: ruzstd::decoding::FrameDecoder,
    in_frame: bool,
}

impl<R: BufRead> ZstdFrames<R> {
    fn new(source: R) -> Self {
        ZstdFrames {
            source,
            decoder: ruzstd::decoding::FrameDecoder::new(),
            in_frame: false,
        }
    }

    /// Starts the next frame, skipping skippable ones; `false` at the end of the stream.
    fn next_frame(&mut self) -> io::Result<bool> {
        use ruzstd::decoding::errors::{FrameDecoderError, ReadFrameHeaderError};
        loop {
            if self.source.fill_buf()?.is_empty() {
                return Ok(false);
            }
            match self.decoder.reset(&mut self.source) {
                Ok(()) => return Ok(true),
                Err(FrameDecoderError::ReadFrameHeaderError(ReadFrameHeaderError::SkipFrame {
                    length,
                    ..
                })) => {
                    let skipped = io::copy(
                        &mut (&mut self.source).take(u64::from(length)),
                        &mut io::sink(),
                    )?;
                    if skipped != u64::from(length) {
                        return Err(io::Error::other("zstd: truncated skippable frame"));
                    }
                }
                Err(e) => return Err(io::Error::other(format!("bad zstd frame: {e}"))),
            }
        }
    }
}

impl<R: BufRead> Read for ZstdFrames<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.in_frame {
                let d = &mut self.decoder;
                while d.can_collect() < buf.len() && !d.is_finished() {
                    let want = buf.len() - d.can_collect();
                    d.decode_blocks(
                        &mut self.source,
                        ruzstd::decoding::BlockDecodingStrategy::UptoBytes(want),
                    )
                    .map_err(|e| io::Error::other(format!("bad zstd block: {e}")))?;
                }
                let n = d.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                self.in_frame = false;
            }
            if !self.next_frame()? {
                return Ok(0);
            }
            self.in_frame = true;
        }
    }
}

/// Normalises an archive path: strips `./` and leading `/`, resolves `.` and `..` lexically, and rejects paths
/// that climb out of the root or are not UTF-8.
pub(crate) fn normalize(raw: &[u8]) -> Option<String> {
    let s = std::str::from_utf8(raw).ok()?;
    let mut parts: Vec<&str> = Vec::new();
    for c in s.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            c => parts.push(c),
        }
    }
    Some(parts.join("/"))
}

/// The same analysis seen at another path (a hard link or symlink): packages name the path they were found at.
fn relocate(a: Analysis, path: &str) -> Analysis {
    match a {
        Analysis::Packages(ps) => Analysis::Packages(
            ps.into_iter()
                .map(|mut p| {
                    p.path = path.to_string();
                    p
                })
                .collect(),
        ),
        other => other,
    }
}

/// What the layers add up to: analyses and symlinks by path, with the layer that put them there.
#[derive(Debug, Default)]
pub(crate) struct Tree {
    results: BTreeMap<String, (usize, Analysis)>,
    symlinks: BTreeMap<String, (usize, String)>,
    pub(crate) warnings: Vec<String>,
    dropped_warnings: usize,
    max_warnings: usize,
    os_files: bool,
    /// Secret detection over every layer's files (None: off). A secret deleted by a later layer is still in the
    /// image, so findings are kept per layer, whiteouts notwithstanding.
    pub(crate) secrets: Option<std::sync::Arc<crate::secrets::SecretScanner>>,
    /// Secrets found, in layer order.
    pub(crate) secret_findings: Vec<crate::config::ConfigFinding>,
    secret_binaries: usize,
}

impl Tree {
    pub(crate) fn new(limits: &Limits, os_files: bool) -> Tree {
        Tree {
            max_warnings: limits.max_warnings,
            os_files,
            ..Default::default()
        }
    }

    pub(crate) fn warn(&mut self, w: String) {
        if self.warnings.len() < self.max_warnings {
            self.warnings.push(w);
        } else {
            self.dropped_warnings += 1;
        }
    }

    fn remove_under(&mut self, dir: &str, below_layer: usize, include_self: bool) {
        let prefix = if dir.is_empty() {
            String::new()
        } else {
            format!("{dir}/")
        };
        drop_lower_entries(&mut self.results, &prefix, below_layer);
        drop_lower_entries(&mut self.symlinks, &prefix, below_layer);
        if include_self {
            self.results.remove(dir);
            self.symlinks.remove(dir);
        }
    }

    /// Records one regular file (its bytes come from `r`).
    pub(crate) fn file(
        &mut self,
        layer: usize,
        path: &str,
        kind: FileKind,
        size: u64,
        r: &mut dyn Read,
        limits: &Limits,
    ) {
        self.results.remove(path);
        self.symlinks.remove(path);
        if size > limits.max_file_bytes {
            self.warn(format!(
                "{path}: {size} bytes is over the per-file limit; skipped"
            ));
            return;
        }
        let mut buf = Vec::with_capacity(usize::try_from(size.min(1 << 20)).unwrap_or(0));
        if let Err(e) = r.take(limits.max_file_bytes + 1).read_to_end(&mut buf) {
            self.warn(format!("{path}: read failed: {e}"));
            return;
        }
        if buf.len() as u64 > limits.max_file_bytes {
            self.warn(format!("{path}: over the per-file limit; skipped"));
            return;
        }
        self.search_bytes(layer, path, &buf);
        match inventory::analyze(kind, path, &buf) {
            Ok(Some(a)) => {
                self.results.insert(path.to_string(), (layer, a));
            }
            Ok(None) => {}
            Err(e) => self.warn(e),
        }
    }

    /// Searches a file the analyzers do not want for secrets: binaries (a NUL in the first 8 KiB) are counted,
    /// files over the cap reported, the rest read and searched.
    fn search_secrets(&mut self, layer: usize, path: &str, size: u64, r: &mut dyn Read) {
        let Some(s) = self.secrets.clone() else {
            return;
        };
        if s.path_allowed(path) {
            return;
        }
        let mut buf = Vec::with_capacity(usize::try_from(size.min(8192)).unwrap_or(0));
        if r.take(8192).read_to_end(&mut buf).is_err() {
            return;
        }
        if buf.contains(&0) {
            self.secret_binaries += 1;
            return;
        }
        if size > s.max_file_bytes {
            self.warn(format!(
                "layer {layer}: {path}: {size} bytes, over the secret scanner's limit; not searched for secrets"
            ));
            return;
        }
        if let Err(e) = r.take(s.max_file_bytes).read_to_end(&mut buf) {
            self.warn(format!("layer {layer}: {path}: read failed: {e}"));
            return;
        }
        self.search_bytes(layer, path, &buf);
    }

    fn search_bytes(&mut self, layer: usize, path: &str, bytes: &[u8]) {
        if let Some(s) = &self.secrets {
            match s.scan(path, &format!("layer {layer}"), bytes) {
                Ok(f) => self.secret_findings.extend(f),
                Err(crate::secrets::Skipped::Binary) => self.secret_binaries += 1,
                Err(_) => {}
            }
        }
    }

    pub(crate) fn symlink(&mut self, layer: usize, path: &str, target: &str) {
        self.results.remove(path);
        self.symlinks
            .insert(path.to_string(), (layer, target.to_string()));
    }

    pub(crate) fn hardlink(&mut self, layer: usize, path: &str, target: &str) {
        self.results.remove(path);
        self.symlinks.remove(path);
        if let Some((_, a)) = self.results.get(target).cloned() {
            self.results
                .insert(path.to_string(), (layer, relocate(a, path)));
        }
    }

    /// Applies one layer (a tar stream, possibly compressed).
    pub(crate) fn apply_layer(
        &mut self,
        layer: usize,
        stream: Box<dyn Read + '_>,
        limits: &Limits,
    ) -> Result<(), ScanError> {
        let capped = Capped::new(stream, limits.max_layer_bytes, "layer");
        let mut ar = tar::Archive::new(capped);
        let entries = ar
            .entries()
            .map_err(|e| ScanError::Archive(format!("layer {layer}: {e}")))?;
        let mut count = 0u64;
        for entry in entries {
            let mut entry = entry.map_err(|e| {
                ScanError::Archive(format!("layer {layer}: corrupt or truncated tar: {e}"))
            })?;
            count += 1;
            if count > limits.max_entries {
                return Err(ScanError::Archive(format!(
                    "layer {layer} has more than {} entries",
                    limits.max_entries
                )));
            }
            let raw = entry.path_bytes().into_owned();
            let Some(path) = normalize(&raw) else {
                self.warn(format!(
                    "layer {layer}: entry {:?} escapes the root or is not UTF-8; skipped",
                    String::from_utf8_lossy(&raw)
                ));
                continue;
            };
            let (dir, base) = match path.rsplit_once('/') {
                Some((d, b)) => (d.to_string(), b.to_string()),
                None => (String::new(), path.clone()),
            };
            if base == ".wh..wh..opq" {
                self.remove_under(&dir, layer, false);
                continue;
            }
            if let Some(victim) = base.strip_prefix(".wh.") {
                let victim = if dir.is_empty() {
                    victim.to_string()
                } else {
                    format!("{dir}/{victim}")
                };
                self.remove_under(&victim, layer, true);
                continue;
            }
            let header = entry.header();
            let et = header.entry_type();
            let mode = header.mode().unwrap_or(0);
            let size = entry.size();
            match et {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    // A file replacing a directory hides what was below it.
                    if let Some(kind) =
                        inventory::wants(&path, size, mode & 0o111 != 0, self.os_files)
                    {
                        self.file(layer, &path, kind, size, &mut entry, limits);
                    } else {
                        self.results.remove(&path);
                        self.symlinks.remove(&path);
                        self.search_secrets(layer, &path, size, &mut entry);
                    }
                }
                tar::EntryType::Symlink => {
                    let target = entry
                        .link_name_bytes()
                        .map(|c| c.into_owned())
                        .unwrap_or_default();
                    let target = String::from_utf8_lossy(&target).into_owned();
                    self.symlink(layer, &path, &target);
                }
                tar::EntryType::Link => {
                    let target = entry
                        .link_name_bytes()
                        .map(|c| c.into_owned())
                        .unwrap_or_default();
                    match normalize(&target) {
                        Some(t) => self.hardlink(layer, &path, &t),
                        None => self.warn(format!(
                            "layer {layer}: hard link {path} points outside the root; skipped"
                        )),
                    }
                }
                _ => {}
            }
        }
        // Drain what is left (tar padding, later compressed frames) so that truncation and corruption past the
        // end-of-archive marker surface here, still under the decompression cap.
        io::copy(&mut ar.into_inner(), &mut io::sink()).map_err(|e| {
            ScanError::Archive(format!(
                "layer {layer}: corrupt or truncated after the tar: {e}"
            ))
        })?;
        Ok(())
    }

    /// Resolves `path` through the recorded symlinks (absolute targets from the root, relative ones from the
    /// link's directory), at most 40 hops.
    fn resolve(&self, path: &str) -> Option<String> {
        let mut parts: Vec<String> = path.split('/').map(str::to_string).collect();
        let mut hops = 0;
        let mut i = 0;
        while i < parts.len() {
            let prefix = parts[..=i].join("/");
            if let Some((_, target)) = self.symlinks.get(&prefix) {
                hops += 1;
                if hops > 40 {
                    return None;
                }
                let base: Vec<String> = if target.starts_with('/') {
                    vec![]
                } else {
                    parts[..i].to_vec()
                };
                let joined = format!("{}/{}/{}", base.join("/"), target, parts[i + 1..].join("/"));
                let norm = normalize(joined.as_bytes())?;
                parts = norm.split('/').map(str::to_string).collect();
                i = 0;
                continue;
            }
            i += 1;
        }
        Some(parts.join("/"))
    }

    /// The per-path analyses, with wanted symlinks (e.g. `etc/os-release -> ../usr/lib/os-release`) resolved.
    pub(crate) fn finish(mut self) -> (Vec<(String, usize, Analysis)>, Vec<String>) {
        let links: Vec<String> = self
            .symlinks
            .keys()
            .filter(|p| {
                inventory::wants(p, 0, false, self.os_files)
                    .is_some_and(|k| k != FileKind::GoBinary)
            })
            .cloned()
            .collect();
        for link in links {
            match self.resolve(&link) {
                Some(t) => {
                    if let Some((l, a)) = self.results.get(&t).cloned() {
                        let a = relocate(a, &link);
                        self.results.insert(link, (l, a));
                    }
                }
                None => self.warn(format!("{link}: symlink loop or escape; skipped")),
            }
        }
        if self.secret_binaries > 0 {
            let n = self.secret_binaries;
            self.warnings
                .push(format!("{n} binary file(s) not searched for secrets"));
        }
        if self.dropped_warnings > 0 {
            let n = self.dropped_warnings;
            self.warnings.push(format!("... and {n} more warnings"));
        }
        let out = self
            .results
            .into_iter()
            .map(|(p, (l, a))| (p, l, a))
            .collect();
        (out, self.warnings)
    }
}

/// Removes the entries under `prefix` that lower layers than `below_layer` put there.
fn drop_lower_entries<T>(
    map: &mut std::collections::BTreeMap<String, (usize, T)>,
    prefix: &str,
    below_layer: usize,
) {
    let doomed: Vec<String> = map
        .range(prefix.to_owned()..)
        .take_while(|(k, _)| k.starts_with(prefix))
        .filter(|(_, (l, _))| *l < below_layer)
        .map(|(k, _)| k.clone())
        .collect();
    for k in doomed {
        map.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_paths() {
        assert_eq!(
            normalize(b"./etc/os-release").as_deref(),
            Some("etc/os-release")
        );
        assert_eq!(normalize(b"/etc/../etc/x").as_deref(), Some("etc/x"));
        assert_eq!(normalize(b"../../etc/passwd"), None);
        assert_eq!(normalize(b"a/../../b"), None);
        assert_eq!(normalize(b"\xff"), None);
    }
}

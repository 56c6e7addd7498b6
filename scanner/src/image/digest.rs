//! Content digests (`sha256:` and `sha512:`) computed while a blob or a decompressed layer streams past, so that
//! a tampered or corrupt layer is an error naming it and never a scan of content nobody vouched for.

use std::io::{self, Read};

use sha2::{Digest, Sha256, Sha512};

/// A running hash of one of the algorithms OCI digests use.
#[derive(Clone)]
enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

/// A reader that hashes everything read through it.
pub(crate) struct Digesting<R> {
    inner: R,
    hasher: Hasher,
    algorithm: &'static str,
}

impl<R: Read> Digesting<R> {
    /// Hashes `inner` with the algorithm of `expected` (`sha256:…` or `sha512:…`); other algorithms are refused.
    pub(crate) fn for_digest(inner: R, expected: &str) -> Result<Self, String> {
        let (algorithm, hex) = expected
            .split_once(':')
            .ok_or_else(|| format!("{expected:?} is not a digest"))?;
        let (hasher, algorithm, len) = match algorithm {
            "sha256" => (Hasher::Sha256(Sha256::new()), "sha256", 64),
            "sha512" => (Hasher::Sha512(Sha512::new()), "sha512", 128),
            other => return Err(format!("unsupported digest algorithm {other:?}")),
        };
        if hex.len() != len || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(format!("{expected:?} is not a valid {algorithm} digest"));
        }
        Ok(Digesting {
            inner,
            hasher,
            algorithm,
        })
    }

    /// The digest of what was read so far, as `alg:hex`.
    pub(crate) fn digest(&self) -> String {
        let hex = match self.hasher.clone() {
            Hasher::Sha256(h) => hex::encode(h.finalize()),
            Hasher::Sha512(h) => hex::encode(h.finalize()),
        };
        format!("{}:{hex}", self.algorithm)
    }

    /// Reads what is left (at most `cap` more bytes) and returns the digest of the whole stream.
    pub(crate) fn drain(&mut self, cap: u64) -> io::Result<String> {
        let left = io::copy(
            &mut self.by_ref().take(cap.saturating_add(1)),
            &mut io::sink(),
        )?;
        if left > cap {
            return Err(io::Error::other("longer than the configured limit"));
        }
        Ok(self.digest())
    }
}

/// `Ok` when `got` equals `expected` (hex compared case-insensitively), else a message naming both.
pub(crate) fn check(got: &str, expected: &str) -> Result<(), String> {
    if got.eq_ignore_ascii_case(expected) {
        Ok(())
    } else {
        Err(format!("content digest is {got}, expected {expected}"))
    }
}

impl<R: Read> Read for Digesting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        match &mut self.hasher {
            Hasher::Sha256(h) => h.update(&buf[..n]),
            Hasher::Sha512(h) => h.update(&buf[..n]),
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digests_what_streams_past() {
        let data = b"layer bytes";
        let want = format!("sha256:{}", hex::encode(Sha256::digest(data)));
        let mut r = Digesting::for_digest(&data[..], &want).unwrap();
        let mut first = [0u8; 4];
        r.read_exact(&mut first).unwrap();
        let got = r.drain(1 << 20).unwrap();
        assert!(check(&got, &want).is_ok());
        let other = format!("sha256:{}", hex::encode(Sha256::digest(b"other")));
        let err = check(&got, &other).unwrap_err();
        assert!(err.contains(&got) && err.contains(&other), "{err}");

        let want512 = format!("sha512:{}", hex::encode(Sha512::digest(data)));
        let mut r = Digesting::for_digest(&data[..], &want512).unwrap();
        assert_eq!(r.drain(1 << 20).unwrap(), want512);
        assert!(Digesting::for_digest(&data[..], &want)
            .unwrap()
            .drain(3)
            .is_err());

        for bad in ["md5:abcd", "sha256:xyz", "sha256", "sha256:abcd"] {
            assert!(Digesting::for_digest(&data[..], bad).is_err(), "{bad}");
        }
    }
}

//! `palisade health`: the container's probe. The runtime image has no shell and no curl, so the binary asks
//! the server itself: one plain-HTTP `GET`, exit 0 on a 2xx answer, 1 otherwise. Bounded: connect, write and
//! read each time out, and only the status line is read.

use std::io::{BufRead as _, BufReader, Write as _};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// What to ask (plain HTTP). Default: /readyz on `server.listen`.
    #[arg(long)]
    url: Option<String>,
    /// Seconds for each of connect, write and read.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

/// `http://HOST:PORT/PATH` → (`HOST:PORT`, `/PATH`).
fn split_url(url: &str) -> anyhow::Result<(&str, &str)> {
    let rest = url
        .strip_prefix("http://")
        .with_context(|| format!("`{url}`: only http:// URLs are probed"))?;
    Ok(match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    })
}

pub fn run(config: Config, a: HealthArgs) -> anyhow::Result<ExitCode> {
    let url = a.url.unwrap_or_else(|| {
        // A wildcard listen address is probed on loopback.
        let listen = config
            .server
            .listen
            .replace("0.0.0.0:", "127.0.0.1:")
            .replace("[::]:", "[::1]:");
        format!("http://{listen}/readyz")
    });
    let (host, path) = split_url(&url)?;
    let timeout = Duration::from_secs(a.timeout.max(1));
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to nothing"))?;
    let status = (|| -> std::io::Result<String> {
        let mut s = TcpStream::connect_timeout(&addr, timeout)?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        let mut line = String::new();
        BufReader::new(std::io::Read::take(s, 1024)).read_line(&mut line)?;
        Ok(line)
    })();
    match status {
        Ok(line)
            if line
                .split_whitespace()
                .nth(1)
                .is_some_and(|c| c.starts_with('2')) =>
        {
            Ok(ExitCode::SUCCESS)
        }
        Ok(line) => {
            eprintln!("unhealthy: {url} answered `{}`", line.trim());
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("unhealthy: {url}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

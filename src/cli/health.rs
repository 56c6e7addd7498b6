//! `palisade health`: the container's probe. The runtime image has no shell and no curl, so the binary asks
//! the server itself: one `GET` (over TLS 1.3, verified against the server's CA bundle, when the server speaks
//! TLS — the default — or the URL is `https://`), exit 0 on a 2xx answer, 1 otherwise. Bounded: connect,
//! write and read each time out, and only the status line is read.

use std::io::{BufRead as _, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;

use crate::cli::server_client::{server_name, split_url, tls_config};
use crate::config::Config;

#[derive(Debug, clap::Args)]
pub struct HealthArgs {
    /// What to ask (`https://` or, with `ca.tls = false`, `http://`). Default: /readyz on `server.listen`.
    #[arg(long)]
    url: Option<String>,
    /// CA bundle (PEM) the server's certificate must chain to. Default: `<data_dir>/ca-bundle.pem`, written
    /// by `palisade serve`.
    #[arg(long)]
    cacert: Option<PathBuf>,
    /// Seconds for each of connect, write and read.
    #[arg(long, default_value_t = 3)]
    timeout: u64,
}

pub fn run(config: Config, a: HealthArgs) -> anyhow::Result<ExitCode> {
    let url = a.url.unwrap_or_else(|| {
        // A wildcard listen address is probed on loopback.
        let listen = config
            .server
            .listen
            .replace("0.0.0.0:", "127.0.0.1:")
            .replace("[::]:", "[::1]:");
        let scheme = if crate::cli::ca::tls_enabled(&config) {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{listen}/readyz")
    });
    let (tls, host, path) = split_url(&url)?;
    let tls = if tls {
        let bundle = a
            .cacert
            .unwrap_or_else(|| config.data_dir.join("ca-bundle.pem"));
        Some((tls_config(&bundle, None)?, server_name(host)?))
    } else {
        None
    };
    let timeout = Duration::from_secs(a.timeout.max(1));
    let addr = host
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host}"))?
        .next()
        .with_context(|| format!("{host} resolves to nothing"))?;
    let status = (|| -> std::io::Result<String> {
        let tcp = TcpStream::connect_timeout(&addr, timeout)?;
        tcp.set_read_timeout(Some(timeout))?;
        tcp.set_write_timeout(Some(timeout))?;
        let mut s: Box<dyn ReadWrite> = match tls {
            Some((config, name)) => Box::new(rustls::StreamOwned::new(
                rustls::ClientConnection::new(config, name).map_err(std::io::Error::other)?,
                tcp,
            )),
            None => Box::new(tcp),
        };
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
        )?;
        s.flush()?;
        let mut line = String::new();
        BufReader::new(s.take(1024)).read_line(&mut line)?;
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

/// A plain or TLS connection.
trait ReadWrite: Read + Write {}
impl<T: Read + Write> ReadWrite for T {}

//! `cairn probe URL`: a health check for images without curl or a shell (distroless). Plain
//! HTTP/1.1 over std's TCP: the server it checks is the one beside it.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use cairn_core::{Error, Result};

/// `cairn probe`: 0 on a 2xx answer, 1 on any other answer or none.
pub fn run(url: &str, timeout: f64) -> Result<ExitCode> {
    if !(timeout.is_finite() && timeout > 0.0) {
        return Err(Error::Usage(format!(
            "--timeout {timeout}: give a number of seconds above 0"
        )));
    }
    let timeout = Duration::from_secs_f64(timeout);
    let (host, path) = split(url)?;
    match status(host, path, timeout) {
        Ok(code) if (200..300).contains(&code) => Ok(ExitCode::SUCCESS),
        Ok(code) => {
            eprintln!("{url}: answered {code}");
            Ok(ExitCode::from(1))
        }
        Err(e) => {
            eprintln!("{url}: {e}");
            Ok(ExitCode::from(1))
        }
    }
}

/// `http://HOST[:PORT]/PATH` as (`HOST:PORT`, `/PATH`).
fn split(url: &str) -> Result<(String, &str)> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        Error::Usage(format!(
            "{url}: cairn probe speaks plain http:// (the server beside it), write http://HOST:PORT/PATH"
        ))
    })?;
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() || authority.contains('@') {
        return Err(Error::Usage(format!(
            "{url}: no host, write http://HOST:PORT/PATH"
        )));
    }
    let host = match authority.rsplit_once(':') {
        // "[::1]" is an address without a port, "[::1]:8080" one with.
        Some((name, port)) if !name.is_empty() && !authority.ends_with(']') => {
            port.parse::<u16>()
                .map_err(|_| Error::Usage(format!("{url}: '{port}' is not a port number")))?;
            authority.to_string()
        }
        _ => format!("{authority}:80"),
    };
    Ok((host, if path.is_empty() { "/" } else { path }))
}

/// The status code `GET path` gets from `host`.
fn status(host: String, path: &str, timeout: Duration) -> std::io::Result<u16> {
    let addr = host
        .to_socket_addrs()?
        .next()
        .ok_or_else(|| std::io::Error::other(format!("{host}: no address")))?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: cairn-probe\r\nConnection: close\r\n\r\n"
    )?;
    // The status line is all it needs: "HTTP/1.1 200 OK".
    let mut head = [0u8; 64];
    let mut len = 0;
    while len < head.len() && !head[..len].contains(&b'\n') {
        let n = stream.read(&mut head[len..])?;
        if n == 0 {
            break;
        }
        len += n;
    }
    let line = String::from_utf8_lossy(&head[..len]);
    line.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .filter(|_| line.starts_with("HTTP/"))
        .ok_or_else(|| std::io::Error::other("the answer is not HTTP"))
}

//! A real S3-compatible server for the tests: moto 5.2.5 on 127.0.0.1 (installed by
//! `scripts/s3-test-server.sh`). One shared server per test process, on a free port; tests that
//! kill their server start their own. Every server runs under a shell watchdog that kills it
//! once the test process is gone, so none outlives the run.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A running moto server.
pub struct Moto {
    /// Its port on 127.0.0.1.
    pub port: u16,
    pid: u32,
    watchdog: Child,
}

fn moto_server() -> PathBuf {
    let path = std::env::var_os("CAIRN_MOTO_SERVER")
        .map(PathBuf::from)
        .or_else(|| {
            let venv = std::env::var_os("CAIRN_MOTO_VENV")
                .map(PathBuf::from)
                .or_else(|| {
                    std::env::var_os("HOME")
                        .map(|h| PathBuf::from(h).join(".cache/cairn/moto-venv-5.2.5"))
                })?;
            Some(venv.join("bin/moto_server"))
        })
        .unwrap_or_default();
    assert!(
        path.is_file(),
        "moto_server not found at {}: run scripts/s3-test-server.sh (or set CAIRN_MOTO_SERVER)",
        path.display()
    );
    path
}

/// A port nothing listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl Moto {
    /// The server shared by the tests of this process.
    pub fn shared() -> &'static Moto {
        static SHARED: OnceLock<Moto> = OnceLock::new();
        SHARED.get_or_init(|| Moto::start(free_port()))
    }

    /// Starts a server on `port` and waits until it answers.
    pub fn start(port: u16) -> Moto {
        let server = moto_server();
        let log = std::env::temp_dir().join(format!("cairn-moto-{port}.log"));
        // The watchdog: runs moto, prints its pid, kills it when the test process is gone.
        let script = format!(
            "'{}' -H 127.0.0.1 -p {port} >'{}' 2>&1 & m=$!; echo $m; \
             while kill -0 {parent} 2>/dev/null && kill -0 $m 2>/dev/null; do sleep 0.5; done; \
             kill $m 2>/dev/null",
            server.display(),
            log.display(),
            parent = std::process::id()
        );
        let mut watchdog = Command::new("sh")
            .args(["-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn moto watchdog");
        let mut line = String::new();
        BufReader::new(watchdog.stdout.take().expect("stdout"))
            .read_line(&mut line)
            .expect("moto pid");
        let pid = line.trim().parse().expect("moto pid");
        let moto = Moto {
            port,
            pid,
            watchdog,
        };
        let start = Instant::now();
        while moto.request("GET", "/", b"").is_none() {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "moto did not start on port {port}; see {}",
                log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Stops the server at once.
    pub fn kill(&mut self) {
        let _ = Command::new("kill")
            .args(["-9", &self.pid.to_string()])
            .status();
        let _ = self.watchdog.wait();
    }

    /// One plain HTTP request; the status and body, or None when nothing answers. moto does not
    /// check signatures, but it keys ownership on the access key named in the header (an
    /// anonymous request may not overwrite what `testing` wrote), so one is named.
    pub fn request(&self, method: &str, path: &str, body: &[u8]) -> Option<(u16, String)> {
        let (status, body) = self.request_bytes(method, path, body)?;
        Some((status, String::from_utf8_lossy(&body).into_owned()))
    }

    /// [`Moto::request`] with the body as bytes.
    pub fn request_bytes(&self, method: &str, path: &str, body: &[u8]) -> Option<(u16, Vec<u8>)> {
        let mut stream = TcpStream::connect(("127.0.0.1", self.port)).ok()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nContent-Length: {}\r\nConnection: close\r\n\
             Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, \
             SignedHeaders=host, Signature=00\r\n\r\n",
            self.port,
            body.len()
        );
        stream.write_all(head.as_bytes()).ok()?;
        stream.write_all(body).ok()?;
        let mut response = Vec::new();
        stream.read_to_end(&mut response).ok()?;
        let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
        let head = String::from_utf8_lossy(&response[..end]);
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        Some((status, response[end + 4..].to_vec()))
    }

    /// The bytes of `key`.
    pub fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let (status, body) = self
            .request_bytes("GET", &format!("/{bucket}/{key}"), b"")
            .expect("moto answers");
        assert_eq!(status, 200, "getting {key}");
        body
    }

    /// Creates a bucket with a fresh name and returns the name.
    pub fn bucket(&self) -> String {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("cairn-test-{}-{n}", std::process::id());
        self.create_bucket(&name);
        name
    }

    /// Creates bucket `name`.
    pub fn create_bucket(&self, name: &str) {
        let (status, body) = self
            .request("PUT", &format!("/{name}"), b"")
            .expect("moto answers");
        assert_eq!(status, 200, "creating bucket {name}: {body}");
    }

    /// Writes `body` under `key`, as a damaged or foreign upload would.
    pub fn put(&self, bucket: &str, key: &str, body: &[u8]) {
        let (status, text) = self
            .request("PUT", &format!("/{bucket}/{key}"), body)
            .expect("moto answers");
        assert_eq!(status, 200, "putting {key}: {text}");
    }

    /// The keys in `bucket` (first 1000).
    pub fn keys(&self, bucket: &str) -> Vec<String> {
        let Some((_, body)) = self.request("GET", &format!("/{bucket}?list-type=2"), b"") else {
            return Vec::new();
        };
        body.split("<Key>")
            .skip(1)
            .filter_map(|s| s.split_once("</Key>").map(|(k, _)| k.to_string()))
            .collect()
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        self.kill();
    }
}

//! An S3 (or S3-compatible: MinIO, Ceph, R2, moto, s3s) remote through aws-sdk-s3. Uploads
//! stream from disk, in multipart pieces above [`MULTIPART_THRESHOLD`]; downloads stream to disk.
//! Only files up to [`IN_MEMORY_LIMIT`] and packs of small objects ([`super::pack`]) are held
//! whole in memory, one per upload in flight.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::config::retry::RetryConfig;
use aws_sdk_s3::config::timeout::TimeoutConfig;
use aws_sdk_s3::config::{Credentials, RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};

use super::backend::{Failure, FailureKind, Remote, RemoteResult};
use cairn_core::error::{Error, Result};

/// Files at least this big go up in multipart pieces.
pub const MULTIPART_THRESHOLD: u64 = 64 << 20;
/// Files up to this size are read whole before they are sent (at most this much per upload in
/// flight is held: 64 MiB at the default 64 jobs).
const IN_MEMORY_LIMIT: u64 = 1 << 20;
/// Uploads one transfer thread keeps in flight: with all of them on their own thread, 64
/// blocked threads cost a 2-core machine a third more CPU per push than the same requests from 8.
const PUTS_PER_THREAD: usize = 8;
/// Smallest piece; grown for huge files so that no upload needs more than 10,000 pieces.
const PART_SIZE: u64 = 16 << 20;

/// Where an S3 remote is and how to reach it.
#[derive(Debug, Clone, Default)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix without a trailing `/` (may be empty).
    pub prefix: String,
    /// Endpoint of an S3-compatible store (default: AWS, or `AWS_ENDPOINT_URL`).
    pub endpoint_url: Option<String>,
    /// Region (default: the AWS chain's, else us-east-1).
    pub region: Option<String>,
    /// Named AWS profile.
    pub profile: Option<String>,
    /// Static credentials from `.cairn/config.local.yaml`: (key id, secret, session token).
    pub credentials: Option<(String, String, Option<String>)>,
    /// How long to wait for the server.
    pub timeouts: Timeouts,
}

/// How long an S3 remote waits for its server (settings `connect_timeout`, `read_timeout`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// For a connection to be made.
    pub connect: Duration,
    /// For the answer to one request, once connected (an upload's body is sent within it).
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            read: Duration::from_secs(60),
        }
    }
}

impl Timeouts {
    /// The longest one attempt of an operation may take: connecting, then the request. Only a
    /// backstop for what the two do not cover (a stuck TLS handshake, signing).
    fn attempt(&self) -> Duration {
        self.connect + self.read + Duration::from_secs(5)
    }
}

/// `2 s`, `0.5 s`.
pub fn seconds(d: Duration) -> String {
    format!("{} s", d.as_secs_f64())
}

/// An S3 remote.
pub struct S3Remote {
    client: Client,
    bucket: String,
    prefix: String,
    runtime: tokio::runtime::Runtime,
    /// The server, for messages: the endpoint URL, or AWS and its region.
    endpoint: String,
    timeouts: Timeouts,
}

impl S3Remote {
    /// Connects (lazily: no request is made until the first operation).
    pub fn new(settings: &S3Settings) -> Result<S3Remote> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .map_err(|e| Error::Failed(format!("starting the S3 client's runtime: {e}")))?;
        let (client, endpoint) = runtime.block_on(client(settings));
        Ok(S3Remote {
            client,
            bucket: settings.bucket.clone(),
            prefix: settings.prefix.clone(),
            runtime,
            endpoint,
            timeouts: settings.timeouts,
        })
    }

    /// `s3://bucket/prefix at ENDPOINT`, for messages.
    pub fn describe(&self) -> String {
        let url = if self.prefix.is_empty() {
            format!("s3://{}", self.bucket)
        } else {
            format!("s3://{}/{}", self.bucket, self.prefix)
        };
        format!("{url} at {}", self.endpoint)
    }

    /// Sorts an SDK error into retry / time-out / not found / give up, keeping its full
    /// message; a timeout says which one, and how long it was.
    fn classify<E>(&self, what: &str, err: SdkError<E, HttpResponse>) -> Failure
    where
        E: std::error::Error + Send + Sync + 'static,
    {
        let text = DisplayErrorContext(&err).to_string();
        let t = &self.timeouts;
        let timeout = match &err {
            SdkError::DispatchFailure(e) if e.is_timeout() => {
                Some(if text.contains("HTTP connect timeout") {
                    format!(
                        "could not connect within connect_timeout = {}",
                        seconds(t.connect)
                    )
                } else {
                    format!("no answer within read_timeout = {}", seconds(t.read))
                })
            }
            SdkError::TimeoutError(_) => Some(format!(
                "the request did not complete within {} (connect_timeout + read_timeout + 5 s)",
                seconds(t.attempt())
            )),
            _ => None,
        };
        if let Some(why) = timeout {
            return Failure::new(
                FailureKind::TimedOut,
                format!("{what} at {}: {why}", self.endpoint),
            );
        }
        let kind = match &err {
            SdkError::DispatchFailure(_)
            | SdkError::TimeoutError(_)
            | SdkError::ResponseError(_) => FailureKind::Transient,
            SdkError::ServiceError(ctx) => match ctx.raw().status().as_u16() {
                404 => FailureKind::NotFound,
                408 | 429 | 500..=599 => FailureKind::Transient,
                _ => FailureKind::Permanent,
            },
            _ => FailureKind::Permanent,
        };
        Failure::new(kind, format!("{what}: {text}"))
    }

    /// What to strip from a listed key to make it relative to the remote's prefix.
    fn strip(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }

    fn full_key(&self, key: &str) -> String {
        if self.prefix.is_empty() {
            key.to_string()
        } else {
            format!("{}/{key}", self.prefix)
        }
    }

    async fn put_multipart(&self, full: &str, src: &Path, size: u64) -> RemoteResult<()> {
        let created = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .send()
            .await
            .map_err(|e| self.classify(&format!("starting the upload of {full}"), e))?;
        let upload_id = created.upload_id().unwrap_or_default().to_string();
        let result = self.put_parts(full, src, size, &upload_id).await;
        if result.is_err() {
            // Best effort: an abandoned upload only costs space until the bucket's lifecycle rule.
            let _ = self
                .client
                .abort_multipart_upload()
                .bucket(&self.bucket)
                .key(full)
                .upload_id(&upload_id)
                .send()
                .await;
        }
        result
    }

    async fn put_parts(
        &self,
        full: &str,
        src: &Path,
        size: u64,
        upload_id: &str,
    ) -> RemoteResult<()> {
        let part_size = PART_SIZE.max(size.div_ceil(9_000));
        let mut parts = Vec::new();
        let mut offset = 0;
        let mut number = 1;
        while offset < size {
            let length = part_size.min(size - offset);
            let body = ByteStream::read_from()
                .path(src)
                .offset(offset)
                .length(aws_sdk_s3::primitives::Length::Exact(length))
                .build()
                .await
                .map_err(|e| {
                    Failure::new(
                        FailureKind::Permanent,
                        format!("reading {}: {e}", src.display()),
                    )
                })?;
            let part = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(full)
                .upload_id(upload_id)
                .part_number(number)
                .content_length(length as i64)
                .body(body)
                .send()
                .await
                .map_err(|e| self.classify(&format!("uploading part {number} of {full}"), e))?;
            // No checksum algorithm was asked for at creation, so none is copied here.
            parts.push(
                CompletedPart::builder()
                    .part_number(number)
                    .set_e_tag(part.e_tag().map(str::to_string))
                    .build(),
            );
            offset += length;
            number += 1;
        }
        self.client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(full)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(parts))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| self.classify(&format!("completing the upload of {full}"), e))?;
        Ok(())
    }
}

/// The client, and the endpoint it talks to (for messages).
async fn client(s: &S3Settings) -> (Client, String) {
    let mut loader = aws_config::defaults(BehaviorVersion::latest());
    if let Some(region) = &s.region {
        loader = loader.region(Region::new(region.clone()));
    }
    if let Some(profile) = &s.profile {
        loader = loader.profile_name(profile);
    }
    if let Some((id, secret, token)) = &s.credentials {
        loader = loader.credentials_provider(Credentials::new(
            id,
            secret,
            token.clone(),
            None,
            "cairn-config-local",
        ));
    }
    if let Some(endpoint) = &s.endpoint_url {
        loader = loader.endpoint_url(endpoint);
    }
    let sdk = loader.load().await;
    let mut conf = aws_sdk_s3::config::Builder::from(&sdk)
        // cairn retries each transfer itself (transfer::with_retries), the same way for every
        // kind of remote; retrying inside the SDK too would multiply the wait on a dead server.
        .retry_config(RetryConfig::disabled())
        // Without these a server that accepts connections and never answers holds every
        // request (and the command) for many minutes.
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(s.timeouts.connect)
                .read_timeout(s.timeouts.read)
                .operation_attempt_timeout(s.timeouts.attempt())
                .build(),
        )
        // Streamed uploads otherwise go out as signed chunked bodies with a trailing CRC32,
        // which several S3-compatible servers reject.
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    if s.endpoint_url.is_some() || std::env::var_os("AWS_ENDPOINT_URL").is_some() {
        // S3-compatible servers on a plain host:port cannot do virtual-hosted buckets; AWS
        // itself prefers them, so path style is used only with a custom endpoint.
        conf = conf.force_path_style(true);
    }
    if sdk.region().is_none() {
        conf = conf.region(Region::new("us-east-1"));
    }
    let conf = conf.build();
    let endpoint = match s.endpoint_url.clone().or_else(|| {
        std::env::var("AWS_ENDPOINT_URL")
            .ok()
            .filter(|v| !v.is_empty())
    }) {
        Some(url) => url,
        None => format!(
            "AWS (region {})",
            conf.region().map_or("us-east-1", |r| r.as_ref())
        ),
    };
    (Client::from_conf(conf), endpoint)
}

impl S3Remote {
    /// The keys and the folders (common prefixes) directly under `prefix`, every page of them.
    fn list_level(&self, prefix: &str) -> RemoteResult<(Vec<String>, Vec<String>)> {
        let full_prefix = self.full_key(prefix);
        let strip = self.strip();
        let relative = |k: Option<&str>| k.and_then(|k| k.strip_prefix(&strip)).map(str::to_string);
        self.runtime.handle().block_on(async {
            let (mut keys, mut folders) = (Vec::new(), Vec::new());
            let mut pages = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(&full_prefix)
                // Keys below a listed prefix are flat; with a delimiter, file-backed servers
                // (s3s-fs) read one folder instead of walking the whole bucket.
                .delimiter("/")
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.map_err(|e| {
                    self.classify(&format!("listing s3://{}/{full_prefix}", self.bucket), e)
                })?;
                keys.extend(page.contents().iter().filter_map(|o| relative(o.key())));
                folders.extend(
                    page.common_prefixes()
                        .iter()
                        .filter_map(|f| relative(f.prefix())),
                );
            }
            Ok((keys, folders))
        })
    }

    /// Uploads one file; [`Remote::put`] and [`Remote::put_all`] drive it.
    async fn put_one(&self, key: &str, src: &Path) -> RemoteResult<()> {
        let full = self.full_key(key);
        let size = std::fs::metadata(src)
            .map_err(|e| Failure::new(FailureKind::Permanent, format!("{}: {e}", src.display())))?
            .len();
        let reading = |e: std::io::Error| {
            Failure::new(
                FailureKind::Permanent,
                format!("reading {}: {e}", src.display()),
            )
        };
        // A small file is read here, on the transfer thread, in one call: a file body would be
        // read through tokio's blocking pool, one hand-off per 64 KiB, which cost more CPU than
        // the server's own work per object on a 2-core machine. (It blocks the thread's other
        // uploads for as long as a read from the page cache takes.)
        let small = if size <= IN_MEMORY_LIMIT {
            Some(std::fs::read(src).map_err(reading)?)
        } else {
            None
        };
        if size >= MULTIPART_THRESHOLD {
            return self.put_multipart(&full, src, size).await;
        }
        match small {
            // The file may have changed since it was measured: send what was read.
            Some(bytes) => self.put_body(&full, bytes).await,
            None => {
                let body = ByteStream::from_path(src)
                    .await
                    .map_err(|e| reading(std::io::Error::other(e)))?;
                self.client
                    .put_object()
                    .bucket(&self.bucket)
                    .key(&full)
                    .content_length(size as i64)
                    .body(body)
                    .send()
                    .await
                    .map_err(|e| {
                        self.classify(&format!("uploading s3://{}/{full}", self.bucket), e)
                    })?;
                Ok(())
            }
        }
    }

    /// Uploads `bytes` from memory under the full key `full`.
    async fn put_body(&self, full: &str, bytes: Vec<u8>) -> RemoteResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(full)
            .content_length(bytes.len() as i64)
            .body(ByteStream::from(bytes))
            .customize()
            // An in-memory body would otherwise be SHA-256 signed, on both ends. File bodies
            // never are, and what arrives is checked against its BLAKE3 digest on pull.
            .disable_payload_signing()
            .send()
            .await
            .map_err(|e| self.classify(&format!("uploading s3://{}/{full}", self.bucket), e))?;
        Ok(())
    }
}

impl Remote for S3Remote {
    fn list(&self, prefix: &str) -> RemoteResult<Vec<String>> {
        self.list_level(prefix).map(|(keys, _)| keys)
    }

    fn folders(&self, prefix: &str) -> RemoteResult<Option<Vec<String>>> {
        self.list_level(prefix).map(|(_, folders)| Some(folders))
    }

    fn put(&self, key: &str, src: &Path) -> RemoteResult<()> {
        self.runtime.handle().block_on(self.put_one(key, src))
    }

    fn puts_per_thread(&self) -> usize {
        PUTS_PER_THREAD
    }

    fn put_all(&self, items: &[(&str, &Path)]) -> Vec<RemoteResult<()>> {
        let uploads = items.iter().map(|(key, src)| self.put_one(key, src));
        self.runtime
            .handle()
            .block_on(futures_util::future::join_all(uploads))
    }

    fn put_bytes(&self, key: &str, bytes: Vec<u8>) -> RemoteResult<()> {
        let full = self.full_key(key);
        self.runtime.handle().block_on(self.put_body(&full, bytes))
    }

    fn packs(&self) -> bool {
        true
    }

    fn get(&self, key: &str, out: &mut dyn Write) -> RemoteResult<()> {
        self.get_part(key, None, out).map(|_| ())
    }

    fn get_range(&self, key: &str, start: u64, end: u64, out: &mut dyn Write) -> RemoteResult<()> {
        if end <= start {
            return Ok(());
        }
        let got = self.get_part(key, Some(format!("bytes={start}-{}", end - 1)), out)?;
        if got < end - start {
            return Err(Failure::new(
                FailureKind::Transient,
                format!(
                    "downloading bytes {start}-{end} of s3://{}/{}: only {got} arrived",
                    self.bucket,
                    self.full_key(key)
                ),
            ));
        }
        Ok(())
    }
}

impl S3Remote {
    /// Streams object `key` (or the HTTP `range` of it) into `out`; returns the bytes written.
    fn get_part(&self, key: &str, range: Option<String>, out: &mut dyn Write) -> RemoteResult<u64> {
        let full = self.full_key(key);
        self.runtime.handle().block_on(async {
            let what = format!("downloading s3://{}/{full}", self.bucket);
            let reply = self
                .client
                .get_object()
                .bucket(&self.bucket)
                .key(&full)
                .set_range(range)
                .send()
                .await
                .map_err(|e| self.classify(&what, e))?;
            let local = |e: std::io::Error| {
                Failure::new(FailureKind::Permanent, format!("writing {full} here: {e}"))
            };
            // The body arrives in pieces of a few KiB: one write each would be a system call each.
            let mut out = std::io::BufWriter::with_capacity(256 << 10, out);
            let mut body = reply.body;
            let mut written = 0;
            loop {
                match body.try_next().await {
                    Ok(Some(chunk)) => {
                        out.write_all(&chunk).map_err(local)?;
                        written += chunk.len() as u64;
                    }
                    Ok(None) => return out.flush().map_err(local).map(|()| written),
                    Err(e) => {
                        return Err(Failure::new(FailureKind::Transient, format!("{what}: {e}")));
                    }
                }
            }
        })
    }
}

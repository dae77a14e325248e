//! The S3 server's own ceiling, for `bench/remote`: uploads every file of a folder under a
//! prefix (or downloads everything under a prefix into a folder) with many requests in flight
//! and nothing else to do — no hashing, no cache. Not part of cairn.
//!
//! Usage: s3_ceiling up|down ENDPOINT BUCKET PREFIX DIR [CONCURRENCY] [PACK_MIB]
//!
//! With PACK_MIB, `up` sends the files concatenated into objects of at least that many MiB
//! (in the order of a walk of DIR), the shape in which cairn sends small files to S3.
//! Credentials and region come from AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION.

use std::path::PathBuf;
use std::sync::Arc;

use aws_config::{BehaviorVersion, Region};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};
use aws_sdk_s3::primitives::ByteStream;
use tokio::io::AsyncWriteExt;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, endpoint, bucket, prefix, dir, rest @ ..] = args.as_slice() else {
        return Err("usage: s3_ceiling up|down ENDPOINT BUCKET PREFIX DIR [CONCURRENCY]".into());
    };
    let concurrency: usize = rest.first().map_or(Ok(32), |c| c.parse())?;
    let pack_bytes: usize = rest.get(1).map_or(Ok(0), |m| m.parse::<usize>())? << 20;
    let sdk = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .load()
        .await;
    let conf = aws_sdk_s3::config::Builder::from(&sdk)
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    let client = Client::from_conf(conf);
    let gate = Arc::new(Semaphore::new(concurrency));
    let mut tasks: JoinSet<Result<(), Error>> = JoinSet::new();
    let dir = PathBuf::from(dir);
    let start = std::time::Instant::now();
    let mut count = 0;
    if mode == "up" && pack_bytes > 0 {
        let mut files = walkdir::WalkDir::new(&dir)
            .into_iter()
            .filter(|e| e.as_ref().map_or(true, |e| e.file_type().is_file()));
        let mut more = true;
        while more {
            // Built only once an upload slot is free, so that at most CONCURRENCY bodies are held.
            let permit = gate.clone().acquire_owned().await?;
            let mut body = Vec::with_capacity(pack_bytes + (1 << 20));
            while body.len() < pack_bytes {
                match files.next() {
                    Some(entry) => body.extend(std::fs::read(entry?.path())?),
                    None => {
                        more = false;
                        break;
                    }
                }
            }
            if body.is_empty() {
                break;
            }
            let (client, bucket) = (client.clone(), bucket.clone());
            let key = format!("{prefix}/pack-{count}");
            count += 1;
            tasks.spawn(async move {
                let _permit = permit;
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(ByteStream::from(body))
                    .customize()
                    .disable_payload_signing()
                    .send()
                    .await?;
                Ok(())
            });
        }
    } else if mode == "up" {
        for entry in walkdir::WalkDir::new(&dir) {
            let entry = entry?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry
                .path()
                .strip_prefix(&dir)?
                .to_string_lossy()
                .into_owned();
            let (client, bucket, gate) = (client.clone(), bucket.clone(), gate.clone());
            let key = format!("{prefix}/{rel}");
            let path = entry.path().to_path_buf();
            count += 1;
            tasks.spawn(async move {
                let _permit = gate.acquire_owned().await?;
                // Read whole and sent unsigned, as cairn does for small files: the lightest
                // client leaves the most of a shared machine to the server.
                let body = ByteStream::from(tokio::fs::read(&path).await?);
                client
                    .put_object()
                    .bucket(bucket)
                    .key(key)
                    .body(body)
                    .customize()
                    .disable_payload_signing()
                    .send()
                    .await?;
                Ok(())
            });
        }
    } else {
        let mut pages = client
            .list_objects_v2()
            .bucket(bucket)
            .prefix(format!("{prefix}/"))
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for object in page?.contents() {
                let Some(key) = object.key().map(str::to_string) else {
                    continue;
                };
                let rel = key.trim_start_matches(&format!("{prefix}/")).to_string();
                let dest = dir.join(rel);
                let (client, bucket, gate) = (client.clone(), bucket.clone(), gate.clone());
                count += 1;
                tasks.spawn(async move {
                    let _permit = gate.acquire_owned().await?;
                    let mut body = client
                        .get_object()
                        .bucket(bucket)
                        .key(key)
                        .send()
                        .await?
                        .body;
                    if let Some(parent) = dest.parent() {
                        tokio::fs::create_dir_all(parent).await?;
                    }
                    let mut file = tokio::fs::File::create(&dest).await?;
                    while let Some(chunk) = body.try_next().await? {
                        file.write_all(&chunk).await?;
                    }
                    file.flush().await?;
                    Ok(())
                });
            }
        }
    }
    while let Some(done) = tasks.join_next().await {
        done??;
    }
    println!(
        "{mode} {count} objects in {:.3} s",
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

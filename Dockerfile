# syntax=docker/dockerfile:1
# cairn in a container: a static musl binary on distroless, serving a model on port 8080.
#
#   docker build -t cairn .                                   the image (this machine's architecture)
#   docker build --build-arg MODEL=path/to/model.json -t my-model .   bake another model file
#   docker build --target binary --output type=local,dest=dist .   only the static binary, into dist/
#   docker run -p 8080:8080 cairn                             serves the reference model baked in
#   docker run -p 8080:8080 -v "$PWD/models:/models:ro" cairn   serves your /models/model.json
#   docker run -p 8080:8080 -e AWS_ACCESS_KEY_ID -e AWS_SECRET_ACCESS_KEY \
#     -v "$PWD/.cairn/config.yaml:/workspace/.cairn/config.yaml:ro" \
#     cairn serve --host 0.0.0.0 --port 8080 --model models:/iris@production
#                                                             resolves the alias through the registry
#                                                             baked in, its bytes from the remote
#
# Listening beyond loopback, `POST /reload` is refused unless CAIRN_RELOAD_TOKEN is set: pass it
# from a secret (`-e CAIRN_RELOAD_TOKEN`, a Kubernetes Secret) to turn reloading on; without it
# the server serves and reloading stays off.

# ---- build: the binary, linked statically against musl (Alpine's own libc), and the
# reference model it makes with `cairn repro`.
FROM rust:1.95-alpine AS build
# The C parts (aws-lc, SQLite, mimalloc) build with Alpine's gcc against musl. Versions come from
# the Alpine release the pinned rust tag is built on.
# hadolint ignore=DL3018
RUN apk add --no-cache build-base cmake perl linux-headers
WORKDIR /src
COPY . .
# .git is not in the context: `cairn --version` names the commit given here
# (`--build-arg CAIRN_COMMIT=$(git rev-parse --short=9 HEAD)`).
ARG CAIRN_COMMIT=""
ENV CAIRN_COMMIT=${CAIRN_COMMIT}
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked \
    && cp target/release/cairn /usr/local/bin/cairn
# The reference pipeline, reproduced: models/model.json is what `select` picks (pipeline.lock
# pins its bytes, so it is the model the registry names). `--build-arg MODEL=PATH` bakes another
# model file of the build context instead.
ARG MODEL=models/model.json
RUN cairn repro >/dev/null \
    && mkdir -p /out/models /out/workspace/.cairn \
    && cp "$MODEL" /out/models/model.json \
    && cp cairn-registry.yaml /out/workspace/ \
    && cp .cairn/config.yaml /out/workspace/.cairn/config.yaml

# ---- binary: `--target binary --output type=local,dest=DIR` exports the static binary alone
# (the release workflow takes its Linux binaries from here).
FROM scratch AS binary
COPY --from=build /usr/local/bin/cairn /cairn

# ---- the image: distroless static (CA bundle, tzdata, /etc/passwd with nonroot 65532), no shell.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /usr/local/bin/cairn /usr/local/bin/cairn
# Runs without a libc at all: proof that the binary is static.
RUN ["cairn", "--version"]
COPY --from=build --chown=65532:65532 /out/models /models
COPY --from=build --chown=65532:65532 /out/workspace /workspace
# A registry reference (models:/NAME@ALIAS) resolves in this workspace: the registry file as it
# was at build time, the remote in .cairn/config.yaml (mount your own over it), the cache written
# under .cairn/ (an emptyDir in Kubernetes, where the root file system is read-only).
WORKDIR /workspace
ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080
# `cairn probe URL` exits 0 when URL answers 2xx: distroless has no curl or shell.
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["cairn", "probe", "http://127.0.0.1:8080/health"]
ENTRYPOINT ["cairn"]
CMD ["serve", "--host", "0.0.0.0", "--port", "8080", "--model", "/models/model.json"]

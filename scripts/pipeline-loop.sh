#!/usr/bin/env bash
# The ML loop that .github/workflows/pipeline.yml runs, one step per call, so the workflow has one
# line per step and `.ci/run` runs the very same steps locally, in order, against the S3 test server.
#
#   scripts/pipeline-loop.sh pull|repro|check|report|publish   one step, in the current workspace
#   scripts/pipeline-loop.sh local                             every step, in temporary clones, on moto
#
# Settings, from the workflow's env (all optional but the remote's):
#   CAIRN                  the binary (default: `cairn` on PATH)
#   CAIRN_REMOTE_URL       s3://bucket/prefix of the shared remote; empty means no remote (a pull
#                          request from a fork gets no secrets: it computes everything, reads nothing)
#   CAIRN_REMOTE_ENDPOINT  an S3-compatible endpoint (MinIO, moto, …); empty: AWS
#   AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION
#                          read by cairn's S3 client from the environment: never written to a file,
#                          never printed (the remote is configured in .cairn/config.local.yaml
#                          without them)
#   CAIRN_BASE_REV         report: the revision to diff metrics and params against (default HEAD)
#   CAIRN_REPORT           report: the Markdown file to write (default: in RUNNER_TEMP or TMPDIR)
#   CAIRN_PR_NUMBER        report: post the report as a comment on this pull request (needs gh, GH_TOKEN)
#   CAIRN_MODEL_NAME, CAIRN_MODEL_FILE   publish: what to register (default iris, models/model.json)
#   CAIRN_COMMIT_REGISTRY  publish: 1 commits and pushes cairn-registry.yaml when it changed
set -euo pipefail

# The steps in the order the workflow runs them (report on pull requests, publish on main only).
# tests/delivery.rs checks .github/workflows/pipeline.yml against this line.
STEPS=(pull repro check report publish)

CAIRN=${CAIRN:-cairn}
REMOTE=ci

warn() {
    # An annotation on GitHub, a plain line elsewhere.
    if [ "${GITHUB_ACTIONS:-}" = true ]; then echo "::warning::$*"; else echo "warning: $*" >&2; fi
}

# Adds the shared remote to .cairn/config.local.yaml (never committed) once; false when there is none.
configure_remote() {
    [ -n "${CAIRN_REMOTE_URL:-}" ] || return 1
    if ! "$CAIRN" remote list 2>/dev/null | grep -Eq "^[* ] $REMOTE "; then
        "$CAIRN" remote add "$REMOTE" "$CAIRN_REMOTE_URL" --default --local >/dev/null
        if [ -n "${CAIRN_REMOTE_ENDPOINT:-}" ]; then
            "$CAIRN" remote modify "$REMOTE" endpoint_url "$CAIRN_REMOTE_ENDPOINT" --local >/dev/null
        fi
    fi
}

step_pull() {
    if ! configure_remote; then
        echo "pull: no remote (CAIRN_REMOTE_URL is empty, as on a pull request from a fork): repro computes everything"
        return 0
    fi
    local rc=0
    "$CAIRN" pull --run-cache || rc=$?
    # Exit 1 is "some objects are not on the remote": outputs a pull request computed and never
    # pushed (only main pushes), or a remote that is still empty. repro --pull takes what is there
    # and computes the rest; a remote that cannot be reached fails it. Anything else is an error.
    if [ "$rc" = 1 ]; then
        warn "pull: not everything the lock names is on the remote; repro computes what is missing"
    elif [ "$rc" != 0 ]; then
        return "$rc"
    fi
}

step_repro() {
    if configure_remote; then "$CAIRN" repro --pull; else "$CAIRN" repro; fi
}

step_check() {
    "$CAIRN" status --check
    # What the pipeline gives must be what was committed, or a reviewer reads stale metrics.
    if ! git diff --quiet -- pipeline.lock; then
        git diff --stat -- pipeline.lock >&2
        echo "pipeline.lock changed on repro: run 'cairn repro' and commit pipeline.lock" >&2
        return 1
    fi
}

# `cairn metrics diff`/`params diff` as a Markdown table.
diff_md() {
    "$CAIRN" "$1" diff --md "$2"
}

step_report() {
    local base=${CAIRN_BASE_REV:-HEAD}
    local out=${CAIRN_REPORT:-${RUNNER_TEMP:-${TMPDIR:-/tmp}}/cairn-report.md}
    {
        echo "### cairn: metrics and params against \`$(git rev-parse --short "$base")\`"
        echo
        echo "#### Metrics"
        echo
        diff_md metrics "$base"
        echo
        echo "#### Params"
        echo
        diff_md params "$base"
    } >"$out"
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then cat "$out" >>"$GITHUB_STEP_SUMMARY"; fi
    if [ -n "${CAIRN_PR_NUMBER:-}" ]; then
        # One comment per pull request, edited on each run rather than a new one per push.
        gh pr comment "$CAIRN_PR_NUMBER" --body-file "$out" --edit-last --create-if-none >/dev/null
    fi
}

step_publish() {
    # Only trusted runs write to the shared remote and run-cache (cache poisoning): on GitHub
    # that is a push to main. The workflow guards the job too; this is the second lock.
    if [ "${GITHUB_ACTIONS:-}" = true ] &&
        { [ "${GITHUB_EVENT_NAME:-}" != push ] || [ "${GITHUB_REF:-}" != refs/heads/main ]; }; then
        echo "publish runs only on a push to main, not on ${GITHUB_EVENT_NAME:-?} ${GITHUB_REF:-?}" >&2
        return 1
    fi
    configure_remote || { echo "publish: CAIRN_REMOTE_URL is empty" >&2; return 1; }
    local name=${CAIRN_MODEL_NAME:-iris} file=${CAIRN_MODEL_FILE:-models/model.json}
    # The outs and the run-cache first, so production never names bytes the remote lacks.
    "$CAIRN" push --run-cache
    local version promoted=false
    version=$("$CAIRN" models register "$file" --name "$name" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
    local rc=0
    "$CAIRN" models compare "models:/$name/$version" --against "models:/$name@production" \
        --promote production || rc=$?
    case $rc in
        0) promoted=true ;;
        1) echo "production stays: models:/$name/$version does not beat it" ;;
        *) return "$rc" ;;
    esac
    # Again, for what registering added to the cache (the version's lock entry).
    "$CAIRN" push >/dev/null
    local production
    production=$("$CAIRN" models show "models:/$name@production" --json |
        python3 -c 'import json,sys; print(json.load(sys.stdin)["version"])')
    # status, not diff: the first registration makes a file git does not track yet.
    if [ "${CAIRN_COMMIT_REGISTRY:-}" = 1 ] && [ -n "$(git status --porcelain -- cairn-registry.yaml)" ]; then
        git add cairn-registry.yaml
        git -c user.name=github-actions -c user.email=github-actions@users.noreply.github.com \
            commit -q -m "registry: models:/$name/$version (production: $production) [skip ci]"
        git push -q origin HEAD
    fi
    # The image of production: its tag, and the commit whose registry names it.
    {
        echo "model_version=models:/$name/$version"
        echo "promoted=$promoted"
        echo "image_tag=$name-$production"
        echo "commit=$(git rev-parse HEAD)"
    } | tee -a "${GITHUB_OUTPUT:-/dev/null}"
    if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
        echo "models:/$name/$version registered; production is models:/$name/$production (image tag \`$name-$production\`)" >>"$GITHUB_STEP_SUMMARY"
    fi
}

# ---------------------------------------------------------------------------------------- local

# `local`: the workflow's two runs, each step in STEPS order, in throwaway clones of this
# repository against moto: a push to main on an empty remote (pull repro check publish: the first
# model registered, promoted, the registry committed and pushed), then a pull request that changes
# a param (pull repro check report), whose report must show it, which must leave the remote as it
# was and be refused publish. The real workspace, its lock and its cache are never touched.
local_run() {
    local repo tmp port moto log pid
    repo=$(git -C "$(dirname "$0")" rev-parse --show-toplevel)
    CAIRN=$(realpath "${CAIRN_BIN:-$repo/target/debug/cairn}")
    export CAIRN
    tmp=$(mktemp -d)
    log=$tmp/log
    moto=$("$repo/scripts/s3-test-server.sh")
    port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
    "$moto" -H 127.0.0.1 -p "$port" >"$tmp/moto.log" 2>&1 &
    pid=$!
    # shellcheck disable=SC2064 # expand now: the values are local
    trap "kill $pid 2>/dev/null || true; rm -rf '$tmp'" EXIT
    local url=http://127.0.0.1:$port bucket=pipeline-loop
    for _ in $(seq 100); do curl -sf -o /dev/null "$url/" && break; sleep 0.1; done
    # moto checks no signature but keys ownership on the access key the header names.
    local auth='Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00'
    curl -sf -o /dev/null -X PUT -H "$auth" "$url/$bucket"
    listing() { curl -sf -H "$auth" "$url/$bucket?list-type=2"; }

    # Explicit test credentials, never the user's AWS files; the GitHub variables of a run.
    export CAIRN_REMOTE_URL=s3://$bucket/cairn CAIRN_REMOTE_ENDPOINT=$url
    export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1
    export AWS_EC2_METADATA_DISABLED=true AWS_CONFIG_FILE=/nonexistent AWS_SHARED_CREDENTIALS_FILE=/nonexistent
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL CAIRN_PR_NUMBER CAIRN_COMMIT_REGISTRY CAIRN_REPORT
    export GITHUB_ACTIONS=true GITHUB_OUTPUT=$tmp/output GITHUB_STEP_SUMMARY=$tmp/summary RUNNER_TEMP=$tmp
    run() { # DIR STEP: one step as the workflow runs it, its output kept for a failure
        (cd "$1" && "$repo/scripts/pipeline-loop.sh" "$2") >>"$log" 2>&1 ||
            { cat "$log" >&2; echo "pipeline-loop local: step '$2' failed in $1" >&2; return 1; }
    }

    # The team's repository: a bare copy of this one without its registry, as a project looks
    # before its first model, so publish registers, promotes and pushes the registry commit.
    git clone -q --bare "$repo" "$tmp/origin.git"
    git clone -q "$tmp/origin.git" "$tmp/setup"
    (
        cd "$tmp/setup"
        git rm -q cairn-registry.yaml
        git -c user.name=ci -c user.email=ci@localhost commit -q -m "no registry yet"
        git push -q origin HEAD
    )
    local base

    # 1. A push to main, on an empty remote: computes everything and publishes it.
    git clone -q "$tmp/origin.git" "$tmp/main"
    export GITHUB_EVENT_NAME=push GITHUB_REF=refs/heads/main CAIRN_COMMIT_REGISTRY=1
    local s
    for s in "${STEPS[@]}"; do [ "$s" = report ] || run "$tmp/main" "$s"; done
    unset CAIRN_COMMIT_REGISTRY
    if ! grep -q '^promoted=true$' "$GITHUB_OUTPUT" || ! grep -q '^image_tag=iris-1$' "$GITHUB_OUTPUT"; then
        cat "$log" "$GITHUB_OUTPUT" >&2
        echo "pipeline-loop local: publish did not promote models:/iris/1" >&2
        return 1
    fi
    git -C "$tmp/origin.git" show HEAD:cairn-registry.yaml | grep -q 'production: 1' ||
        { echo "pipeline-loop local: publish did not push the registry commit" >&2; return 1; }
    base=$(git -C "$tmp/origin.git" rev-parse HEAD)

    # 2. A pull request: its author changes a param, runs repro and commits; CI clones that.
    git clone -q "$tmp/origin.git" "$tmp/author"
    (
        cd "$tmp/author"
        sed -i 's/^      max_depth: 5$/      max_depth: 2/' params.yaml
        "$CAIRN" repro >>"$log" 2>&1
        git add -A params.yaml pipeline.lock metrics metrics.json
        git -c user.name=ci -c user.email=ci@localhost commit -q -m "shallower tree"
    )
    git clone -q "$tmp/author" "$tmp/pr"
    export GITHUB_EVENT_NAME=pull_request GITHUB_REF=refs/pull/1/merge CAIRN_BASE_REV=$base
    local before
    before=$(listing)
    for s in "${STEPS[@]}"; do [ "$s" = publish ] || run "$tmp/pr" "$s"; done
    grep -q 'max_depth' "$GITHUB_STEP_SUMMARY" ||
        { cat "$log" "$GITHUB_STEP_SUMMARY" >&2; echo "pipeline-loop local: the report lacks the changed param" >&2; return 1; }
    if (cd "$tmp/pr" && "$repo/scripts/pipeline-loop.sh" publish) >>"$log" 2>&1; then
        echo "pipeline-loop local: publish ran on a pull request" >&2
        return 1
    fi
    [ "$(listing)" = "$before" ] ||
        { echo "pipeline-loop local: the pull request changed the shared remote" >&2; return 1; }
    # CAIRN_LOOP_LOG=FILE keeps what the steps said.
    if [ -n "${CAIRN_LOOP_LOG:-}" ]; then cat "$log" "$GITHUB_STEP_SUMMARY" "$GITHUB_OUTPUT" >"$CAIRN_LOOP_LOG"; fi
}

case ${1:-} in
    local) local_run ;;
    pull | repro | check | report | publish) "step_$1" ;;
    *)
        (IFS='|'; echo "usage: $0 ${STEPS[*]}|local" >&2)
        exit 2
        ;;
esac

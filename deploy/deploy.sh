#!/usr/bin/env bash
# KaizenLap on Google Cloud: one Cloud Run service (API + web app) over Firestore, one Cloud Run job
# (the pipeline) reading the TRD files from a Cloud Storage bucket. README: "Deploy to Google Cloud".
#
#   deploy/deploy.sh [--dry-run] STEP...      STEP: apis setup indexes upload build job execute service all
#
# --dry-run (or DRY_RUN=1) prints every command, one per line prefixed "+ ", and runs none. Settings (the
# environment; defaults in brackets):
#   GOOGLE_CLOUD_PROJECT  (required) the project            REGION [us-central1]
#   FIRESTORE_PROJECT_ID  [GOOGLE_CLOUD_PROJECT]            FIRESTORE_DATABASE [(default)]
#   GCS_BUCKET_NAME       [GOOGLE_CLOUD_PROJECT-trd]        GCS_PREFIX [trd]
#   DATA                  local folder for `upload` [data/sample]
#   SERVICE [kaizenlap]   JOB [kaizenlap-pipeline]          REPOSITORY [kaizenlap] (Artifact Registry)
#   TAG [git short hash, else latest]                       KAIZENLAP_LLM [off]
# Steps are idempotent: what already exists (an API, an account, a bucket, an index) is left as it is.
set -euo pipefail
cd "$(dirname "$0")/.."

DRY_RUN=${DRY_RUN:-0}
STEPS=()
for a in "$@"; do
  case "$a" in
    --dry-run) DRY_RUN=1 ;;
    -h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    apis|setup|indexes|upload|build|job|execute|service|all) STEPS+=("$a") ;;
    *) echo "deploy.sh: unknown step or option '$a' (steps: apis setup indexes upload build job execute service all)" >&2; exit 2 ;;
  esac
done
[ ${#STEPS[@]} -gt 0 ] || { echo "deploy.sh: name a step (or all); --help lists them" >&2; exit 2; }
[ -n "${GOOGLE_CLOUD_PROJECT:-}" ] || { echo "deploy.sh: GOOGLE_CLOUD_PROJECT is required (the project id)" >&2; exit 2; }

PROJECT=$GOOGLE_CLOUD_PROJECT
REGION=${REGION:-us-central1}
FS_PROJECT=${FIRESTORE_PROJECT_ID:-$PROJECT}
DATABASE=${FIRESTORE_DATABASE:-(default)}
BUCKET=${GCS_BUCKET_NAME:-$PROJECT-trd}
PREFIX=${GCS_PREFIX-trd}
PREFIX=${PREFIX#/}; PREFIX=${PREFIX%/}
DATA=${DATA:-data/sample}
SERVICE=${SERVICE:-kaizenlap}
JOB=${JOB:-kaizenlap-pipeline}
REPOSITORY=${REPOSITORY:-kaizenlap}
TAG=${TAG:-$(git rev-parse --short HEAD 2>/dev/null || echo latest)}
LLM=${KAIZENLAP_LLM:-off}
IMAGE="$REGION-docker.pkg.dev/$PROJECT/$REPOSITORY/kaizenlap:$TAG"
SERVICE_SA="kaizenlap-api@$PROJECT.iam.gserviceaccount.com"
JOB_SA="kaizenlap-pipeline@$PROJECT.iam.gserviceaccount.com"
case "$BUCKET" in gs://*) echo "deploy.sh: GCS_BUCKET_NAME is the bucket's name, without gs://" >&2; exit 2 ;; esac
[ "$FS_PROJECT" = "$PROJECT" ] || echo "deploy.sh: note: Firestore in project $FS_PROJECT, Cloud Run in $PROJECT" >&2

# A word as the shell reads it back: bare when safe, else single-quoted.
quote() {
  if [[ $1 =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then printf '%s' "$1"
  else printf "'%s'" "${1//\'/\'\\\'\'}"; fi
}
# One command: printed ("+ " and the words, ready to paste); run unless --dry-run.
show() { printf '+'; local w; for w in "$@"; do printf ' '; quote "$w"; done; printf '\n'; }
run() {
  show "$@"
  [ "$DRY_RUN" = 1 ] || "$@"
}
# The same, where "already exists" is success (so every step can be run again).
run_idempotent() {
  show "$@"
  [ "$DRY_RUN" = 1 ] && return 0
  local out
  if ! out=$("$@" 2>&1); then
    if grep -qiE 'already exists|ALREADY_EXISTS|409' <<<"$out"; then echo "  (already there)"; return 0; fi
    echo "$out" >&2; return 1
  fi
  [ -z "$out" ] || echo "$out"
}

env_common="USE_LOCAL_FILES=false,GOOGLE_CLOUD_PROJECT=$PROJECT,FIRESTORE_PROJECT_ID=$FS_PROJECT,FIRESTORE_DATABASE=$DATABASE"

step_apis() {
  run gcloud services enable run.googleapis.com firestore.googleapis.com storage.googleapis.com \
    cloudbuild.googleapis.com artifactregistry.googleapis.com iam.googleapis.com --project="$PROJECT"
}

step_setup() {
  # Firestore (native mode), the bucket, the image repository, and two service accounts with the least
  # they need: the service reads Firestore; the job reads the bucket (that bucket only) and writes Firestore.
  run_idempotent gcloud firestore databases create --database="$DATABASE" --location="$REGION" \
    --type=firestore-native --project="$FS_PROJECT"
  run_idempotent gcloud storage buckets create "gs://$BUCKET" --location="$REGION" \
    --uniform-bucket-level-access --public-access-prevention --project="$PROJECT"
  run_idempotent gcloud artifacts repositories create "$REPOSITORY" --repository-format=docker \
    --location="$REGION" --project="$PROJECT"
  run_idempotent gcloud iam service-accounts create kaizenlap-api \
    --display-name="KaizenLap API (reads Firestore)" --project="$PROJECT"
  run_idempotent gcloud iam service-accounts create kaizenlap-pipeline \
    --display-name="KaizenLap pipeline (reads the TRD bucket, writes Firestore)" --project="$PROJECT"
  run gcloud projects add-iam-policy-binding "$FS_PROJECT" --member="serviceAccount:$SERVICE_SA" \
    --role=roles/datastore.viewer --condition=None
  run gcloud projects add-iam-policy-binding "$FS_PROJECT" --member="serviceAccount:$JOB_SA" \
    --role=roles/datastore.user --condition=None
  run gcloud storage buckets add-iam-policy-binding "gs://$BUCKET" --member="serviceAccount:$JOB_SA" \
    --role=roles/storage.objectViewer
}

step_indexes() {
  # One `gcloud firestore indexes composite create` per index of firestore.indexes.json (--async: they
  # build in the background; `gcloud firestore indexes composite list` shows their state).
  local line
  while IFS= read -r line; do
    eval "run_idempotent gcloud firestore indexes composite create $line --database=$(printf %q "$DATABASE") \
      --project=$(printf %q "$FS_PROJECT") --async"
  done < <(python3 - firestore.indexes.json <<'PY'
import json, shlex, sys
for ix in json.load(open(sys.argv[1]))["indexes"]:
    args = [f"--collection-group={ix['collectionGroup']}", f"--query-scope={ix.get('queryScope', 'COLLECTION')}"]
    for f in ix["fields"]:
        kind = f"order={f['order'].lower()}" if "order" in f else f"array-config={f['arrayConfig'].lower()}"
        args.append(f"--field-config=field-path={f['fieldPath']},{kind}")
    print(" ".join(shlex.quote(a) for a in args))
PY
  )
}

step_upload() {
  # The official files (folders or zips, as downloaded) under gs://BUCKET/PREFIX, same layout.
  [ "$DRY_RUN" = 1 ] || [ -d "$DATA" ] || { echo "deploy.sh: DATA=$DATA is not a folder" >&2; exit 2; }
  run gcloud storage rsync --recursive "$DATA" "gs://$BUCKET${PREFIX:+/$PREFIX}" --project="$PROJECT"
}

step_build() {
  # Cloud Build builds the Dockerfile (no local Docker needed) and pushes to Artifact Registry.
  run gcloud builds submit --tag="$IMAGE" --project="$PROJECT" --region="$REGION" .
}

step_job() {
  run gcloud run jobs deploy "$JOB" --image="$IMAGE" --region="$REGION" --project="$PROJECT" \
    --service-account="$JOB_SA" --command=kaizenlap --args=run,--no-reports \
    --set-env-vars="$env_common,GCS_BUCKET_NAME=$BUCKET,GCS_PREFIX=$PREFIX,KAIZENLAP_LLM=$LLM" \
    --tasks=1 --max-retries=0 --task-timeout=3600s --cpu=4 --memory=8Gi
}

step_execute() {
  run gcloud run jobs execute "$JOB" --region="$REGION" --project="$PROJECT" --wait
}

step_service() {
  run gcloud run deploy "$SERVICE" --image="$IMAGE" --region="$REGION" --project="$PROJECT" \
    --service-account="$SERVICE_SA" --allow-unauthenticated --port=8080 \
    --set-env-vars="$env_common,KAIZENLAP_LLM=$LLM" \
    --cpu=1 --memory=1Gi --min-instances=0 --max-instances=4 --concurrency=80 --timeout=60s
  run gcloud run services describe "$SERVICE" --region="$REGION" --project="$PROJECT" --format='value(status.url)'
}

for s in "${STEPS[@]}"; do
  if [ "$s" = all ]; then
    for t in apis setup indexes upload build job execute service; do "step_$t"; done
  else
    "step_$s"
  fi
done

#!/usr/bin/env bash
# Runs one notebook of the study inside a SageMaker Processing job (runner/backends/sagemaker/).
#
#   entrypoint.sh <notebook file name in input/code, e.g. cnn.ipynb>
#
# Inputs under $STUDY_PROCESSING_DIR (default /opt/ml/processing, as SageMaker mounts them):
#   input/code/     entrypoint.sh, <notebook>.ipynb, analysis.tar.gz (the library),
#                   requirements.txt (optional: hash-locked packages the image lacks)
#   input/params/   params.json (the notebook's parameters)
#   input/data/     the MSL data set
# Output: output/<notebook>.ipynb (the executed copy), output/run.log (Papermill's log) and
# whatever the notebook writes into its output_dir (metrics.json, figures/, predictions.npz);
# SageMaker uploads output/ to S3 as files are written (continuous mode).
#
# The job fails when the notebook fails: any error exits non-zero, and the reason goes to
# /opt/ml/output/message, which SageMaker reports as the job's ExitMessage.
#
# Environment: STUDY_KERNEL (default python3), STUDY_PYTHON (default python3),
# STUDY_PIP_INSTALL (0 skips requirements.txt), CACHE_DIR, STUDY_WORK_DIR, STUDY_MESSAGE_FILE.
set -euo pipefail

base="${STUDY_PROCESSING_DIR:-/opt/ml/processing}"
notebook="${1:?usage: entrypoint.sh <notebook file name in input/code, e.g. cnn.ipynb>}"
code="$base/input/code"
params="$base/input/params/params.json"
data="$base/input/data"
out="$base/output"
kernel="${STUDY_KERNEL:-python3}"
python="${STUDY_PYTHON:-python3}"
message_file="${STUDY_MESSAGE_FILE:-$(dirname "$base")/output/message}"

# The job's ExitMessage: SageMaker keeps 1 KB of it and fails the job with a ClientError, hiding
# the reason, if the text is not valid UTF-8, so it is cut between characters, never inside one.
# Never fails the script itself; without Python, only its ASCII characters are kept.
message() {
  mkdir -p "$(dirname "$message_file")" 2>/dev/null || true
  printf '%s\n' "$1" | PYTHONIOENCODING=utf-8 "$python" -c '
import sys
text = sys.stdin.buffer.read().decode("utf-8", "replace")
sys.stdout.buffer.write(text.encode("utf-8")[:1000].decode("utf-8", "ignore").encode("utf-8"))
' >"$message_file" 2>/dev/null || {
    local ascii
    ascii="$(printf '%s' "$1" | LC_ALL=C tr -cd '\11\12\15\40-\176')"
    printf '%s\n' "${ascii:0:1000}" >"$message_file" 2>/dev/null || true
  }
  echo "entrypoint: $1" >&2
}
trap 'message "entrypoint failed (exit $?) at line $LINENO: $BASH_COMMAND"' ERR

for required in "$code/$notebook" "$code/analysis.tar.gz" "$params" "$data"; do
  [[ -e "$required" ]] || { message "missing input: $required"; exit 2; }
done

work="${STUDY_WORK_DIR:-$(mktemp -d)}"
mkdir -p "$work" "$out"
tar -xzf "$code/analysis.tar.gz" -C "$work"
if [[ -f "$code/requirements.txt" && "${STUDY_PIP_INSTALL:-1}" != 0 ]]; then
  # Every package and dependency pinned with its SHA-256 (container/requirements.lock): pip
  # refuses any file whose bytes differ, resolves nothing and builds nothing.
  echo "entrypoint: installing $(grep -c '^[^#]' "$code/requirements.txt") hash-locked packages"
  PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore \
    "$python" -m pip install --quiet --no-cache-dir --require-hashes --no-deps \
    --only-binary :all: -r "$code/requirements.txt"
fi

export PYTHONPATH="$work${PYTHONPATH:+:$PYTHONPATH}"
export CACHE_DIR="${CACHE_DIR:-$work/cache}"
export MPLBACKEND="${MPLBACKEND:-Agg}"
if [[ -n "${STUDY_INSTANCE_TYPE:-}" && -z "${STUDY_MACHINE:-}" ]]; then
  gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -n 1 || true)"
  export STUDY_MACHINE="SageMaker $STUDY_INSTANCE_TYPE, $(nproc) cores${gpu:+, $gpu}"
fi

executed="$out/$notebook"
echo "entrypoint: papermill $notebook -> $executed (kernel $kernel)"
status=0
# The full log also goes into the output as run.log, beside the executed notebook, as a local
# run leaves it; the output is uploaded continuously, so it reaches S3 when the job fails too.
"$python" -m papermill "$code/$notebook" "$executed" \
  -f "$params" -r data_dir "$data" -r output_dir "$out" \
  -k "$kernel" --cwd "$work" --log-output --no-progress-bar 2>&1 | tee "$out/run.log" || status=$?

if ((status != 0)); then
  # The first error the executed notebook recorded, for the job's ExitMessage.
  reason="$(PYTHONIOENCODING=utf-8 "$python" - "$executed" <<'PY' || true
import json
import sys

try:
    cells = json.load(open(sys.argv[1], encoding="utf-8")).get("cells", [])
except (OSError, ValueError):
    sys.exit(0)
for i, cell in enumerate(cells):
    for output in cell.get("outputs", []):
        if output.get("output_type") == "error":
            print(f"cell {i}: {output.get('ename')}: {output.get('evalue')}")
            sys.exit(0)
PY
)"
  message "notebook $notebook failed (papermill exit $status)${reason:+: $reason}"
  exit "$status"
fi
echo "entrypoint: done: $(find "$out" -type f | wc -l) files in $out"

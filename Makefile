# atom: the commands a user and CI run. Everything installs into .venv on first use.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install train test lint bench demo clean

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install "$(TORCH_SPEC)"
	$(BIN)/pip install -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

train: $(STAMP)
	WANDB_MODE=$${WANDB_MODE:-offline} $(BIN)/python -m atom.train $(ARGS)

lint: $(STAMP)
	$(BIN)/ruff check atom tests bench

# one OpenMP thread: the suite is many small tensors, where a second thread costs more than it gives
test: $(STAMP) lint
	OMP_NUM_THREADS=$${OMP_NUM_THREADS:-1} WANDB_MODE=offline HF_HUB_OFFLINE=1 $(BIN)/python -m pytest $(PYTEST_ARGS)

# the Gradio demo on http://127.0.0.1:7860, on the newest toy64 checkpoint (or CKPT=<checkpoint or run dir>)
CKPT ?= $(lastword $(sort $(wildcard outputs/toy64/*/checkpoints/step_*)))
demo: $(STAMP)
	@if [ -z "$(CKPT)" ]; then \
		echo "make demo: no toy64 checkpoint under outputs/toy64/; train one with 'make train' (about 25 min on"; \
		echo "2 CPU cores) or pass CKPT=<checkpoint or run dir>"; exit 2; fi
	$(BIN)/python -m atom.app ckpt=$(CKPT) $(ARGS)

bench: $(STAMP)
	for b in bench/bench_*.py; do $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache

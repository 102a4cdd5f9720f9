# rt developer tasks. `make test` and `make demo` work on a bare Debian machine: they install
# what they need (apt packages, a venv) and start/stop the sound server the tests use.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
APT_PKGS := libportaudio2 libspeexdsp1 pulseaudio pulseaudio-utils alsa-utils libasound2-plugins espeak-ng sox tmux

.PHONY: help install system-deps test bench lint typecheck demo sound-up sound-down clean

help:
	@echo "make demo       a full spoken exchange with rt serve, offline (no mic, no key)"
	@echo "make test       install everything needed and run the test suite"
	@echo "make bench      print the performance table"
	@echo "make bench-echo the long real-device echo runs (about 2.5 h)"
	@echo "make soak-devices  the device tests 10 times in a row with a core kept busy"
	@echo "make lint | typecheck | sound-up | sound-down | install | clean"

system-deps:
	@bash scripts/system-deps.sh $(APT_PKGS)

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@$(BIN)/python -m pip install -q --upgrade pip
	@$(BIN)/python -m pip install -q -e '.[test]'
	@touch $(STAMP)

install: system-deps $(STAMP)

test: install
	@bash scripts/run-tests.sh

bench: install
	@bash scripts/with-sound.sh $(BIN)/python scripts/bench.py

lint: $(STAMP)
	$(BIN)/ruff check realtime_cli tests scripts

typecheck: $(STAMP)
	$(BIN)/mypy

demo: install
	@$(BIN)/python scripts/demo.py

sound-up:
	@bash scripts/sound-server.sh up

sound-down:
	@bash scripts/sound-server.sh down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info

.PHONY: bench-echo
bench-echo: install  ## the long real-device runs: 300 echo turns per canceller (about 2.5 h), 10 min of playback
	@bash scripts/with-sound.sh $(BIN)/python scripts/bench_echo.py --long
	@bash scripts/with-sound.sh $(BIN)/python scripts/bench_audio.py --long-playback

.PHONY: soak-devices
soak-devices: install  ## the device and terminal tests 10 times in a row with one core kept busy
	@bash scripts/soak-devices.sh 10

# camnet — two commands matter: `make demo` and `make test` (see README.md).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
APT_PACKAGES := ffmpeg gstreamer1.0-tools gstreamer1.0-rtsp gir1.2-gst-rtsp-server-1.0 \
                python3-gi gstreamer1.0-plugins-base gstreamer1.0-plugins-good \
                gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly \
                mosquitto postgresql chromium chromium-driver fonts-dejavu-core
# Checkers only, without what they recommend (docker-compose would pull a Docker engine).
APT_CHECKERS := docker-compose shellcheck

.PHONY: demo test lint typecheck pytest bench system-deps promtool venv clean

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

# Debian packages the tests talk to (real RTSP peers). Installed only when root and missing.
system-deps:
	@missing=""; for p in $(APT_PACKAGES); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "Cài gói Debian / installing Debian packages:$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else echo "Thiếu gói / missing packages (tests needing them are skipped):$$missing"; fi; \
	fi
	@missing=""; for p in $(APT_CHECKERS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ] && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi

# Prometheus' promtool checks deploy/prometheus and the dashboards' queries. Unpacked from
# Debian's package into the venv: installing the package would also start a Prometheus.
promtool: venv
	@if ! command -v promtool >/dev/null && [ ! -x $(BIN)/promtool ] && command -v apt-get >/dev/null; then \
	  tmp=$$(mktemp -d) && (cd $$tmp && apt-get download -qq prometheus >/dev/null 2>&1 \
	    && dpkg-deb -x prometheus_*.deb root && cp root/usr/bin/promtool $(CURDIR)/$(BIN)/) \
	    || echo "promtool: không tải được / could not fetch (its tests are skipped)"; rm -rf $$tmp; \
	fi

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy

pytest: venv system-deps promtool
	$(BIN)/pytest

test: system-deps venv lint typecheck pytest

demo: venv
	$(BIN)/camnet demo

bench: venv system-deps
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache .pytest_cache

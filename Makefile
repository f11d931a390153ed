# kilowatch: `make demo` runs the live demo, `make test` runs everything CI runs.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
KW := $(BIN)/kilowatch
# Every install takes its versions from the lock (`make lock` refreshes it; docs/deployment.md).
LOCK := requirements/constraints.txt
# make test / CI: everything, torch included (deep). make demo: no deep-learning stack (api + LightGBM).
EXTRAS := dev,ml,deep,api,eval,s3
DEMO_EXTRAS := api,ml
HASH := $(shell cat pyproject.toml $(LOCK) | md5sum | cut -c1-12)
STAMP := $(VENV)/.installed-$(HASH)
DEMO_STAMP := $(VENV)/.installed-demo-$(HASH)
KAFKA4_VERSION ?= 4.1.1
# Kafka 4.x runs on its own ports and state folder so it never meets the 3.9 broker.
KAFKA4_ENV := KILOWATCH_KAFKA_VERSION=$(KAFKA4_VERSION) KILOWATCH_KAFKA_BOOTSTRAP=127.0.0.1:19192 \
	KILOWATCH_KAFKA_CONTROLLER_PORT=19193 KILOWATCH_STATE_DIR=.state/kafka4 \
	KILOWATCH_POSTGRES_PORT=15433 KILOWATCH_REDIS_PORT=16380

.PHONY: help venv demo-venv lock lint typecheck schemas unit integration test test-kafka4 bench demo infra-up infra-down \
	infra-status clean promtool compose-check api api-fuzz cjk-font console console-check chromium browser

help:
	@echo "make demo   - set up everything and run the live anomaly demo (Ctrl-C stops it)"
	@echo "make test   - lint, types, schemas, unit and integration tests on real Kafka/PostgreSQL/Redis"
	@echo "make bench  - throughput / latency / state-size benchmarks -> bench/results/"

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -c $(LOCK) -e '.[$(EXTRAS)]'
	@rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP)

# The demo's install: a full venv (make test's) serves too; otherwise only api + ml (1 GB, no torch).
demo-venv:
	@if [ ! -e $(STAMP) ] && [ ! -e $(DEMO_STAMP) ]; then \
		set -e; test -x $(BIN)/python || $(PY) -m venv $(VENV); \
		$(BIN)/pip install -q --upgrade pip; \
		$(BIN)/pip install -q -c $(LOCK) -e '.[$(DEMO_EXTRAS)]'; \
		rm -f $(VENV)/.installed-*; touch $(DEMO_STAMP); fi

# Re-resolve requirements/constraints.txt after a dependency change in pyproject.toml (scripts/lock).
lock:
	PY=$(if $(wildcard $(BIN)/python),$(BIN)/python,$(PY)) scripts/lock

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports  # layers and forbidden imports: .importlinter

typecheck: venv
	$(BIN)/mypy

schemas: venv
	$(KW) schemas export --check

unit: venv cjk-font
	$(BIN)/pytest -q tests/unit tests/contract

# Starts the services it needs and stops only those it started (scripts/with-infra).
integration: venv cjk-font
	scripts/with-infra bash -c '$(KW) db upgrade && $(BIN)/pytest -q tests/integration'

test: lint typecheck schemas promtool compose-check unit integration api-fuzz test-kafka4 console-check browser

# Schemathesis over the OpenAPI spec of a real `kilowatch api` server: no 5xx, no response off its schema.
api-fuzz: venv
	scripts/with-infra bash -c '$(KW) db upgrade && scripts/api-fuzz'

# The REST API on loopback (create a key first: `.venv/bin/kilowatch create-api-key me --scope admin`).
api: venv
	scripts/with-infra bash -c '$(KW) db upgrade && $(KW) api'

# The faust app test suite on Kafka 4.x (tables, changelog, recovery, rebalancing).
test-kafka4: venv
	$(KAFKA4_ENV) scripts/with-infra bash -c '$(KW) db upgrade && $(BIN)/pytest -q tests/integration -m kafka4'

# Prometheus config, alert rules and their unit tests (promtool from the Debian package `prometheus`).
promtool: venv
	@command -v promtool >/dev/null || $(BIN)/python -c "from stream_app.devtools.infra import procs; \
		procs.apt_install('prometheus', why='promtool checks deploy/prometheus')"
	promtool check config deploy/prometheus/prometheus.yml
	promtool check rules deploy/prometheus/rules/*.yml
	cd deploy/prometheus/tests && promtool test rules *.yml

# The CJK font zh-CN reports render with (stream_app/analytics/reports/fonts.py finds it by path).
cjk-font: venv
	@test -e /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc || $(BIN)/python -c "from stream_app.devtools.infra import procs; \
		procs.apt_install('fonts-wqy-zenhei', why='zh-CN reports need a CJK font')"

# docker-compose.kafka.yml: `docker-compose config` (v1, Debian package `docker-compose`; no engine needed).
compose-check: venv
	scripts/check-compose

bench: venv
	scripts/with-infra bash -c '$(KW) db upgrade && $(BIN)/python -m bench.run && $(BIN)/python -m bench.training_overlap \
		&& $(BIN)/python -m bench.api_inference && $(BIN)/python -m bench.api_ingest \
		&& $(BIN)/python -m bench.stream_trained && $(BIN)/python -m bench.detector_cost'

demo: demo-venv
	@$(MAKE) --no-print-directory console || echo "demo: the console was not built (make console needs Node.js >= 20.19 and npm); /admin/ will say so"
	scripts/with-infra bash -c '$(KW) db upgrade && $(BIN)/python -m stream_app.devtools.demo'

# The admin console (console/: React + TypeScript + Vite; docs/console.md): npm ci from its lock file, then
# the build into console/dist, which `kilowatch api` serves under /admin/. Needs Node.js >= 20.19 (Vite 7).
console:
	@command -v npm >/dev/null || { echo "make console: npm not found (install Node.js >= 20.19 with npm)"; exit 1; }
	@node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a===20&&b>=19)?0:1)' \
		|| { echo "make console: Node.js $$(node --version) is too old (Vite 7 needs >= 20.19)"; exit 1; }
	cd console && npm ci --no-audit --no-fund && npm run build

# The console's own checks: TypeScript (strict, against the client generated from docs/openapi.json),
# ESLint and the Vitest unit tests.
console-check: console
	cd console && npm run typecheck && npm run lint && npm test

# Debian's chromium for the browser tests (Playwright drives it by path: browser downloads are not reachable).
chromium: venv
	@command -v chromium >/dev/null || $(BIN)/python -c "from stream_app.devtools.infra import procs; \
		procs.apt_install('chromium', why='the console browser tests (tests/browser) drive Debian chromium')"

# The console in a real headless browser against a real API, worker, PostgreSQL, Redis and Kafka.
browser: venv console chromium
	scripts/with-infra bash -c '$(KW) db upgrade && $(BIN)/pytest -q tests/browser'

infra-up: venv
	$(KW) infra up

infra-down: venv
	$(KW) infra down

infra-status: venv
	$(KW) infra status

clean:
	-$(KW) infra down
	rm -rf .state .mypy_cache .ruff_cache .pytest_cache

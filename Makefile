# eksguard developer commands. `make test` and `make demo` set up a fresh machine by themselves.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
SAM_VENV := .venv-sam
PY := $(VENV)/bin/python
SAM := $(SAM_VENV)/bin/sam
export SAM_CLI_TELEMETRY := 0

.PHONY: help install install-sam lint typecheck template-lint unit lock build check-layer test e2e e2e-run bench demo demo-org clean \
	local-image local-up local-down local-template invoke-stop invoke-eks-api invoke-audit-log invoke-aws-auth invoke-enrol invoke-notifier invoke-inventory

help:
	@echo "make test    - create the venv, install pinned dev deps, ruff, mypy, cfn-lint, pytest, sam build"
	@echo "make demo    - run eksguard locally against moto and a Slack stand-in (no Docker needed)"
	@echo "make demo-org - the same as an organisation's hub: a spoke account, and one that refuses the hub"
	@echo "make e2e     - sam local invoke every events/*.json against moto + Slack stand-in containers"
	@echo "make local-image - build the Lambda base stand-in and the local AWS image offline (Docker)"
	@echo "make build   - sam build (layer wheels for python3.13 x86_64) and check the artefact"
	@echo "make lock    - re-resolve layers/eksguard/requirements.lock (after editing its requirements.txt)"
	@echo "make bench   - run the benchmarks and print the figures"
	@echo "make spoke   - regenerate spoke/template.yaml and the hub bus rules from template.yaml"

$(VENV)/.installed: requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

$(SAM_VENV)/.installed: requirements-sam.txt
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-sam.txt
	touch $@

install: $(VENV)/.installed

install-sam: $(SAM_VENV)/.installed

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check layers functions tests scripts

typecheck: install
	$(VENV)/bin/mypy layers/eksguard/eksguard functions scripts tests

template-lint: install
	$(VENV)/bin/cfn-lint template.yaml spoke/template.yaml
	$(PY) scripts/gen_spoke.py --check

# The spoke template (plain CloudFormation for a StackSet) and the hub bus's rules, from the hub's CloudTrail
# rules in template.yaml (docs/organizations.md).
.PHONY: spoke
spoke: install
	$(PY) scripts/gen_spoke.py
	$(VENV)/bin/cfn-lint template.yaml spoke/template.yaml

# cfn-lint with the serverless rules (cfn-lint-serverless): DLQs, destinations, retention, tracing.
# Each deliberate exception is an ignore_checks entry with its reason next to the resource in template.yaml.
.PHONY: security-lint
security-lint: install
	$(VENV)/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml

unit: install
	$(PY) -m pytest tests/unit tests/integration

# The layer's whole closure, pinned with wheel hashes, resolved for Lambda (python3.13 x86_64).
lock: install
	$(PY) scripts/lock_layer.py

# The layer installs from requirements.lock; LAMBDA_PYTHON=/path/to/python3.13 chooses the interpreter that
# compiles the bytecode (found by scripts/compile_bytecode.sh otherwise).
build: install-sam install
	$(PY) scripts/lock_layer.py --check --offline
	$(SAM) build --template-file template.yaml
	$(PY) scripts/check_layer.py .aws-sam/build/EksguardLayer .aws-sam/build/*Function

# End-to-end tests run when a Docker engine and the local images are there, or when
# EKSGUARD_E2E=required (CI), in which case anything missing fails the run.
test: lint typecheck template-lint security-lint build
	$(PY) -m pytest tests --ignore=tests/e2e -n 2 --dist loadfile
	@if [ "$${EKSGUARD_E2E:-}" = required ] || $(PY) scripts/local_stack.py ready > /dev/null 2>&1; then \
		$(MAKE) --no-print-directory e2e-run; \
	else \
		echo "e2e not run: no Docker engine; run \`make e2e\` after \`make local-image\`"; \
	fi

e2e: build e2e-run

e2e-run: install-sam install
	EKSGUARD_E2E=required EKSGUARD_E2E_BUILT=1 $(PY) -m pytest tests/e2e -m e2e

local-image: install
	scripts/build_local_image.sh

local-up: install
	$(PY) scripts/local_stack.py up

local-down: install
	$(PY) scripts/local_stack.py down

local-template: build
	$(PY) scripts/local_stack.py template

LOCAL_INVOKE = AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing $(SAM) local invoke \
	--template .aws-sam/build/template.local.yaml --env-vars events/env.local.json \
	--docker-network eksguard-local --skip-pull-image --region eu-west-1

invoke-stop: local-template
	$(LOCAL_INVOKE) StopInstancesFunction --event events/stop_schedule.json

invoke-eks-api: local-template
	$(LOCAL_INVOKE) EksApiAlertFunction --event events/$(or $(EVENT),eks_api_cluster_admin_granted.json)

invoke-audit-log: local-template
	$(LOCAL_INVOKE) AuditLogAlertFunction --event events/$(or $(EVENT),rbac_cluster_admin_backdoor.json)

invoke-aws-auth: local-template
	$(LOCAL_INVOKE) AuditLogAlertFunction --event events/$(or $(EVENT),aws_auth_masters_backdoor.json)

invoke-enrol: local-template
	$(LOCAL_INVOKE) AuditLogEnrolFunction --event events/audit_log_enrol_schedule.json

invoke-inventory: local-template
	$(LOCAL_INVOKE) InventoryFunction --event events/inventory_schedule.json

invoke-notifier: local-template
	$(LOCAL_INVOKE) SlackNotifierFunction --event events/slack_notifier_sqs.json

# Cloud Custodian, the anchor of the stop-run benchmark, in its own venv (its pins are not ours).
C7N_VENV := .venv-c7n
$(C7N_VENV)/.installed: requirements-bench.txt
	$(PYTHON) -m venv $(C7N_VENV)
	$(C7N_VENV)/bin/pip install --quiet --disable-pip-version-check -r requirements-bench.txt
	touch $@

# Every benchmark, rewriting docs/benchmarks.md (under 10 minutes on 2 cores, most of it in moto's server).
# The cold-start figures import the built artefacts, hence the build.
bench: install build $(C7N_VENV)/.installed
	$(PY) scripts/bench_all.py

demo: install
	$(PY) scripts/demo.py

# A hub with a spoke and a spoke that refuses it: the stop run, forwarded CloudTrail calls, Slack.
demo-org: install
	$(PY) scripts/demo_org.py

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache

# registrylink.k8s developer entry points. See docs/local-environment.md.
#   make up [CLUSTERS=3]   bootstrap, then start N clusters (each with a real node) + registry + moto
#   . .localenv/env.sh     use them from a shell
#   make test | unit | oracle | integration | sanity | lint | demo | bench [QUICK=1] | bench-fleet | status | down
SHELL := /bin/bash
CLUSTERS ?= 1
QUICK ?=
PYTHON := .venv/bin/python

.DEFAULT_GOAL := help
.PHONY: help bootstrap up down status test sanity unit oracle lint integration demo bench bench-fleet

help:
	@echo "make bootstrap            apt packages, .venv, kube binaries, kubelet credential provider plugins (idempotent)"
	@echo "make up [CLUSTERS=N]      start the local environment (default 1 cluster, one node each)"
	@echo "make status               health of the local environment, nodes included"
	@echo "make down                 stop it"
	@echo "make test                 sanity + unit + oracle + lint + integration (hack/test.sh)"
	@echo "make sanity|unit|oracle|lint|integration"
	@echo "make demo                 hack/demo.sh"
	@echo "make bench [QUICK=1]      hack/bench.sh"
	@echo "make bench-fleet          hack/bench.sh --fleet: 1, 3, 6 private clusters without nodes (docs/benchmarks.md)"

bootstrap:
	hack/bootstrap.sh

up: bootstrap
	$(PYTHON) hack/localenv.py up --clusters $(CLUSTERS)

down:
	@if [ -x $(PYTHON) ]; then $(PYTHON) hack/localenv.py down; else python3 hack/localenv.py down; fi

status:
	@if [ -x $(PYTHON) ]; then $(PYTHON) hack/localenv.py status; else python3 hack/localenv.py status; fi

test:
	hack/test.sh

sanity unit oracle lint integration:
	hack/test.sh $@

demo:
	hack/demo.sh

bench:
	QUICK=$(QUICK) hack/bench.sh

bench-fleet:
	hack/bench.sh --fleet

# mdtools — see `make help`.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CMDS    := md-parse md-order md-challenge md-install md-staple md-status
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/mdtools/mdtools/lib/cli.Version=$(VERSION)
PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
GO      ?= go
TESTFLAGS ?= -race -count=1 -timeout 30m
BENCHTIME ?= 1x

.PHONY: help build test deps lint man install demo bench clean $(addprefix bin/,$(CMDS))

help: ## list the targets
	@grep -E '^[a-z]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-8s %s\n", $$1, $$2}'

build: $(addprefix bin/,$(CMDS)) ## build the six commands into bin/, version stamped

$(addprefix bin/,$(CMDS)): bin/%:
	$(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $@ ./cmd/$(@F)

deps: ## install what the tests need (Go modules and tools; openssl, apache2 as root)
	@scripts/test-deps

test: deps ## run every test, real Pebble/OpenSSL/Apache ones included
	$(GO) vet ./...
	$(GO) test $(TESTFLAGS) ./...

lint: ## gofmt, go vet and staticcheck
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) tool staticcheck ./...

man: ## check the man pages and compress them into bin/man
	@mkdir -p bin/man
	@for f in man/*.[0-9]; do \
	  [ -e "$$f" ] || continue; \
	  if command -v groff >/dev/null; then groff -man -Tutf8 -ww -z "$$f" || exit 1; fi; \
	  gzip -9nc "$$f" > bin/man/$$(basename $$f).gz; \
	done; echo "man pages in bin/man"

install: build man ## install commands, md-renew, man pages, completions (PREFIX, DESTDIR, MANDIR)
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 \
	  $(DESTDIR)$(PREFIX)/share/bash-completion/completions $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 0755 $(addprefix bin/,$(CMDS)) scripts/md-renew $(DESTDIR)$(BINDIR)/
	for c in $(CMDS) md-renew; do install -m 0644 scripts/completion/mdtools.bash $(DESTDIR)$(PREFIX)/share/bash-completion/completions/$$c; done
	install -m 0644 scripts/completion/_mdtools $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_mdtools
	@for f in bin/man/*.gz; do \
	  [ -e "$$f" ] || continue; \
	  sec=$$(basename $$f .gz); sec=$${sec##*.}; \
	  install -m 0644 $$f $(DESTDIR)$(MANDIR)/man$$sec/; \
	done

demo: build ## run the whole cycle against a local Pebble CA on loopback
	@scripts/demo

bench: build ## run the benchmarks and print figures (slow; not part of test)
	$(GO) test -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem ./...
	@for s in scripts/bench-*; do [ -x "$$s" ] && "$$s"; done; true

clean: ## remove bin/
	rm -rf bin

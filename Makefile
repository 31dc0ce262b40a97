# Two commands: `make run` (install, build, migrate, dev certificates, start every service)
# and `make test` (install what the tests need, then run them all).
NPM_STAMP := node_modules/.cairn-installed

.PHONY: run test build install typecheck test-packages clean

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund
	@touch $@

install: $(NPM_STAMP)

build: install
	npx tsc -p tsconfig.json

run: build
	node dist/cli/cairn.js migrate
	CAIRN_LOG__PRETTY=$${CAIRN_LOG__PRETTY:-true} node dist/cli/cairn.js serve

typecheck: install
	npx tsc -p tsconfig.check.json

test-packages:
	@bash test/install-packages.sh

test: install test-packages typecheck
	node test/run.mjs

clean:
	rm -rf dist .tap

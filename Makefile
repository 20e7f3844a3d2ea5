# romsyncd: a few entry points. The Go tool does the real work (go build,
# go test); packaging lives in packaging/.

.PHONY: deb test-deb clean

# dist/romsyncd_<version>_<arch>.deb; VERSION=1.2.3 make deb sets the version.
deb:
	bash packaging/build-deb

# Build, lint, install, upgrade, remove and purge the package here (root, Debian).
test-deb:
	bash packaging/test-deb

clean:
	rm -rf dist

// Package packaging holds romsyncd's Debian package — nfpm.yaml, the
// default /etc/romsyncd/config.yaml, the maintainer scripts, build-deb and
// test-deb — and the tests that check them without building it.
//
//	packaging/build-deb   dist/romsyncd_<version>_<arch>.deb (make deb)
//	packaging/test-deb    build, lintian, install, upgrade, remove, purge (root; CI)
//
// build-deb generates what the package holds besides the repository's files:
// the binary, the man pages and completions (romsyncd gendocs), the units
// with ExecStart= at /usr/bin/romsyncd, the changelog and the copyright file.
package packaging

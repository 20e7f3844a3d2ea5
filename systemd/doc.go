// Package systemd holds romsyncd's systemd units and the test that verifies them.
//
// The files, and where they are installed:
//
//	romsyncd.service           /etc/systemd/system/romsyncd.service (system service, user romsyncd)
//	romsyncd-user.service      ~/.config/systemd/user/romsyncd.service (desktop, systemctl --user)
//	sysusers.d/romsyncd.conf   /usr/lib/sysusers.d/romsyncd.conf (creates the romsyncd user)
//	99-romsyncd-inotify.conf   /etc/sysctl.d/99-romsyncd-inotify.conf (inotify limits)
//
// The test parses the units and checks the directives romsyncd relies on, and,
// where systemd-analyze is installed (Debian: apt-get install -y systemd; no
// running systemd is needed), runs systemd-analyze verify on copies of the
// units whose ExecStart= binary is replaced by /bin/true, because verify fails
// on a missing binary and the test cannot assume romsyncd is installed. It
// treats verify's warnings as failures: verify exits 0 on a misspelt key.
package systemd

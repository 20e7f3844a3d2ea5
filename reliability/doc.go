// Package reliability is romsyncd's reliability suite: it drives the real
// binary against real filesystems (tmpfs, exFAT, bind mounts), kills and
// signals it at random instants, cuts a card's power during and after
// passes (internal/powerfs: what was not fsynced is lost), churns the
// library under the daemon, feeds it hostile names, links and
// configurations, and checks the product's invariants after every
// scenario. The package holds only tests; see run-long for the long
// variants.
package reliability

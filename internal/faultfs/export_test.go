package faultfs

import "time"

// SetUnmountPatience shortens how long the cleanup of a mount waits for open
// files, until restore is called.
func SetUnmountPatience(unmount, serve time.Duration) (restore func()) {
	u, s := unmountPatience, servePatience
	unmountPatience, servePatience = unmount, serve
	return func() { unmountPatience, servePatience = u, s }
}

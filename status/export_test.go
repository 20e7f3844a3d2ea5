package status

// For the tests: the default sockets of a user other than the test's.
var (
	DefaultSocketFor = defaultSocket
	ClientSocketsFor = clientSockets
)

// Package natstest runs an embedded NATS server with JetStream for tests, in the
// test process, on 127.0.0.1 and a free port, with its store in t.TempDir(). The
// server shuts down when the test ends. Start it like httptest.NewServer:
//
//	url := natstest.Start(t)
//	nc, err := nats.Connect(url)
package natstest

import (
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// Start runs a JetStream-enabled NATS server for the test and returns its client
// URL (nats://127.0.0.1:PORT).
func Start(t testing.TB) (url string) {
	t.Helper()
	return StartServer(t).ClientURL()
}

// StartServer is Start returning the server itself, for tests that stop it
// (s.Shutdown()) or read its state. Each configure func may change the
// options first (e.g. o.SyncAlways = true: fsync every JetStream write).
func StartServer(t testing.TB, configure ...func(*server.Options)) *server.Server {
	t.Helper()
	opts := &server.Options{
		Host:      "127.0.0.1",
		Port:      server.RANDOM_PORT,
		JetStream: true,
		StoreDir:  t.TempDir(),
		NoLog:     true,
		NoSigs:    true,
	}
	for _, f := range configure {
		f(opts)
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("natstest: new server: %v", err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		s.Shutdown()
		t.Fatalf("natstest: server not ready after 10s")
	}
	t.Cleanup(func() {
		s.Shutdown()
		s.WaitForShutdown()
	})
	return s
}

// Package natstest runs an embedded NATS server with JetStream for tests, in the
// test process, on 127.0.0.1 and a free port, with its store in t.TempDir(). The
// server shuts down when the test ends. Start it like httptest.NewServer:
//
//	url := natstest.Start(t)
//	nc, err := nats.Connect(url)
//
// StartCluster runs several servers clustered, for tests of replicated streams.
package natstest

import (
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
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

// StartCluster runs n JetStream servers clustered together (routes on loopback,
// cluster "natstest"), waits until they have elected a JetStream meta leader, and
// returns their client URLs comma-separated (as nats.Connect takes them) and the
// servers, for tests that stop one.
func StartCluster(t testing.TB, n int) (urls string, servers []*server.Server) {
	t.Helper()
	ports := make([]int, n)
	routes := make([]*url.URL, n)
	for i := range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports[i] = ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		routes[i] = &url.URL{Scheme: "nats-route", Host: fmt.Sprintf("127.0.0.1:%d", ports[i])}
	}
	list := make([]string, n)
	for i := range n {
		s := StartServer(t, func(o *server.Options) {
			o.ServerName = fmt.Sprintf("n%d", i+1)
			o.Cluster = server.ClusterOpts{Name: "natstest", Host: "127.0.0.1", Port: ports[i]}
			o.Routes = routes
		})
		servers = append(servers, s)
		list[i] = s.ClientURL()
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		for _, s := range servers {
			if s.JetStreamIsLeader() {
				return strings.Join(list, ","), servers
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("natstest: no JetStream meta leader among %d servers after 20s", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Connect opens a connection of its own to the server at url (as a separate
// worker would), closed when the test ends, and its JetStream context.
func Connect(t testing.TB, url string) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

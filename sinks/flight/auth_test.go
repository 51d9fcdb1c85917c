package flight_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"
	"google.golang.org/grpc/codes"

	"github.com/etl-toolkit/etl/sinks/flight"
	"github.com/etl-toolkit/etl/sinks/flight/flightserve"
)

// TestAuth puts a batch with each way of authenticating, and checks that a
// refused credential stops the sink with Unauthenticated and a hint, without
// the credential in the message.
func TestAuth(t *testing.T) {
	const token, password = "s3cr3t-token-123", "pa55-word"
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_FLIGHT_TOKEN", token)
	t.Setenv("TEST_FLIGHT_BAD_TOKEN", "wrong-token-456")
	t.Setenv("TEST_FLIGHT_PASSWORD", password)
	t.Setenv("TEST_FLIGHT_BAD_PASSWORD", "wrong-password")
	tests := []struct {
		name     string
		auth     flight.AuthConfig
		wantCode codes.Code // codes.OK for success
		secret   string     // must not appear in the error
	}{
		{"token_env", flight.AuthConfig{TokenEnv: "TEST_FLIGHT_TOKEN"}, codes.OK, ""},
		{"token_file", flight.AuthConfig{TokenFile: tokenFile}, codes.OK, ""},
		{"basic handshake", flight.AuthConfig{Username: "ingest", PasswordEnv: "TEST_FLIGHT_PASSWORD"}, codes.OK, ""},
		{"bad token", flight.AuthConfig{TokenEnv: "TEST_FLIGHT_BAD_TOKEN"}, codes.Unauthenticated, "wrong-token-456"},
		{"bad password", flight.AuthConfig{Username: "ingest", PasswordEnv: "TEST_FLIGHT_BAD_PASSWORD"}, codes.Unauthenticated, "wrong-password"},
		{"unknown user", flight.AuthConfig{Username: "nobody", PasswordEnv: "TEST_FLIGHT_PASSWORD"}, codes.Unauthenticated, password},
		{"no credentials", flight.AuthConfig{}, codes.Unauthenticated, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			srv, addr := serve(t, flightserve.Options{Tokens: []string{token}, Users: map[string]string{"ingest": password}})
			s := newSink(t, addr, mem, func(c *flight.Config) { c.Auth = tt.auth })
			defer s.Close() // before the allocator check
			err := putSample(s, mem)
			if tt.wantCode == codes.OK {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				if got := srv.Stats().Rows; got != 100 {
					t.Errorf("got %d rows stored, want 100", got)
				}
				return
			}
			var se *flight.ServerError
			if !errors.As(err, &se) || se.Code != tt.wantCode {
				t.Fatalf("got %v, want a *flight.ServerError with code %s", err, tt.wantCode)
			}
			if !strings.Contains(err.Error(), "check the sink's auth options") {
				t.Errorf("got %q, want a hint at the auth options", err)
			}
			if tt.secret != "" && strings.Contains(err.Error(), tt.secret) {
				t.Errorf("the error shows the credential: %q", err)
			}
			if got := srv.Stats().Rows; got != 0 {
				t.Errorf("got %d rows stored, want 0", got)
			}
			t.Logf("error: %v", err)
		})
	}
}

// TestHeaders checks that custom headers and the bearer token reach the server.
func TestHeaders(t *testing.T) {
	mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
	defer mem.AssertSize(t, 0)
	t.Setenv("TEST_FLIGHT_TOKEN", "tok")
	srv, addr := serveCapture(t, mem)
	s := newSink(t, addr, mem, func(c *flight.Config) {
		c.Headers = map[string]string{"x-tenant": "acme", "x-trace.id": "42"}
		c.Auth.TokenEnv = "TEST_FLIGHT_TOKEN"
	})
	if err := putSample(s, mem); err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"x-tenant": "acme", "x-trace.id": "42", "authorization": "Bearer tok"} {
		if got := srv.headers.Get(k); len(got) != 1 || got[0] != want {
			t.Errorf("header %s: got %q, want [%q]", k, got, want)
		}
	}
	s.Close()
}

// TestCheck checks the connection and credentials without writing.
func TestCheck(t *testing.T) {
	_, addr := serve(t, flightserve.Options{Tokens: []string{"good"}})
	t.Setenv("TEST_FLIGHT_GOOD", "good")
	t.Setenv("TEST_FLIGHT_BAD", "bad")
	for _, tt := range []struct {
		env      string
		wantCode codes.Code
	}{{"TEST_FLIGHT_GOOD", codes.OK}, {"TEST_FLIGHT_BAD", codes.Unauthenticated}} {
		s := newSink(t, addr, nil, func(c *flight.Config) { c.Auth.TokenEnv = tt.env })
		err := s.Check(context.Background())
		var se *flight.ServerError
		switch {
		case tt.wantCode == codes.OK && err != nil:
			t.Errorf("%s: got %v, want success", tt.env, err)
		case tt.wantCode != codes.OK && (!errors.As(err, &se) || se.Code != tt.wantCode):
			t.Errorf("%s: got %v, want code %s", tt.env, err, tt.wantCode)
		}
	}
	// Nothing listens here any more.
	s := newSink(t, "127.0.0.1:1", nil, nil)
	if err := s.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("got %v, want an error naming the location", err)
	}
}

package flight_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sinks/flight"
)

// build runs the `flight` factory on a config section given as YAML.
func build(t *testing.T, src string) error {
	t.Helper()
	cfg, err := core.NewConfig("p.yaml", "sinks[0].config", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	f, ok := core.LookupSink("flight")
	if !ok {
		t.Fatal("the flight sink is not registered")
	}
	s, err := f.New(context.Background(), core.Env{Pipeline: "p", Config: cfg, Logger: quiet})
	if err == nil {
		s.Close()
	}
	return err
}

func TestConfigErrors(t *testing.T) {
	t.Setenv("TEST_FLIGHT_SET", "x")
	tests := []struct {
		name string
		src  string
		want []string // every line of the error, in order; nil: no error
	}{
		{"minimal", "location: grpc://127.0.0.1:8815", nil},
		{"everything", `
location: grpc+tls://flight.example.com:443
path: [exports, "{pipeline}", "{stream}", "{unit}"]
tls: { ca_file: ca.pem, cert_file: c.pem, key_file: k.pem, server_name: flight.example.com }
auth: { token_env: TEST_FLIGHT_SET }
headers: { x-tenant: acme }
compression: zstd
batch_rows: 10000
max_message_bytes: 16MiB
buffer_bytes: 256MiB
timeout: 30s
ack_timeout: 10m
retry: { initial: 1s, max: 30s, max_elapsed: 5m }`, nil},
		{"command", "location: grpc://h:1\ncommand: 'INSERT INTO {stream}'", nil},
		{"basic auth", "location: grpc://h:1\nauth: { username: u, password_file: ./pw }", nil},
		{"missing location", "compression: lz4", []string{
			`p.yaml:1:1: sinks[0].config.location: required (the Flight service, e.g. grpc://127.0.0.1:8815 or grpc+tls://flight.example.com:443)`}},
		{"every problem at once", `
location: http://h:1
path: ["{pipeline}", "{steam}", ""]
compression: gzip
batch_rows: -1
max_message_bytes: 1KiB
timeout: 0s
headers: { X-Tenant: a, grpc-timeout: "1" }`, []string{
			`p.yaml:2:11: sinks[0].config.location: unsupported scheme in "http://h:1" (want grpc://HOST:PORT or grpc+tls://HOST:PORT)`,
			`p.yaml:3:22: sinks[0].config.path[1]: unknown placeholder {steam} in "{steam}" (want {pipeline}, {stream}, {unit})`,
			`p.yaml:3:33: sinks[0].config.path[2]: empty element`,
			`p.yaml:4:14: sinks[0].config.compression: unknown value "gzip" (want one of: none, lz4, zstd)`,
			`p.yaml:5:13: sinks[0].config.batch_rows: must not be negative, got -1`,
			`p.yaml:6:20: sinks[0].config.max_message_bytes: 1024 is too small (want at least 65536; gRPC's default limit is 4MiB)`,
			`p.yaml:7:10: sinks[0].config.timeout: must be positive, got 0s`,
			`p.yaml:8:22: sinks[0].config.headers.X-Tenant: header name "X-Tenant": want lowercase letters, digits, '-', '_' or '.'`,
			`p.yaml:8:39: sinks[0].config.headers.grpc-timeout: header name "grpc-timeout": the grpc- prefix is reserved by gRPC`,
		}},
		{"tls without grpc+tls", "location: grpc://h:1\ntls: { ca_file: ca.pem }", []string{
			`p.yaml:2:6: sinks[0].config.tls: TLS options need a grpc+tls:// location, got "grpc://h:1"`}},
		{"half a key pair", "location: grpc+tls://h:1\ntls: { cert_file: c.pem }", []string{
			`p.yaml:2:6: sinks[0].config.tls.key_file: missing: cert_file needs its private key`}},
		{"two auth methods", "location: grpc://h:1\nauth: { token_env: TEST_FLIGHT_SET, token_file: t }", []string{
			`p.yaml:2:7: sinks[0].config.auth: choose one of token_env, token_file or username (basic-auth handshake)`}},
		{"unset token variable", "location: grpc://h:1\nauth: { token_env: TEST_FLIGHT_UNSET }", []string{
			`p.yaml:2:20: sinks[0].config.auth.token_env: environment variable TEST_FLIGHT_UNSET is not set (or empty)`}},
		{"username without password", "location: grpc://h:1\nauth: { username: u }", []string{
			`p.yaml:2:19: sinks[0].config.auth.username: needs password_env or password_file`}},
		{"path and command", "location: grpc://h:1\npath: [a]\ncommand: b", []string{
			`p.yaml:3:10: sinks[0].config.command: set together with path; a descriptor is either a path or a command`}},
		{"authorization header with auth", "location: grpc://h:1\nauth: { token_env: TEST_FLIGHT_SET }\nheaders: { authorization: x }", []string{
			`p.yaml:3:27: sinks[0].config.headers.authorization: set together with auth, which sends its own authorization header`}},
		{"unknown key", "location: grpc://h:1\ncompresion: lz4", []string{
			`p.yaml:2:1: sinks[0].config.compresion: unknown key (known keys: location, path, command, tls, auth, headers, compression, batch_rows, max_message_bytes, buffer_bytes, timeout, ack_timeout, retry)`}},
		{"no port", "location: grpc://flight.example.com", []string{
			`p.yaml:1:11: sinks[0].config.location: location "grpc://flight.example.com" needs a host and a port (want grpc://HOST:PORT)`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := build(t, tt.src)
			switch {
			case tt.want == nil && err != nil:
				t.Fatalf("got\n%v\nwant no error", err)
			case tt.want == nil:
				return
			case err == nil:
				t.Fatalf("got no error, want\n%s", strings.Join(tt.want, "\n"))
			}
			if got := err.Error(); got != strings.Join(tt.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", got, strings.Join(tt.want, "\n"))
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	c := flight.DefaultConfig()
	if c.Path != nil || c.Compression != "none" || c.MaxMessageBytes != 4<<20 || c.BufferBytes != 64<<20 ||
		c.Timeout != time.Minute || c.AckTimeout != 5*time.Minute || c.Retry.MaxElapsed != 2*time.Minute {
		t.Errorf("got %+v", c)
	}
	if got := strings.Join(flight.DefaultPath, "/"); got != "{pipeline}/{stream}" {
		t.Errorf("got DefaultPath %s, want {pipeline}/{stream}", got)
	}
}

func TestParseLocation(t *testing.T) {
	tests := []struct {
		in      string
		want    flight.Location
		wantErr bool
	}{
		{"grpc://127.0.0.1:8815", flight.Location{Addr: "127.0.0.1:8815", Host: "127.0.0.1"}, false},
		{"grpc+tcp://localhost:1", flight.Location{Addr: "localhost:1", Host: "localhost"}, false},
		{"grpc+tls://flight.example.com:443", flight.Location{Addr: "flight.example.com:443", Host: "flight.example.com", TLS: true}, false},
		{"grpc+tls://[::1]:443", flight.Location{Addr: "[::1]:443", Host: "::1", TLS: true}, false},
		{"grpc://h", flight.Location{}, true},
		{"grpc://h:1/path", flight.Location{}, true},
		{"grpc://user:pw@h:1", flight.Location{}, true},
		{"https://h:1", flight.Location{}, true},
		{"h:1", flight.Location{}, true},
	}
	for _, tt := range tests {
		got, err := flight.ParseLocation(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseLocation(%q): got %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
	}
}

package flight

import (
	"fmt"
	"net"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/etl-toolkit/etl/sinks/files"
)

// Config is the `flight` sink's `config:` section. Decode it on top of
// DefaultConfig.
type Config struct {
	Location string `yaml:"location" doc:"the Flight service: grpc://HOST:PORT (plaintext) or grpc+tls://HOST:PORT (required)"`
	// Path and Command are templates: {pipeline}, {stream} and {unit} are
	// replaced by the batch's. A nil Path with no Command is DefaultPath.
	Path    []string `yaml:"path" doc:"descriptor path, one template per element with {pipeline}, {stream}, {unit}; one DoPut per distinct path" default:"[\"{pipeline}\", \"{stream}\"]"`
	Command string   `yaml:"command" doc:"descriptor command instead of a path, a template like path's elements"`

	TLS     TLSConfig         `yaml:"tls" doc:"TLS of a grpc+tls:// location: CA, client certificate for mutual TLS"`
	Auth    AuthConfig        `yaml:"auth" doc:"credentials: a bearer token (token_env or token_file) or Flight's basic-auth handshake (username with password_env or password_file)"`
	Headers map[string]string `yaml:"headers" doc:"extra gRPC headers sent with every call, e.g. {x-tenant: acme}"`

	Compression     string         `yaml:"compression" doc:"IPC body compression: none, lz4 or zstd" default:"none"`
	BatchRows       int64          `yaml:"batch_rows" doc:"most rows in one Flight message; larger batches are split (0: no row limit)" default:"0"`
	MaxMessageBytes files.ByteSize `yaml:"max_message_bytes" doc:"largest gRPC message the server accepts; larger batches are split to fit" default:"4MiB"`
	BufferBytes     files.ByteSize `yaml:"buffer_bytes" doc:"sent batches kept until the server acknowledges them, to resend after a failure; past this the sink asks the runner to commit" default:"64MiB"`

	Timeout    time.Duration `yaml:"timeout" doc:"time limit of connecting, the handshake and one message being sent" default:"1m"`
	AckTimeout time.Duration `yaml:"ack_timeout" doc:"time limit of waiting for the server to acknowledge a put at a commit" default:"5m"`
	Retry      RetryConfig   `yaml:"retry" doc:"retries of a put on Unavailable (server restarting, connection lost) and timeouts"`
}

// TLSConfig configures TLS for a grpc+tls:// location.
type TLSConfig struct {
	CAFile             string `yaml:"ca_file" doc:"PEM file of the CA certificates that sign the server's certificate (default: the system's roots)"`
	CertFile           string `yaml:"cert_file" doc:"client certificate (PEM) for mutual TLS; needs key_file"`
	KeyFile            string `yaml:"key_file" doc:"client private key (PEM) for mutual TLS; needs cert_file"`
	ServerName         string `yaml:"server_name" doc:"name the server's certificate must carry (default: the location's host)"`
	InsecureSkipVerify bool   `yaml:"insecure_skip_verify" doc:"accept any server certificate: encrypted but not authenticated, for tests only" default:"false"`
}

// AuthConfig says how the sink authenticates. At most one method is set.
type AuthConfig struct {
	TokenEnv     string `yaml:"token_env" doc:"environment variable holding a bearer token, sent as authorization: Bearer <token>"`
	TokenFile    string `yaml:"token_file" doc:"file holding a bearer token (surrounding white space trimmed), read when connecting"`
	Username     string `yaml:"username" doc:"user name for Flight's basic-auth handshake; the bearer token the server returns is sent with every call"`
	PasswordEnv  string `yaml:"password_env" doc:"environment variable holding the handshake's password"`
	PasswordFile string `yaml:"password_file" doc:"file holding the handshake's password (surrounding white space trimmed)"`
}

// RetryConfig is the backoff of retried puts: exponential with jitter from
// Initial up to Max, for at most MaxElapsed in all.
type RetryConfig struct {
	Initial    time.Duration `yaml:"initial" doc:"first wait" default:"200ms"`
	Max        time.Duration `yaml:"max" doc:"longest wait" default:"10s"`
	MaxElapsed time.Duration `yaml:"max_elapsed" doc:"give up after retrying this long; the run stops and its next run resumes from the last commit" default:"2m"`
}

// Compressions lists the values of the compression option.
var Compressions = []string{"none", "lz4", "zstd"}

// Defaults of the options left out of a config.
const (
	DefaultMaxMessageBytes = 4 << 20
	DefaultBufferBytes     = 64 << 20
)

// DefaultPath is the descriptor path of a Config that sets neither path nor
// command.
var DefaultPath = []string{"{pipeline}", "{stream}"}

// DefaultConfig returns a Config with every default filled in and no location.
// Its Path is nil, which stands for DefaultPath, so that a config can set
// command instead.
func DefaultConfig() Config {
	return Config{
		Compression:     "none",
		MaxMessageBytes: DefaultMaxMessageBytes,
		BufferBytes:     DefaultBufferBytes,
		Timeout:         time.Minute,
		AckTimeout:      5 * time.Minute,
		Retry:           RetryConfig{Initial: 200 * time.Millisecond, Max: 10 * time.Second, MaxElapsed: 2 * time.Minute},
	}
}

// Problem is one invalid option, named as in a pipeline file ("tls.ca_file").
type Problem struct {
	Option string
	Msg    string
}

// minMessageBytes keeps a typo from asking for messages that cannot hold a row.
const minMessageBytes = 64 << 10

var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// templateVars are the placeholders of path and command.
var templateVars = []string{"{pipeline}", "{stream}", "{unit}"}

// Problems checks c without any I/O and returns every problem found. lookupEnv
// finds environment variables (os.LookupEnv when nil): a token_env or
// password_env naming an unset variable is a problem of the config.
func (c Config) Problems(lookupEnv func(string) (string, bool)) []Problem {
	if lookupEnv == nil {
		lookupEnv = os.LookupEnv
	}
	var out []Problem
	add := func(opt, format string, args ...any) {
		out = append(out, Problem{opt, fmt.Sprintf(format, args...)})
	}
	secure := false
	switch loc, err := ParseLocation(c.Location); {
	case c.Location == "":
		add("location", "required (the Flight service, e.g. grpc://127.0.0.1:8815 or grpc+tls://flight.example.com:443)")
	case err != nil:
		add("location", "%v", err)
	default:
		secure = loc.TLS
	}

	if c.Command != "" && c.Path != nil {
		add("command", "set together with path; a descriptor is either a path or a command")
	}
	if c.Command != "" {
		if err := checkTemplate(c.Command); err != nil {
			add("command", "%v", err)
		}
	} else {
		if c.Path != nil && len(c.Path) == 0 {
			add("path", "empty (want at least one element, e.g. [\"{pipeline}\", \"{stream}\"])")
		}
		for i, e := range c.Path {
			if e == "" {
				add(fmt.Sprintf("path[%d]", i), "empty element")
			} else if err := checkTemplate(e); err != nil {
				add(fmt.Sprintf("path[%d]", i), "%v", err)
			}
		}
	}

	t := c.TLS
	if !secure && t != (TLSConfig{}) && c.Location != "" {
		add("tls", "TLS options need a grpc+tls:// location, got %q", c.Location)
	}
	if (t.CertFile == "") != (t.KeyFile == "") {
		if t.CertFile == "" {
			add("tls.cert_file", "missing: key_file needs the certificate that goes with it")
		} else {
			add("tls.key_file", "missing: cert_file needs its private key")
		}
	}
	if t.InsecureSkipVerify && t.CAFile != "" {
		add("tls.insecure_skip_verify", "set together with ca_file, which it would ignore; remove one")
	}

	a := c.Auth
	methods := 0
	for _, set := range []bool{a.TokenEnv != "", a.TokenFile != "", a.Username != ""} {
		if set {
			methods++
		}
	}
	if methods > 1 {
		add("auth", "choose one of token_env, token_file or username (basic-auth handshake)")
	}
	if a.TokenEnv != "" {
		if v, ok := lookupEnv(a.TokenEnv); !ok || strings.TrimSpace(v) == "" {
			add("auth.token_env", "environment variable %s is not set (or empty)", a.TokenEnv)
		}
	}
	switch {
	case a.Username != "" && a.PasswordEnv == "" && a.PasswordFile == "":
		add("auth.username", "needs password_env or password_file")
	case a.Username == "" && (a.PasswordEnv != "" || a.PasswordFile != ""):
		add("auth.username", "missing: a password is only used by the basic-auth handshake, which needs a username")
	case a.PasswordEnv != "" && a.PasswordFile != "":
		add("auth.password_env", "set together with password_file; choose one")
	case a.PasswordEnv != "":
		if _, ok := lookupEnv(a.PasswordEnv); !ok {
			add("auth.password_env", "environment variable %s is not set", a.PasswordEnv)
		}
	}

	for _, k := range sortedKeys(c.Headers) {
		if err := checkHeader(k); err != nil {
			add("headers."+k, "%v", err)
		} else if strings.EqualFold(k, "authorization") && methods > 0 {
			add("headers."+k, "set together with auth, which sends its own authorization header")
		}
	}

	if !slices.Contains(Compressions, c.Compression) {
		add("compression", "unknown value %q (want one of: %s)", c.Compression, strings.Join(Compressions, ", "))
	}
	if c.BatchRows < 0 {
		add("batch_rows", "must not be negative, got %d", c.BatchRows)
	}
	if c.MaxMessageBytes < minMessageBytes {
		add("max_message_bytes", "%d is too small (want at least %d; gRPC's default limit is 4MiB)", c.MaxMessageBytes, minMessageBytes)
	}
	if c.BufferBytes < 0 {
		add("buffer_bytes", "must not be negative, got %d", c.BufferBytes)
	}
	for _, d := range []struct {
		opt string
		v   time.Duration
	}{{"timeout", c.Timeout}, {"ack_timeout", c.AckTimeout}, {"retry.initial", c.Retry.Initial}, {"retry.max", c.Retry.Max}} {
		if d.v <= 0 {
			add(d.opt, "must be positive, got %s", d.v)
		}
	}
	if c.Retry.MaxElapsed < 0 {
		add("retry.max_elapsed", "must not be negative, got %s (0: do not retry)", c.Retry.MaxElapsed)
	}
	if c.Retry.Max > 0 && c.Retry.Initial > c.Retry.Max {
		add("retry.initial", "%s is longer than retry.max %s", c.Retry.Initial, c.Retry.Max)
	}
	return out
}

func checkTemplate(s string) error {
	for _, m := range placeholder.FindAllString(s, -1) {
		if !slices.Contains(templateVars, m) {
			return fmt.Errorf("unknown placeholder %s in %q (want %s)", m, s, strings.Join(templateVars, ", "))
		}
	}
	if strings.ContainsAny(placeholder.ReplaceAllString(s, ""), "{}") {
		return fmt.Errorf("unbalanced brace in %q", s)
	}
	return nil
}

// checkHeader checks a gRPC metadata key: lowercase letters, digits, "-", "_"
// and "."; gRPC reserves the grpc- prefix and the HTTP/2 pseudo-headers.
func checkHeader(k string) error {
	if k == "" {
		return fmt.Errorf("empty header name")
	}
	for _, r := range k {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_' || r == '.') {
			return fmt.Errorf("header name %q: want lowercase letters, digits, '-', '_' or '.'", k)
		}
	}
	if strings.HasPrefix(k, "grpc-") {
		return fmt.Errorf("header name %q: the grpc- prefix is reserved by gRPC", k)
	}
	switch k {
	case "content-type", "user-agent", "te", "host", "connection":
		return fmt.Errorf("header name %q is set by gRPC itself", k)
	}
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Location is a parsed location option.
type Location struct {
	// Addr is HOST:PORT, as gRPC dials it.
	Addr string
	// Host is the host alone, the default TLS server name.
	Host string
	// TLS is true for grpc+tls://.
	TLS bool
}

// ParseLocation parses a Flight location: grpc://HOST:PORT or grpc+tcp://HOST:PORT
// (plaintext) or grpc+tls://HOST:PORT.
func ParseLocation(s string) (Location, error) {
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, fmt.Errorf("invalid location %q (want grpc://HOST:PORT or grpc+tls://HOST:PORT)", s)
	}
	var loc Location
	switch u.Scheme {
	case "grpc", "grpc+tcp":
	case "grpc+tls":
		loc.TLS = true
	default:
		return Location{}, fmt.Errorf("unsupported scheme in %q (want grpc://HOST:PORT or grpc+tls://HOST:PORT)", s)
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
		return Location{}, fmt.Errorf("location %q has more than a host and port (want %s://HOST:PORT)", s, u.Scheme)
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return Location{}, fmt.Errorf("location %q needs a host and a port (want %s://HOST:PORT)", s, u.Scheme)
	}
	loc.Addr, loc.Host = u.Host, host
	return loc, nil
}

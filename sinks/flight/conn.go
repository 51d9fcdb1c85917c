package flight

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	aflight "github.com/apache/arrow-go/v18/arrow/flight"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// conn is the sink's connection: one gRPC client connection, which gRPC
// re-establishes by itself after a failure, and the headers every call carries
// (the custom ones and the credentials).
type conn struct {
	client aflight.Client
	md     metadata.MD
	// authed is false until the basic-auth handshake (if any) has given a token,
	// and again after the server refused it (a restarted server forgets the
	// tokens it issued).
	authed bool
}

// withMD returns ctx carrying the call headers.
func (c *conn) withMD(ctx context.Context) context.Context {
	return metadata.NewOutgoingContext(ctx, c.md)
}

// connect returns the sink's connection, making it on first use: TLS material
// and credential files are read now, and the basic-auth handshake (if any) is
// done now, and again after a refused token. Errors never include a credential.
func (s *Sink) connect(ctx context.Context) (*conn, error) {
	if s.conn == nil {
		c, err := s.dial(ctx)
		if err != nil {
			return nil, err
		}
		s.conn = c
	}
	if !s.conn.authed {
		if err := s.handshake(ctx, s.conn); err != nil {
			return nil, err
		}
	}
	return s.conn, nil
}

func (s *Sink) dial(ctx context.Context) (*conn, error) {
	loc, err := ParseLocation(s.cfg.Location)
	if err != nil {
		return nil, permanent(err)
	}
	creds := insecure.NewCredentials()
	if loc.TLS {
		tc, err := s.cfg.TLS.config(loc.Host)
		if err != nil {
			return nil, permanent(err)
		}
		creds = credentials.NewTLS(tc)
	}
	md := metadata.MD{}
	for _, k := range sortedKeys(s.cfg.Headers) {
		md.Set(k, s.cfg.Headers[k])
	}
	a := s.cfg.Auth
	token, err := readSecret("auth.token", a.TokenEnv, a.TokenFile, s.lookupEnv)
	if err != nil {
		return nil, permanent(err)
	}
	if token != "" {
		md.Set("authorization", "Bearer "+token)
	}
	if !loc.TLS && (token != "" || a.Username != "") {
		s.log.Warn("flight: sending credentials over a plaintext connection; use grpc+tls:// outside tests", "location", s.cfg.Location)
	}
	client, err := aflight.NewClientWithMiddlewareCtx(ctx, loc.Addr, nil, nil,
		grpc.WithTransportCredentials(creds),
		grpc.WithConnectParams(grpc.ConnectParams{
			Backoff:           backoff.Config{BaseDelay: s.cfg.Retry.Initial, Multiplier: 1.6, Jitter: 0.2, MaxDelay: s.cfg.Retry.Max},
			MinConnectTimeout: s.cfg.Timeout,
		}),
	)
	if err != nil {
		return nil, permanent(fmt.Errorf("connect: %w", err))
	}
	return &conn{client: client, md: md, authed: a.Username == ""}, nil
}

// handshake does Flight's basic-auth handshake and makes the token it returns
// the authorization header of the calls that follow.
func (s *Sink) handshake(ctx context.Context, c *conn) error {
	a := s.cfg.Auth
	password, err := readSecret("auth.password", a.PasswordEnv, a.PasswordFile, s.lookupEnv)
	if err != nil {
		return permanent(err)
	}
	md := c.md.Copy()
	md.Delete("authorization")
	hctx, cancel := context.WithTimeout(metadata.NewOutgoingContext(ctx, md), s.cfg.Timeout)
	defer cancel()
	authed, err := c.client.AuthenticateBasicToken(hctx, a.Username, password)
	if err != nil {
		return fmt.Errorf("basic-auth handshake as %q: %w", a.Username, serverError(err))
	}
	out, _ := metadata.FromOutgoingContext(authed)
	bearer := out.Get("authorization")
	if len(bearer) == 0 || bearer[len(bearer)-1] == "" {
		return permanent(fmt.Errorf("basic-auth handshake as %q: the server returned no token", a.Username))
	}
	md.Set("authorization", bearer[len(bearer)-1])
	c.md, c.authed = md, true
	return nil
}

// refreshToken reports whether err is the server refusing a token that the
// basic-auth handshake gave; it then forgets the token, so that the next
// attempt does the handshake again. It does so once per put.
func (s *Sink) refreshToken(err error, done *bool) bool {
	if *done || s.cfg.Auth.Username == "" || s.conn == nil || !s.conn.authed || status.Code(serverError(err)) != codes.Unauthenticated {
		return false
	}
	*done = true
	s.conn.authed = false
	s.log.Info("flight: the server refused the handshake's token; doing the handshake again", "location", s.cfg.Location)
	return true
}

// close closes the connection, if any.
func (s *Sink) closeConn() error {
	if s.conn == nil {
		return nil
	}
	err := s.conn.client.Close()
	s.conn = nil
	return err
}

// config builds the TLS configuration for a server called host.
func (t TLSConfig) config(host string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host, InsecureSkipVerify: t.InsecureSkipVerify}
	if t.ServerName != "" {
		tc.ServerName = t.ServerName
	}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls.ca_file: no PEM certificate in %s", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("tls.cert_file and tls.key_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// readSecret returns the secret held by environment variable env or file
// file (at most one is set), trimmed; "" when neither is set. Its errors name
// the variable or file, never the value.
func readSecret(option, env, file string, lookupEnv func(string) (string, bool)) (string, error) {
	switch {
	case env != "":
		v, ok := lookupEnv(env)
		if !ok {
			return "", fmt.Errorf("%s_env: environment variable %s is not set", option, env)
		}
		return strings.TrimSpace(v), nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("%s_file: %w", option, err)
		}
		v := strings.TrimSpace(string(b))
		if v == "" {
			return "", fmt.Errorf("%s_file: %s is empty", option, file)
		}
		return v, nil
	}
	return "", nil
}

// ServerError is an error status the Flight server (or gRPC on its behalf)
// returned: its code and message. Unavailable is retried; every other code
// stops the pipeline with the server's message.
type ServerError struct {
	Code codes.Code
	Msg  string
}

func (e *ServerError) Error() string {
	msg := fmt.Sprintf("%s: %s", e.Code, e.Msg)
	switch e.Code {
	case codes.Unauthenticated:
		msg += " (check the sink's auth options: the credentials were refused)"
	case codes.PermissionDenied:
		msg += " (the credentials are valid but may not write this descriptor)"
	case codes.ResourceExhausted:
		if strings.Contains(e.Msg, "larger than max") {
			msg += " (lower max_message_bytes to the server's limit)"
		}
	}
	return msg
}

// GRPCStatus lets status.FromError and status.Code see the code.
func (e *ServerError) GRPCStatus() *status.Status { return status.New(e.Code, e.Msg) }

// serverError turns a gRPC error into a *ServerError (other errors are
// returned as they are).
func serverError(err error) error {
	if err == nil {
		return nil
	}
	var se *ServerError
	if errors.As(err, &se) {
		return err
	}
	if st, ok := status.FromError(err); ok && st.Code() != codes.OK {
		return &ServerError{Code: st.Code(), Msg: st.Message()}
	}
	return err
}

// errTimeout is a call that took longer than the sink's timeout; it is
// retried like Unavailable.
var errTimeout = errors.New("timed out")

// retryable reports whether err is worth retrying: the server is unavailable
// (restarting, unreachable, the connection dropped) or did not answer in time.
// gRPC reports a failed TLS handshake (an unknown CA, a wrong name) as
// Unavailable too, but no retry fixes a certificate.
func retryable(err error) bool {
	if errors.Is(err, errTimeout) {
		return true
	}
	var pe *permanentError
	if errors.As(err, &pe) {
		return false
	}
	st, _ := status.FromError(serverError(err))
	if st.Code() != codes.Unavailable {
		return false
	}
	msg := st.Message()
	return !strings.Contains(msg, "authentication handshake failed") && !strings.Contains(msg, "remote error: tls:")
}

// permanentError marks an error that no retry can fix (a missing file).
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

func permanent(err error) error { return &permanentError{err} }

// timeoutError says what timed out.
func timeoutError(what string, d time.Duration) error {
	return fmt.Errorf("%w: %s took longer than %s", errTimeout, what, d)
}

package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/sinks/files"
	"github.com/etl-toolkit/etl/sinks/flight/flightserve"
)

type flightServeFlags struct {
	addr, out, compression          string
	tlsCert, tlsKey, tlsClientCA    string
	tokenEnv, tokenFile             []string
	user, passwordEnv, passwordFile string
	maxMessageBytes                 string
	shutdownTimeout                 time.Duration
}

// newFlightServeCmd is `etl flight-serve`: a small Arrow Flight server
// (sinks/flight/flightserve) that stores what it receives as Parquet, for
// trying the flight sink and as its counterpart in tests.
func newFlightServeCmd() *cobra.Command {
	f := &flightServeFlags{}
	cmd := &cobra.Command{
		Use:   "flight-serve --out DIR",
		Short: "Run a small Arrow Flight server that stores every DoPut as Parquet under DIR",
		Long: `Run an Arrow Flight server that receives DoPut streams (from the flight sink or any
Flight client) and writes them as Parquet under --out, one directory per descriptor
path: DIR/<path[0]>/<path[1]>/part-....parquet. A put's files appear only once the
client has closed it cleanly, and puts and batches the flight sink sends again are
recognised and stored once. ListFlights lists what is stored; DoGet serves it back.

It prints the location to give the sink (grpc://HOST:PORT) and stops cleanly on
SIGINT or SIGTERM. Credentials are never given on the command line: --token-env and
--password-env name environment variables, --token-file and --password-file files.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error { return flightServe(cmd, f) },
	}
	fl := cmd.Flags()
	fl.StringVar(&f.addr, "addr", "127.0.0.1:8815", "address to listen on (HOST:PORT; port 0 picks a free one)")
	fl.StringVar(&f.out, "out", "", "directory of the Parquet files (required)")
	fl.StringVar(&f.compression, "compression", "zstd", "Parquet compression: none, snappy, zstd or gzip")
	fl.StringVar(&f.tlsCert, "tls-cert", "", "serve TLS with this certificate (PEM); needs --tls-key")
	fl.StringVar(&f.tlsKey, "tls-key", "", "private key (PEM) of --tls-cert")
	fl.StringVar(&f.tlsClientCA, "tls-client-ca", "", "require client certificates signed by this CA (PEM): mutual TLS")
	fl.StringSliceVar(&f.tokenEnv, "token-env", nil, "accept the bearer token in this environment variable (repeatable)")
	fl.StringSliceVar(&f.tokenFile, "token-file", nil, "accept the bearer token in this file (repeatable)")
	fl.StringVar(&f.user, "user", "", "accept this user in Flight's basic-auth handshake; needs --password-env or --password-file")
	fl.StringVar(&f.passwordEnv, "password-env", "", "environment variable holding --user's password")
	fl.StringVar(&f.passwordFile, "password-file", "", "file holding --user's password")
	fl.StringVar(&f.maxMessageBytes, "max-message-bytes", "4MiB", "largest message received; DoGet cuts its batches to it")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long running puts may take to finish")
	return cmd
}

func flightServe(cmd *cobra.Command, f *flightServeFlags) error {
	opts, err := f.options(os.LookupEnv)
	if err != nil {
		return exitWith(exitInvalid, err)
	}
	opts.Logger = flightServeLogger(cmd)
	srv, err := flightserve.New(opts)
	if err != nil {
		return exitWith(exitFailed, err)
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", f.addr)
	if err != nil {
		return exitWith(exitFailed, fmt.Errorf("flight-serve: %w", err))
	}
	scheme := "grpc"
	if opts.TLS != nil {
		scheme = "grpc+tls"
	}
	fmt.Fprintf(cmd.OutOrStdout(), "flight-serve: listening on %s://%s, writing Parquet under %s\n", scheme, lis.Addr(), srv.Dir())

	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	select {
	case err := <-served:
		if err != nil {
			return exitWith(exitFailed, fmt.Errorf("flight-serve: %w", err))
		}
		return nil
	case <-ctx.Done():
	}
	// Let running puts finish (they commit or are sent again), then stop.
	graceful := make(chan struct{})
	go func() { srv.GracefulStop(); close(graceful) }()
	select {
	case <-graceful:
	case <-time.After(f.shutdownTimeout):
		srv.Stop()
	}
	<-served
	st := srv.Stats()
	fmt.Fprintf(cmd.OutOrStdout(), "flight-serve: stopped; %d puts, %d rows stored, %d rows and %d puts received again and skipped\n",
		st.Puts, st.Rows, st.SkippedRows, st.DuplicatePuts)
	return nil
}

// options turns the flags into server options, reporting every problem at once.
func (f *flightServeFlags) options(lookupEnv func(string) (string, bool)) (flightserve.Options, error) {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	opts := flightserve.Options{Dir: f.out, Compression: f.compression}
	if f.out == "" {
		bad("--out: required (the directory of the Parquet files)")
	}
	var size files.ByteSize
	if err := size.UnmarshalText([]byte(f.maxMessageBytes)); err != nil {
		bad("--max-message-bytes: %v", err)
	} else if size < 64<<10 || size > 1<<30 {
		bad("--max-message-bytes: %s out of range (want 64KiB to 1GiB)", f.maxMessageBytes)
	}
	opts.MaxMessageBytes = int(size)

	switch {
	case (f.tlsCert == "") != (f.tlsKey == ""):
		bad("--tls-cert and --tls-key go together")
	case f.tlsCert != "":
		cert, err := tls.LoadX509KeyPair(f.tlsCert, f.tlsKey)
		if err != nil {
			bad("--tls-cert, --tls-key: %v", err)
			break
		}
		opts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	if f.tlsClientCA != "" {
		if opts.TLS == nil {
			bad("--tls-client-ca needs --tls-cert and --tls-key")
		} else if pem, err := os.ReadFile(f.tlsClientCA); err != nil {
			bad("--tls-client-ca: %v", err)
		} else {
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				bad("--tls-client-ca: no PEM certificate in %s", f.tlsClientCA)
			}
			opts.TLS.ClientCAs, opts.TLS.ClientAuth = pool, tls.RequireAndVerifyClientCert
		}
	}

	for _, name := range f.tokenEnv {
		if v, ok := lookupEnv(name); !ok || strings.TrimSpace(v) == "" {
			bad("--token-env: environment variable %s is not set (or empty)", name)
		} else {
			opts.Tokens = append(opts.Tokens, strings.TrimSpace(v))
		}
	}
	for _, path := range f.tokenFile {
		if b, err := os.ReadFile(path); err != nil {
			bad("--token-file: %v", err)
		} else if v := strings.TrimSpace(string(b)); v == "" {
			bad("--token-file: %s is empty", path)
		} else {
			opts.Tokens = append(opts.Tokens, v)
		}
	}
	switch {
	case f.user == "" && (f.passwordEnv != "" || f.passwordFile != ""):
		bad("--password-env and --password-file need --user")
	case f.user != "" && (f.passwordEnv == "") == (f.passwordFile == ""):
		bad("--user needs one of --password-env or --password-file")
	case f.passwordEnv != "":
		if v, ok := lookupEnv(f.passwordEnv); !ok || v == "" {
			bad("--password-env: environment variable %s is not set (or empty)", f.passwordEnv)
		} else {
			opts.Users = map[string]string{f.user: v}
		}
	case f.passwordFile != "":
		if b, err := os.ReadFile(f.passwordFile); err != nil {
			bad("--password-file: %v", err)
		} else {
			opts.Users = map[string]string{f.user: strings.TrimSpace(string(b))}
		}
	}
	return opts, errors.Join(errs...)
}

// flightServeLogger logs to stderr at the root's --log-level and --log-format
// when the command runs under the root, at info in text otherwise.
func flightServeLogger(cmd *cobra.Command) *slog.Logger {
	level, format := slog.LevelInfo, "text"
	if fl := cmd.Flags().Lookup("log-level"); fl != nil {
		_ = level.UnmarshalText([]byte(fl.Value.String()))
	}
	if fl := cmd.Flags().Lookup("log-format"); fl != nil {
		format = fl.Value.String()
	}
	opts := &slog.HandlerOptions{Level: level}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(cmd.ErrOrStderr(), opts))
	}
	return slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), opts))
}

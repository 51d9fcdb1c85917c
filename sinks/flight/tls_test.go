package flight_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/sinks/flight"
	"github.com/etl-toolkit/etl/sinks/flight/flightserve"
)

// pki is a throwaway certificate authority with a server certificate for
// 127.0.0.1 and a client certificate, as PEM files in a temp directory.
type pki struct {
	caFile, serverCert, serverKey, clientCert, clientKey string
	pool                                                 *x509.CertPool
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	dir := t.TempDir()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "etl test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	p := &pki{pool: x509.NewCertPool()}
	p.pool.AddCert(ca)
	p.caFile = writePEM(t, dir, "ca.pem", "CERTIFICATE", caDER)
	issue := func(name string, serial int64, usage x509.ExtKeyUsage, ips []net.IP) (string, string) {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		tmpl := &x509.Certificate{
			SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: ips, DNSNames: []string{name},
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		keyDER, err := x509.MarshalECPrivateKey(key)
		if err != nil {
			t.Fatal(err)
		}
		return writePEM(t, dir, name+".pem", "CERTIFICATE", der), writePEM(t, dir, name+"-key.pem", "EC PRIVATE KEY", keyDER)
	}
	p.serverCert, p.serverKey = issue("flight.test", 2, x509.ExtKeyUsageServerAuth, []net.IP{net.IPv4(127, 0, 0, 1)})
	p.clientCert, p.clientKey = issue("etl-client", 3, x509.ExtKeyUsageClientAuth, nil)
	return p
}

func writePEM(t testing.TB, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// serverTLS returns the server side: its certificate, and with mutual set,
// client certificates required and checked against the CA.
func (p *pki) serverTLS(t testing.TB, mutual bool) *tls.Config {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(p.serverCert, p.serverKey)
	if err != nil {
		t.Fatal(err)
	}
	c := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if mutual {
		c.ClientAuth, c.ClientCAs = tls.RequireAndVerifyClientCert, p.pool
	}
	return c
}

// TestTLS puts a batch over TLS and mutual TLS with generated certificates,
// and checks that every misconfiguration fails with a message that says why.
func TestTLS(t *testing.T) {
	p := newPKI(t)
	tests := []struct {
		name    string
		mutual  bool
		scheme  string
		tls     flight.TLSConfig
		wantErr string // "" for success
	}{
		{"ca_file", false, "grpc+tls", flight.TLSConfig{CAFile: p.caFile}, ""},
		{"server_name", false, "grpc+tls", flight.TLSConfig{CAFile: p.caFile, ServerName: "flight.test"}, ""},
		{"insecure_skip_verify", false, "grpc+tls", flight.TLSConfig{InsecureSkipVerify: true}, ""},
		{"mutual", true, "grpc+tls", flight.TLSConfig{CAFile: p.caFile, CertFile: p.clientCert, KeyFile: p.clientKey}, ""},
		{"unknown CA", false, "grpc+tls", flight.TLSConfig{}, "certificate signed by unknown authority"},
		{"wrong server_name", false, "grpc+tls", flight.TLSConfig{CAFile: p.caFile, ServerName: "other.test"}, "other.test"},
		{"mutual without client certificate", true, "grpc+tls", flight.TLSConfig{CAFile: p.caFile}, "certificate"},
		{"plaintext to a TLS server", false, "grpc", flight.TLSConfig{}, "Unavailable"},
		{"missing ca_file", false, "grpc+tls", flight.TLSConfig{CAFile: filepath.Join(t.TempDir(), "nope.pem")}, "tls.ca_file"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mem := memory.NewCheckedAllocator(memory.NewGoAllocator())
			defer mem.AssertSize(t, 0)
			_, addr := serve(t, flightserve.Options{TLS: p.serverTLS(t, tt.mutual)})
			s := newSink(t, addr, mem, func(c *flight.Config) {
				c.Location, c.TLS = tt.scheme+"://"+addr, tt.tls
				c.Retry.MaxElapsed = 500 * time.Millisecond
			})
			defer s.Close() // before the allocator check
			start := time.Now()
			err := putSample(s, mem)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("got %v, want success", err)
			case tt.wantErr != "" && err == nil:
				t.Fatalf("got success, want an error about %q", tt.wantErr)
			case tt.wantErr != "" && !strings.Contains(err.Error(), tt.wantErr):
				t.Fatalf("got %v, want an error about %q", err, tt.wantErr)
			}
			if err != nil {
				t.Logf("error: %v", err)
			}
			if tt.wantErr == "certificate signed by unknown authority" && time.Since(start) > 400*time.Millisecond {
				t.Errorf("a certificate error took %s: retried, want it to fail at once", time.Since(start))
			}
		})
	}
}

// putSample writes the sample batches of one unit and prepares them.
func putSample(s core.Sink, mem memory.Allocator) error {
	batches := coretest.SampleBatches(mem, "unit-a", 2, 50)
	defer func() {
		for _, b := range batches {
			b.Release()
		}
	}()
	ctx := context.Background()
	for _, b := range batches {
		if err := s.Write(ctx, b); err != nil {
			return err
		}
	}
	_, err := s.Prepare(ctx)
	return err
}

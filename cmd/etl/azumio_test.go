package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/etl-toolkit/etl/sources/azumio"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// azumioRoot is the command tree the Azumio commands hang in: etl emulate
// azumio, etl auth azumio and etl azumio.
func azumioRoot() *cobra.Command {
	root := &cobra.Command{Use: "etl", SilenceUsage: true, SilenceErrors: true}
	emulate := &cobra.Command{Use: "emulate"}
	emulate.AddCommand(newEmulateAzumioCmd())
	auth := &cobra.Command{Use: "auth"}
	auth.AddCommand(newAuthAzumioCmd())
	root.AddCommand(emulate, auth)
	root.AddCommand(azumioCommands()...)
	return root
}

// startCommand runs the command line args in the background with its output
// on a pipe; it returns a reader of the output and a function that cancels the
// command and returns its error.
func startCommand(t *testing.T, args ...string) (*bufio.Reader, func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	root := azumioRoot()
	root.SetArgs(args)
	root.SetOut(pw)
	root.SetErr(pw)
	done := make(chan error, 1)
	go func() {
		err := root.ExecuteContext(ctx)
		pw.Close()
		done <- err
	}()
	br := bufio.NewReader(pr)
	var once sync.Once
	var err error
	stop := func() error {
		once.Do(func() {
			cancel()
			go io.Copy(io.Discard, br)
			select {
			case err = <-done:
			case <-time.After(10 * time.Second):
				t.Errorf("%v: still running 10s after cancel", args)
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return br, stop
}

// lineWith reads output lines until one contains s.
func lineWith(t *testing.T, r *bufio.Reader, s string) string {
	t.Helper()
	for {
		line, err := r.ReadString('\n')
		if strings.Contains(line, s) {
			return strings.TrimSpace(line)
		}
		if err != nil {
			t.Fatalf("output ended without a line containing %q: %v", s, err)
		}
	}
}

// runCommand runs the command line args to its end and returns its output.
func runCommand(args ...string) (string, error) {
	root := azumioRoot()
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.Execute()
	return out.String(), err
}

func exitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return -1
	}
	return 0
}

func TestEmulateAzumioServesARunnablePipeline(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "secrets", "azumio-tokens.json")
	out, stop := startCommand(t, "emulate", "azumio", "--addr", "127.0.0.1:0", "--users", "2", "--checkins", "30",
		"--seed", "9", "--tokens", tokens, "--fail-503", "2", "--unknown-fields")
	url := strings.TrimPrefix(lineWith(t, out, "Azumio emulator at "), "Azumio emulator at ")
	lineWith(t, out, "Ctrl-C stops it.")
	if st, err := os.Stat(tokens); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file: %v, %v; want mode 0600", st, err)
	}

	// A real `etl run` (the test binary as etl) exports it.
	writeFile(t, dir, "p.yaml", `version: 1
name: emulated
state: ./state
source:
  plugin: azumio
  config:
    base_url: `+url+`
    client_id: `+azumiotest.DefaultClientID+`
    client_secret: emulator-secret
    tokens: ./secrets/azumio-tokens.json
    retry: { tries: 4, initial: 5ms }
sinks:
  - plugin: csv
    config: { path: ./out, partition_by: [stream] }
`)
	stdout, stderr, code := etl(t, dir, "run", "--progress", "none", "p.yaml")
	if code != 0 {
		t.Fatalf("etl run: exit %d\n%s\n%s", code, stdout, stderr)
	}
	ref := azumiotest.New(azumiotest.Options{Seed: 9, Users: 2, Checkins: 30})
	want := len(ref.Checkins("10001")) + len(ref.Checkins("10002"))
	rows := 0
	for _, r := range committedRows(t, filepath.Join(dir, "out")) {
		if strings.HasPrefix(r, "stream=azumio.checkins.") {
			rows++
			if !strings.Contains(r, "heartbeatVariability") && !strings.Contains(r, ",true,") {
				t.Errorf("row without the unknown fields: %s", r)
			}
		}
	}
	if rows != want {
		t.Errorf("got %d check-in rows, want %d", rows, want)
	}
	if err := stop(); err != nil {
		t.Errorf("emulate after Ctrl-C: got %v, want nil", err)
	}
}

func TestEmulateAzumioListensOnLoopbackOnly(t *testing.T) {
	_, err := runCommand("emulate", "azumio", "--addr", "0.0.0.0:0", "--tokens", filepath.Join(t.TempDir(), "t.json"))
	if exitCode(err) != exitInvalid || !strings.Contains(err.Error(), "loopback") {
		t.Errorf("got %v, want exit %d saying the address must be loopback", err, exitInvalid)
	}
}

func TestAuthAzumioStoresTheUsersToken(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Users: 3, Checkins: 1, TokenTTL: time.Hour})
	srv.SetAuthorizeUser("10002")
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	// Another user is already there and must stay.
	if err := os.WriteFile(tokens, []byte(`{"users": {"555": {"access_token": "old"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, stop := startCommand(t, "auth", "azumio", "--no-browser", "--base-url", srv.URL(), "--client-id", srv.ClientID(),
		"--client-secret", srv.ClientSecret(), "--tokens", tokens)
	lineWith(t, out, "Open this URL")
	loginURL := lineWith(t, out, "/api2/authorize?")
	// The browser: follow the redirect to the command's loopback callback.
	resp, err := http.Get(loginURL)
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(page), "user 10002 is logged in") {
		t.Errorf("browser page: got %s", page)
	}
	if line := lineWith(t, out, "logged in"); !strings.Contains(line, "user 10002") || !strings.Contains(line, tokens) {
		t.Errorf("output: got %q", line)
	}
	if err := stop(); err != nil {
		t.Fatalf("auth: %v", err)
	}
	store, err := azumio.OpenTokens(tokens)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(store.Users(), ","); got != "10002,555" {
		t.Errorf("tokens file users: got %s, want 10002,555", got)
	}
	tok, _ := store.Get("10002")
	if tok.AccessToken != srv.Tokens()["10002"].AccessToken || tok.RefreshToken == "" || tok.Expiry.IsZero() {
		t.Errorf("stored token: got %+v, want the emulator's newest, with refresh token and expiry", tok)
	}
}

func TestAuthAzumioNeedsSettings(t *testing.T) {
	_, err := runCommand("auth", "azumio", "--no-browser")
	if exitCode(err) != exitInvalid || !strings.Contains(err.Error(), "client_id: missing") {
		t.Errorf("got %v, want exit %d naming client_id", err, exitInvalid)
	}
	dir := t.TempDir()
	writeFile(t, dir, "p.yaml", "version: 1\nname: x\nsource:\n  plugin: azumio\n  config: { base_url: emulator }\nsinks:\n  - plugin: discard\n")
	_, err = runCommand("auth", "azumio", "--no-browser", filepath.Join(dir, "p.yaml"))
	if exitCode(err) != exitInvalid || !strings.Contains(err.Error(), "etl emulate azumio") {
		t.Errorf("emulator pipeline: got %v, want exit %d pointing at etl emulate azumio", err, exitInvalid)
	}
}

func TestAzumioSubscriptions(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Users: 2, Checkins: 1})
	dir := t.TempDir()
	tokens := filepath.Join(dir, "tokens.json")
	if err := srv.WriteTokens(tokens); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "p.yaml", `version: 1
name: nightly
source:
  plugin: azumio
  config: { base_url: "`+srv.URL()+`", client_id: `+srv.ClientID()+`, tokens: "`+tokens+`" }
sinks:
  - plugin: discard
`)
	p := filepath.Join(dir, "p.yaml")
	cb := "https://hooks.example/azumio"
	out, err := runCommand("azumio", "subscriptions", "add", p, "--url", cb, "--types", "steps,sleeptime")
	if err != nil || !strings.Contains(out, "user 10001 subscribed") || !strings.Contains(out, "user 10002 subscribed") {
		t.Fatalf("add: got %v\n%s", err, out)
	}
	if got, types := srv.Subscribed("10002"); got != cb || strings.Join(types, ",") != "steps,sleeptime" {
		t.Errorf("emulator: user 10002 subscribed to %q %v", got, types)
	}
	out, err = runCommand("azumio", "subscriptions", "list", p, "--user", "10001")
	if err != nil || !strings.Contains(out, "10001  "+cb+"  steps,sleeptime") || strings.Contains(out, "10002") {
		t.Errorf("list --user 10001: got %v\n%s", err, out)
	}
	out, err = runCommand("azumio", "subscriptions", "remove", p, "--user", "10001")
	if err != nil || !strings.Contains(out, "user 10001 unsubscribed") {
		t.Errorf("remove: got %v\n%s", err, out)
	}
	if got, _ := srv.Subscribed("10001"); got != "" {
		t.Errorf("after remove: user 10001 still subscribed to %s", got)
	}
	// Removing again fails for that user, says so, and exits 1.
	out, err = runCommand("azumio", "subscriptions", "remove", p, "--user", "10001")
	if exitCode(err) != exitFailed || !strings.Contains(out, "user 10001") || !strings.Contains(out, "404") {
		t.Errorf("remove twice: got %v\n%s", err, out)
	}
	// Flags override the pipeline: a bad client id is a 401 for every user.
	_, err = runCommand("azumio", "subscriptions", "list", p, "--client-id", "nobody")
	if exitCode(err) != exitFailed || !strings.Contains(err.Error(), "2 of 2 users failed") {
		t.Errorf("wrong client id: got %v", err)
	}
}

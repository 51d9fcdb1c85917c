package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/oauth2"

	"github.com/etl-toolkit/etl/sources/asi"
	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// asiRunCmd runs cmd with args and stdin to its end and returns its output.
func asiRunCmd(t *testing.T, cmd *cobra.Command, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&out)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(context.Background())
	return out.String(), err
}

// asiStartCmd runs cmd in the background; lines delivers its output line by
// line, and stop cancels it and returns its error.
func asiStartCmd(t *testing.T, cmd *cobra.Command, args ...string) (lines <-chan string, stop func() error) {
	t.Helper()
	pr, pw := io.Pipe()
	cmd.SetArgs(args)
	cmd.SetOut(pw)
	cmd.SetErr(pw)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		err := cmd.ExecuteContext(ctx)
		pw.Close()
		done <- err
	}()
	ch := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			ch <- sc.Text()
		}
		close(ch)
	}()
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		for range ch {
		}
		return <-done
	}
	t.Cleanup(func() { stop() })
	return ch, stop
}

// asiWaitLine returns the first line with prefix, failing after 10s.
func asiWaitLine(t *testing.T, lines <-chan string, prefix string) string {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("output ended without a line starting with %q", prefix)
			}
			if strings.HasPrefix(strings.TrimSpace(l), prefix) {
				return strings.TrimSpace(l)
			}
		case <-timeout:
			t.Fatalf("no line starting with %q within 10s", prefix)
		}
	}
}

func asiExitCode(err error) int {
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code
	}
	if err != nil {
		return -1
	}
	return 0
}

// asiWhoami reads the account of a tokens file's tokens.
func asiWhoami(t *testing.T, baseURL, tokens string) string {
	t.Helper()
	auth := asi.NewAuth(asi.AuthOptions{BaseURL: baseURL, ClientID: asitest.ClientID, ClientSecret: asitest.ClientSecret, Tokens: tokens})
	c, err := asi.NewClient(asi.ClientOptions{BaseURL: baseURL, Tokens: auth})
	if err != nil {
		t.Fatal(err)
	}
	var me struct {
		Username string `json:"username"`
	}
	if err := c.Do(context.Background(), "GET", "/api/v1/users/me/", nil, nil, &me); err != nil {
		t.Fatalf("users/me with %s: %v", tokens, err)
	}
	return me.Username
}

func TestEmulateASI(t *testing.T) {
	dir := t.TempDir()
	tokens := filepath.Join(dir, "asi-tokens.json")
	lines, stop := asiStartCmd(t, newEmulateASICmd(), "--addr", "127.0.0.1:0", "--tokens", tokens, "--seed", "5", "--devices", "2", "--fail-503-every", "1000")
	first := asiWaitLine(t, lines, "ASI emulator at ")
	baseURL := strings.Fields(strings.TrimPrefix(first, "ASI emulator at "))[0]
	for _, want := range []string{"client id", "client secret", "managers", "access token", "tokens", "Ctrl-C stops it."} {
		asiWaitLine(t, lines, want)
	}
	if got := asiWhoami(t, baseURL, tokens); got != "manager1" {
		t.Errorf("tokens file of the emulator: got user %q, want manager1", got)
	}
	if err := stop(); err != nil {
		t.Errorf("stopping: got %v, want nil", err)
	}

	_, err := asiRunCmd(t, newEmulateASICmd(), "", "--addr", "0.0.0.0:0")
	if asiExitCode(err) != exitInvalid || !strings.Contains(err.Error(), "not a loopback address") {
		t.Errorf("--addr 0.0.0.0:0: got %v, want exit 2 refusing a non-loopback address", err)
	}
	_, err = asiRunCmd(t, newEmulateASICmd(), "", "--rate", "500")
	if asiExitCode(err) != exitInvalid || !strings.Contains(err.Error(), "rate") {
		t.Errorf("--rate 500: got %v, want exit 2 naming rate", err)
	}
}

func TestAuthASIPasswordGrantAndRevoke(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	tokens := filepath.Join(t.TempDir(), "t.json")
	t.Setenv(envASIClientSecret, asitest.ClientSecret)
	t.Setenv(envASIPassword, "")
	flags := []string{"--base-url", emu.URL(), "--client-id", asitest.ClientID, "--tokens", tokens}

	// The password from stdin.
	out, err := asiRunCmd(t, newAuthASICmd(), asitest.Password+"\n", append(flags, "--username", "manager1")...)
	if err != nil {
		t.Fatalf("auth: %v\n%s", err, out)
	}
	if !strings.Contains(out, "logged in as manager1 (manager); tokens stored in "+tokens) {
		t.Errorf("output: got %q", out)
	}
	if strings.Contains(out, asitest.Password+"\n") || strings.Contains(out, asitest.ClientSecret) {
		t.Errorf("output holds a secret: %q", out)
	}
	if fi, err := os.Stat(tokens); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("tokens file: %v, mode %v, want 0600", err, fi.Mode().Perm())
	}

	// A wrong password: refused, with the service's reason and no password.
	t.Setenv(envASIPassword, "wrong-password")
	_, err = asiRunCmd(t, newAuthASICmd(), "", append(flags, "--username", "manager1")...)
	if asiExitCode(err) != exitFailed || !strings.Contains(err.Error(), "invalid_grant") || strings.Contains(err.Error(), "wrong-password") {
		t.Errorf("wrong password: got %v, want exit 1 with invalid_grant and no password", err)
	}

	out, err = asiRunCmd(t, newAuthASICmd(), "", append(flags, "--revoke")...)
	if err != nil || !strings.Contains(out, "tokens revoked") {
		t.Fatalf("revoke: %v\n%s", err, out)
	}
	if _, err := os.Stat(tokens); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("after --revoke the tokens file is still there")
	}
	if st := emu.Stats(); st.Revoked != 1 {
		t.Errorf("revocations at the service: got %d, want 1", st.Revoked)
	}

	_, err = asiRunCmd(t, newAuthASICmd(), "", "--base-url", emu.URL())
	if asiExitCode(err) != exitInvalid || !strings.Contains(err.Error(), "client_id") || !strings.Contains(err.Error(), "tokens") {
		t.Errorf("no settings: got %v, want exit 2 naming what is missing", err)
	}
}

// TestAuthASICodeFlow logs in through the printed URL, as a browser would.
func TestAuthASICodeFlow(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	dir := t.TempDir()
	tokens := filepath.Join(dir, "t.json")
	t.Setenv(envASIClientSecret, asitest.ClientSecret)
	p := writeFile(t, dir, "p.yaml", `version: 1
name: asi
source:
  plugin: asi
  config:
    base_url: `+emu.URL()+`
    client_id: `+asitest.ClientID+`
    client_secret: ${ASI_CLIENT_SECRET}
    tokens: `+tokens+`
sinks:
  - plugin: discard
`)
	lines, stop := asiStartCmd(t, newAuthASICmd(), p, "--no-browser")
	asiWaitLine(t, lines, "Open this URL")
	authURL := asiWaitLine(t, lines, emu.URL()+"/oauth2/authorize/")
	u, _ := url.Parse(authURL)
	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar}
	form := u.Query()
	form.Set("action", "login")
	form.Set("username", "manager1")
	form.Set("password", asitest.Password)
	if _, err := browser.PostForm(emu.URL()+"/oauth2/authorize/", form); err != nil {
		t.Fatal(err)
	}
	form.Set("action", "allow")
	resp, err := browser.PostForm(emu.URL()+"/oauth2/authorize/", form)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	asiWaitLine(t, lines, "logged in as manager1 (manager)")
	if err := stop(); err != nil {
		t.Fatalf("auth: %v", err)
	}
	if got := asiWhoami(t, emu.URL(), tokens); got != "manager1" {
		t.Errorf("tokens file: got user %q, want manager1", got)
	}
	if n := emu.Stats().Grants["authorization_code"]; n != 1 {
		t.Errorf("authorization_code grants: got %d, want 1", n)
	}
}

func TestASIWebhooks(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	tokens := filepath.Join(t.TempDir(), "t.json")
	tok, _ := emu.IssueToken("manager1")
	if err := asi.WriteTokens(tokens, emu.URL(), asitest.ClientID, asiTokenOf(tok)); err != nil {
		t.Fatal(err)
	}
	t.Setenv(envASIClientSecret, asitest.ClientSecret)
	t.Setenv(envASIWebhookSecret, "56789ABCD")
	flags := []string{"--base-url", emu.URL(), "--client-id", asitest.ClientID, "--tokens", tokens, "--activity", "1"}
	run := func(args ...string) string {
		t.Helper()
		out, err := asiRunCmd(t, newASICmd(), "", append(append([]string{"webhooks"}, args...), flags...)...)
		if err != nil {
			t.Fatalf("webhooks %s: %v\n%s", args[0], err, out)
		}
		return out
	}
	out := run("add", "--url", "http://127.0.0.1:9/asi", "--timeframes-events=true", "--activity-events=false")
	if !strings.Contains(out, "http://127.0.0.1:9/asi") || !strings.Contains(out, "56*******") || strings.Contains(out, "56789ABCD") {
		t.Errorf("add: got\n%s\nwant the webhook with its secret masked", out)
	}
	id := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1])[0]
	out = run("update", "--id", id, "--url", "http://127.0.0.1:9/other", "--activity-events")
	if row := strings.Fields(strings.Split(strings.TrimSpace(out), "\n")[1]); len(row) != 5 || row[1] != "http://127.0.0.1:9/other" || row[3] != "true" || row[4] != "true" {
		t.Errorf("update: got\n%s", out)
	}
	out = run("list")
	if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.HasPrefix(lines[1], id+" ") {
		t.Errorf("list: got\n%s\nwant one webhook", out)
	}
	out = run("remove", "--id", id)
	if !strings.Contains(out, "webhook "+id+" of activity 1 removed") {
		t.Errorf("remove: got %q", out)
	}
	if out = run("list"); strings.Count(strings.TrimSpace(out), "\n") != 0 {
		t.Errorf("list after remove: got\n%s\nwant the header only", out)
	}

	_, err := asiRunCmd(t, newASICmd(), "", "webhooks", "list", "--base-url", emu.URL())
	if err == nil || !strings.Contains(err.Error(), "activity") {
		t.Errorf("no --activity: got %v, want an error naming it", err)
	}
	_, err = asiRunCmd(t, newASICmd(), "", append([]string{"webhooks", "update", "--id", "1"}, flags...)...)
	if asiExitCode(err) != exitInvalid || !strings.Contains(err.Error(), "nothing to change") {
		t.Errorf("update without changes: got %v, want exit 2", err)
	}
	_, err = asiRunCmd(t, newASICmd(), "", append([]string{"webhooks", "remove", "--id", "12345"}, flags...)...)
	if asiExitCode(err) != exitFailed || !strings.Contains(err.Error(), "404") {
		t.Errorf("remove an unknown webhook: got %v, want exit 1 with the 404", err)
	}
}

func asiTokenOf(t asitest.Token) *oauth2.Token {
	return &oauth2.Token{AccessToken: t.AccessToken, RefreshToken: t.RefreshToken, TokenType: "Bearer", Expiry: t.Expiry}
}

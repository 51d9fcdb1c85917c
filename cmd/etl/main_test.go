package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The test binary doubles as the etl binary: with ETL_TEST_ARGS set it runs the
// CLI with those arguments (separated by newlines) instead of the tests, so tests
// start, signal and kill real etl processes without a separate build.
func TestMain(m *testing.M) {
	if args, ok := os.LookupEnv("ETL_TEST_ARGS"); ok {
		os.Exit(execute(strings.Split(args, "\n")))
	}
	os.Exit(m.Run())
}

// etlCmd returns a command running `etl args...` in dir.
func etlCmd(t *testing.T, dir string, args ...string) *exec.Cmd {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "ETL_TEST_ARGS="+strings.Join(args, "\n"))
	return cmd
}

// etl runs `etl args...` in dir to completion and returns stdout, stderr and the exit code.
func etl(t *testing.T, dir string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := etlCmd(t, dir, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	}
	if err != nil {
		t.Fatal(err)
	}
	return out.String(), errb.String(), 0
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

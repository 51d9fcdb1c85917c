package duckdbtest

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// QueryTimeout bounds one query; a query that takes longer fails the test and the
// Node process serving it is killed (the next query starts a new one).
var QueryTimeout = 2 * time.Minute

// Result is what a query returned, with the columns in their order.
type Result struct {
	// Columns are the result's column names.
	Columns []string
	// Types are DuckDB's names of the column types, e.g. "TIMESTAMP WITH TIME ZONE".
	Types []string
	// Rows hold one value per column, converted as the package doc says.
	Rows [][]any
}

// Maps returns the rows as maps from column name to value. A column name that
// appears twice keeps the later column's value.
func (r Result) Maps() []map[string]any {
	out := make([]map[string]any, len(r.Rows))
	for i, row := range r.Rows {
		m := make(map[string]any, len(row))
		for j, v := range row {
			m[r.Columns[j]] = v
		}
		out[i] = m
	}
	return out
}

// Query runs sql (one or more statements; the last one's result is returned) in a
// fresh in-memory DuckDB and returns the rows as maps from column name to value.
// Any failure (DuckDB rejecting the SQL, DuckDB not installable) fails t.
func Query(t testing.TB, sql string) []map[string]any {
	t.Helper()
	return Run(t, sql).Maps()
}

// Run is Query keeping the column order and types.
func Run(t testing.TB, sql string) Result {
	t.Helper()
	res, err := run(sql)
	if err != nil {
		t.Fatalf("duckdbtest: %v", err)
	}
	return res
}

// Literal quotes s as an SQL string literal, e.g. for a path in read_parquet('...').
func Literal(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// nodeDir is the directory holding package.json and query.mjs, found from this
// source file so that tests of any package find it.
func nodeDir() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", errors.New("cannot locate the duckdbtest source directory")
	}
	dir := filepath.Join(filepath.Dir(file), "node")
	if _, err := os.Stat(filepath.Join(dir, "query.mjs")); err != nil {
		return "", fmt.Errorf("node helper not found: %w", err)
	}
	return dir, nil
}

// server is the Node process answering queries for this test binary.
var server struct {
	mu     sync.Mutex
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	stdout *bufio.Reader
	stderr *tailBuffer
	nextID int64
}

type response struct {
	ID      int64         `json:"id"`
	Error   string        `json:"error"`
	Columns []string      `json:"columns"`
	Types   []string      `json:"types"`
	Rows    [][]wireValue `json:"rows"`
}

func run(sql string) (Result, error) {
	dir, err := nodeDir()
	if err != nil {
		return Result{}, err
	}
	if err := ensureInstalled(dir); err != nil {
		return Result{}, err
	}

	server.mu.Lock()
	defer server.mu.Unlock()
	if server.cmd == nil {
		if err := startServer(dir); err != nil {
			return Result{}, err
		}
	}
	server.nextID++
	id := server.nextID
	req, err := json.Marshal(map[string]any{"id": id, "sql": sql})
	if err != nil {
		return Result{}, err
	}
	type reply struct {
		line []byte
		err  error
	}
	done := make(chan reply, 1)
	go func() {
		if _, err := server.stdin.Write(append(req, '\n')); err != nil {
			done <- reply{err: err}
			return
		}
		line, err := server.stdout.ReadBytes('\n')
		done <- reply{line, err}
	}()
	var r reply
	select {
	case r = <-done:
	case <-time.After(QueryTimeout):
		stopServer()
		<-done
		return Result{}, fmt.Errorf("query did not finish within %s: %s", QueryTimeout, sql)
	}
	if r.err != nil {
		msg := server.stderr.String()
		stopServer()
		return Result{}, fmt.Errorf("node query.mjs stopped (%v); its stderr: %s", r.err, msg)
	}
	var resp response
	if err := json.Unmarshal(r.line, &resp); err != nil {
		stopServer()
		return Result{}, fmt.Errorf("bad reply from query.mjs: %w: %.200s", err, r.line)
	}
	if resp.ID != id {
		stopServer()
		return Result{}, fmt.Errorf("reply for query %d, want %d", resp.ID, id)
	}
	if resp.Error != "" {
		return Result{}, fmt.Errorf("duckdb: %s\nquery: %s", resp.Error, sql)
	}
	res := Result{Columns: resp.Columns, Types: resp.Types, Rows: make([][]any, len(resp.Rows))}
	for i, row := range resp.Rows {
		res.Rows[i] = make([]any, len(row))
		for j, v := range row {
			if res.Rows[i][j], err = v.decode(); err != nil {
				return Result{}, fmt.Errorf("row %d column %q: %w", i, resp.Columns[j], err)
			}
		}
	}
	return res, nil
}

func startServer(dir string) error {
	node, err := exec.LookPath("node")
	if err != nil {
		return fmt.Errorf("node (Node.js) is needed to run DuckDB and is not on PATH: %w", err)
	}
	cmd := exec.Command(node, "query.mjs", "--serve")
	cmd.Dir = dir
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	tail := &tailBuffer{max: 16 << 10}
	cmd.Stderr = tail
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start node query.mjs: %w", err)
	}
	// The process ends when this test binary exits: its stdin closes and
	// query.mjs stops reading.
	server.cmd, server.stdin, server.stdout, server.stderr = cmd, stdin, bufio.NewReaderSize(stdout, 1<<20), tail
	return nil
}

func stopServer() {
	if server.cmd == nil {
		return
	}
	server.stdin.Close()
	server.cmd.Process.Kill()
	server.cmd.Wait()
	server.cmd = nil
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if len(b.buf) > b.max {
		b.buf = b.buf[len(b.buf)-b.max:]
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return string(b.buf)
}

// wireValue is one value as query.mjs prints it (see the comment at its top).
type wireValue struct{ raw json.RawMessage }

func (w *wireValue) UnmarshalJSON(b []byte) error {
	w.raw = append(json.RawMessage(nil), b...)
	return nil
}

func (w wireValue) decode() (any, error) {
	raw := bytes.TrimSpace(w.raw)
	if len(raw) == 0 {
		return nil, errors.New("empty value")
	}
	switch raw[0] {
	case 'n':
		return nil, nil
	case 't', 'f':
		var b bool
		err := json.Unmarshal(raw, &b)
		return b, err
	case '"':
		var s string
		err := json.Unmarshal(raw, &s)
		return s, err
	case '[':
		var items []wireValue
		if err := json.Unmarshal(raw, &items); err != nil {
			return nil, err
		}
		out := make([]any, len(items))
		for i, it := range items {
			v, err := it.decode()
			if err != nil {
				return nil, err
			}
			out[i] = v
		}
		return out, nil
	case '{':
		var tagged map[string]json.RawMessage
		if err := json.Unmarshal(raw, &tagged); err != nil {
			return nil, err
		}
		if len(tagged) != 1 {
			return nil, fmt.Errorf("want one tag, got %s", raw)
		}
		for tag, body := range tagged {
			return decodeTagged(tag, body)
		}
	}
	return nil, fmt.Errorf("unexpected value %s", raw)
}

func decodeTagged(tag string, body json.RawMessage) (any, error) {
	var text string
	switch tag {
	case "i", "f", "t", "d", "b":
		if err := json.Unmarshal(body, &text); err != nil {
			return nil, err
		}
	}
	switch tag {
	case "i":
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return n, nil
		}
		if n, err := strconv.ParseUint(text, 10, 64); err == nil {
			return n, nil
		}
		return text, nil
	case "f":
		switch text {
		case "NaN":
			return math.NaN(), nil
		case "Infinity":
			return math.Inf(1), nil
		case "-Infinity":
			return math.Inf(-1), nil
		}
		return strconv.ParseFloat(text, 64)
	case "t", "d":
		return text, nil
	case "b":
		return base64.StdEncoding.DecodeString(text)
	case "s":
		var fields map[string]wireValue
		if err := json.Unmarshal(body, &fields); err != nil {
			return nil, err
		}
		out := make(map[string]any, len(fields))
		for k, f := range fields {
			v, err := f.decode()
			if err != nil {
				return nil, err
			}
			out[k] = v
		}
		return out, nil
	case "m":
		var entries [][2]wireValue
		if err := json.Unmarshal(body, &entries); err != nil {
			return nil, err
		}
		out := make([]any, len(entries))
		for i, e := range entries {
			k, err := e[0].decode()
			if err != nil {
				return nil, err
			}
			v, err := e[1].decode()
			if err != nil {
				return nil, err
			}
			out[i] = map[string]any{"key": k, "value": v}
		}
		return out, nil
	case "u":
		var pair struct {
			Tag   string
			Value wireValue
		}
		var arr []json.RawMessage
		if err := json.Unmarshal(body, &arr); err != nil || len(arr) != 2 {
			return nil, fmt.Errorf("bad union %s", body)
		}
		if err := json.Unmarshal(arr[0], &pair.Tag); err != nil {
			return nil, err
		}
		pair.Value.raw = arr[1]
		v, err := pair.Value.decode()
		if err != nil {
			return nil, err
		}
		return map[string]any{pair.Tag: v}, nil
	}
	return nil, fmt.Errorf("unknown tag %q", tag)
}

package core

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/arrow-go/v18/arrow"
)

// DeadLetter is one rejected row: where it came from, why, and its original value.
type DeadLetter struct {
	Stream    string `json:"stream"`
	Unit      string `json:"unit"`
	Component string `json:"component"`
	Reason    string `json:"reason"`
	// Value is the original row (or message) as JSON.
	Value []byte `json:"-"`
}

// DeadLetters receives rejected rows. Reject must not block for long; it is safe
// for concurrent use.
type DeadLetters interface {
	Reject(ctx context.Context, d DeadLetter) error
}

// deadLetterFile appends rejected rows as JSON Lines to a file created on the first
// rejection, so a clean run leaves no empty file behind. It is synced at each commit.
type deadLetterFile struct {
	path     string
	pipeline string
	mu       sync.Mutex
	f        *os.File
	w        *bufio.Writer
	n        atomic.Int64
}

type deadLetterLine struct {
	Time      time.Time       `json:"time"`
	Pipeline  string          `json:"pipeline"`
	Stream    string          `json:"stream"`
	Unit      string          `json:"unit"`
	Component string          `json:"component"`
	Reason    string          `json:"reason"`
	Value     json.RawMessage `json:"value"`
}

// Reject implements DeadLetters.
func (d *deadLetterFile) Reject(ctx context.Context, dl DeadLetter) error {
	value := json.RawMessage(dl.Value)
	if !json.Valid(value) {
		// Not JSON: keep the bytes as a JSON string so nothing is lost.
		q, _ := json.Marshal(string(dl.Value))
		value = q
	}
	line, err := json.Marshal(deadLetterLine{
		Time: time.Now().UTC(), Pipeline: d.pipeline, Stream: dl.Stream, Unit: dl.Unit,
		Component: dl.Component, Reason: dl.Reason, Value: value,
	})
	if err != nil {
		return fmt.Errorf("core: dead letter: %w", err)
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		if err := os.MkdirAll(filepath.Dir(d.path), 0o755); err != nil {
			return fmt.Errorf("core: dead letter: %w", err)
		}
		f, err := os.OpenFile(d.path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return fmt.Errorf("core: dead letter: %w", err)
		}
		d.f, d.w = f, bufio.NewWriter(f)
	}
	line = append(line, '\n')
	if _, err := d.w.Write(line); err != nil {
		return fmt.Errorf("core: dead letter %s: %w", d.path, err)
	}
	d.n.Add(1)
	return nil
}

// Count returns how many rows were rejected in this run.
func (d *deadLetterFile) Count() int64 { return d.n.Load() }

// Sync flushes and fsyncs what was written so far.
func (d *deadLetterFile) Sync() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f == nil {
		return nil
	}
	if err := d.w.Flush(); err != nil {
		return fmt.Errorf("core: dead letter %s: %w", d.path, err)
	}
	if err := d.f.Sync(); err != nil {
		return fmt.Errorf("core: dead letter %s: %w", d.path, err)
	}
	return nil
}

// Close syncs and closes the file.
func (d *deadLetterFile) Close() error {
	err := d.Sync()
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.f != nil {
		if cerr := d.f.Close(); err == nil {
			err = cerr
		}
		d.f = nil
	}
	return err
}

// RowJSON returns row i of rec as a JSON object, for dead letters.
func RowJSON(rec arrow.RecordBatch, i int) []byte {
	row := rec.NewSlice(int64(i), int64(i)+1)
	defer row.Release()
	b, err := row.MarshalJSON()
	if err != nil {
		return []byte(fmt.Sprintf("%q", err.Error()))
	}
	b = bytes.TrimSpace(b)
	b = bytes.TrimPrefix(b, []byte("["))
	b = bytes.TrimSuffix(b, []byte("]"))
	return bytes.TrimSpace(b)
}

package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/hashicorp/go-hclog"
)

// hclogger is go-plugin's logger on the host: it hands the log lines that a
// plugin writes to stderr (which go-plugin parses and passes on with their
// level, through a logger Named after the executable) to the component's slog
// logger, and turns go-plugin's own messages down to debug, since etl reports
// what matters (a crash, a failed start) in its errors. Hand-written: hclog
// has no slog back-end, and the libraries that bridge the two go the other
// way (an slog.Handler over hclog).
type hclogger struct {
	// out is shared by the loggers made from one another (Named, With), so
	// that labels learnt after the start (the pid) reach all of them.
	out     *atomic.Pointer[slog.Logger]
	relayed bool // true for a plugin's own lines, false for go-plugin's
	name    string
	args    []any
	// exited receives the error of go-plugin's "plugin process exited" message.
	exited func(string)
}

var _ hclog.Logger = (*hclogger)(nil)

func (l *hclogger) Log(level hclog.Level, msg string, args ...any) {
	if !l.relayed {
		if msg == "plugin process exited" && l.exited != nil {
			for i := 0; i+1 < len(args); i += 2 {
				if args[i] == "error" {
					l.exited(fmt.Sprint(args[i+1]))
				}
			}
		}
		level = hclog.Debug
	}
	lvl := slogLevel(level)
	ctx := context.Background()
	log := l.out.Load()
	if !log.Enabled(ctx, lvl) {
		return
	}
	all := make([]any, 0, len(l.args)+len(args))
	all = append(all, l.args...)
	for i := 0; i < len(args); i += 2 {
		if i+1 < len(args) && args[i] == "timestamp" {
			continue // the plugin's own time: slog stamps the record itself
		}
		all = append(all, args[i:min(i+2, len(args))]...)
	}
	log.Log(ctx, lvl, msg, all...)
}

func slogLevel(l hclog.Level) slog.Level {
	switch l {
	case hclog.Trace:
		return slog.LevelDebug - 4
	case hclog.Debug:
		return slog.LevelDebug
	case hclog.Warn:
		return slog.LevelWarn
	case hclog.Error:
		return slog.LevelError
	}
	return slog.LevelInfo
}

func (l *hclogger) Trace(msg string, args ...any) { l.Log(hclog.Trace, msg, args...) }
func (l *hclogger) Debug(msg string, args ...any) { l.Log(hclog.Debug, msg, args...) }
func (l *hclogger) Info(msg string, args ...any)  { l.Log(hclog.Info, msg, args...) }
func (l *hclogger) Warn(msg string, args ...any)  { l.Log(hclog.Warn, msg, args...) }
func (l *hclogger) Error(msg string, args ...any) { l.Log(hclog.Error, msg, args...) }

func (l *hclogger) enabled(level hclog.Level) bool {
	if !l.relayed {
		level = hclog.Debug
	}
	return l.out.Load().Enabled(context.Background(), slogLevel(level))
}

func (l *hclogger) IsTrace() bool { return l.enabled(hclog.Trace) }
func (l *hclogger) IsDebug() bool { return l.enabled(hclog.Debug) }
func (l *hclogger) IsInfo() bool  { return l.enabled(hclog.Info) }
func (l *hclogger) IsWarn() bool  { return l.enabled(hclog.Warn) }
func (l *hclogger) IsError() bool { return l.enabled(hclog.Error) }

func (l *hclogger) ImpliedArgs() []any { return l.args }

func (l *hclogger) With(args ...any) hclog.Logger {
	c := *l
	c.args = append(append([]any(nil), l.args...), args...)
	return &c
}

func (l *hclogger) Name() string { return l.name }

// Named is how go-plugin makes the logger of a plugin's stderr lines.
func (l *hclogger) Named(name string) hclog.Logger {
	c := *l
	c.relayed = true
	if c.name != "" {
		name = c.name + "." + name
	}
	c.name = name
	return &c
}

func (l *hclogger) ResetNamed(name string) hclog.Logger {
	c := *l
	c.relayed, c.name = true, name
	return &c
}

// SetLevel does nothing: the slog logger's handler decides.
func (l *hclogger) SetLevel(hclog.Level) {}

// GetLevel returns the lowest level that gets through, which go-plugin uses
// to skip parsing lines nobody would see.
func (l *hclogger) GetLevel() hclog.Level {
	for _, lv := range []hclog.Level{hclog.Trace, hclog.Debug, hclog.Info, hclog.Warn, hclog.Error} {
		if l.enabled(lv) {
			return lv
		}
	}
	return hclog.Off
}

func (l *hclogger) StandardLogger(*hclog.StandardLoggerOptions) *log.Logger {
	return slog.NewLogLogger(l.out.Load().Handler(), slog.LevelInfo)
}

func (l *hclogger) StandardWriter(opts *hclog.StandardLoggerOptions) io.Writer {
	return l.StandardLogger(opts).Writer()
}

// stderrTail keeps the last lines a plugin wrote to stderr (its log lines and
// anything else, such as a panic's stack), for the error that reports its
// crash.
//
// A panic's first line and the stack after it are kept whole (up to
// panicLines), since the first line says what happened.
type stderrTail struct {
	mu      sync.Mutex
	partial []byte
	lines   []string
	max     int
	inPanic bool
}

// panicLines is how many lines of a panic stderrTail keeps.
const panicLines = 60

func newStderrTail(max int) *stderrTail { return &stderrTail{max: max} }

func (t *stderrTail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			t.partial = append(t.partial, p...)
			if len(t.partial) > 4096 {
				t.push(string(t.partial))
				t.partial = t.partial[:0]
			}
			break
		}
		line := append(t.partial, p[:i]...)
		t.partial = t.partial[:0]
		t.push(string(line))
		p = p[i+1:]
	}
	return n, nil
}

func (t *stderrTail) push(line string) {
	line = strings.TrimRight(line, "\r")
	if strings.TrimSpace(line) == "" {
		return
	}
	if !t.inPanic && (strings.HasPrefix(line, "panic: ") || strings.HasPrefix(line, "fatal error: ")) {
		t.inPanic = true
		t.lines = t.lines[:0]
	}
	if t.inPanic {
		if len(t.lines) < panicLines {
			t.lines = append(t.lines, line)
		}
		return
	}
	t.lines = append(t.lines, readable(line))
	if len(t.lines) > t.max {
		t.lines = t.lines[len(t.lines)-t.max:]
	}
}

// Lines returns the kept lines, oldest first.
func (t *stderrTail) Lines() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := append([]string(nil), t.lines...)
	if len(t.partial) > 0 {
		out = append(out, readable(string(t.partial)))
	}
	return out
}

// readable turns an hclog JSON line into "[LEVEL] message key=value ..."; other
// lines are returned as they are.
func readable(line string) string {
	if !strings.HasPrefix(line, "{") {
		return line
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(line), &m); err != nil {
		return line
	}
	msg, ok := m["@message"].(string)
	if !ok {
		return line
	}
	level, _ := m["@level"].(string)
	var b strings.Builder
	fmt.Fprintf(&b, "[%s] %s", strings.ToUpper(level), msg)
	for k, v := range m {
		if strings.HasPrefix(k, "@") {
			continue
		}
		fmt.Fprintf(&b, " %s=%v", k, v)
	}
	return b.String()
}

// lineLogger logs every line written to it, for what a plugin prints to its
// (redirected) stdout and stderr.
type lineLogger struct {
	log     *slog.Logger
	level   slog.Level
	stream  string
	tail    *stderrTail // also kept here, if set
	mu      sync.Mutex
	partial []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.tail != nil {
		w.tail.Write(p)
	}
	n := len(p)
	for len(p) > 0 {
		i := bytes.IndexByte(p, '\n')
		if i < 0 {
			w.partial = append(w.partial, p...)
			break
		}
		line := string(append(w.partial, p[:i]...))
		w.partial = w.partial[:0]
		if strings.TrimSpace(line) != "" {
			w.log.Log(context.Background(), w.level, line, "output", w.stream)
		}
		p = p[i+1:]
	}
	return n, nil
}

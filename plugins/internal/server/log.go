package server

import (
	"io"
	"log/slog"
	"strings"
)

// hclogTime is the timestamp layout go-plugin's host parses in log lines.
const hclogTime = "2006-01-02T15:04:05.000000Z07:00"

// newLogger returns a logger writing JSON lines in hclog's shape (@level,
// @message, @timestamp and the attributes), which go-plugin's host parses and
// hands to its logger with their level, and etl's host relays into its own
// slog logs under the plugin's name.
func newLogger(w io.Writer, level slog.Level) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{
		Level: level,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) > 0 {
				return a
			}
			switch a.Key {
			case slog.TimeKey:
				return slog.String("@timestamp", a.Value.Time().Format(hclogTime))
			case slog.LevelKey:
				return slog.String("@level", hclogLevel(a.Value.Any().(slog.Level)))
			case slog.MessageKey:
				a.Key = "@message"
			}
			return a
		},
	}))
}

func hclogLevel(l slog.Level) string {
	switch {
	case l < slog.LevelDebug:
		return "trace"
	case l < slog.LevelInfo:
		return "debug"
	case l < slog.LevelWarn:
		return "info"
	case l < slog.LevelError:
		return "warn"
	}
	return "error"
}

// logLevel parses the level the host asks for; info if it is unset or unknown.
func logLevel(s string) slog.Level {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.TrimSpace(s))); err != nil {
		return slog.LevelInfo
	}
	return l
}

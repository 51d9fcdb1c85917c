package reorder

import (
	"fmt"
	"path"
	"time"
)

// Config is the `reorder` transform's `config:` section. Exactly one of
// MaxDelay and BufferSize must be set.
type Config struct {
	// Time names the event-time column.
	Time string `yaml:"time" doc:"event-time column: a timestamp, or a number of time_unit since the UNIX epoch" default:"timestamp"`
	// TimeUnit is the unit of a numeric Time column: s, ms, us or ns.
	TimeUnit string `yaml:"time_unit" doc:"unit of a numeric time column: s, ms, us or ns" default:"ms"`
	// Key lists columns whose values, with the stream and unit, make the key
	// rows are ordered within.
	Key []string `yaml:"key" doc:"extra key columns besides stream and unit, e.g. [timeframe]"`
	// MaxDelay is the watermark lag: rows are released once the key has seen
	// an event time at least this much newer.
	MaxDelay time.Duration `yaml:"max_delay" doc:"watermark = greatest event time seen per key minus max_delay, e.g. 3s (exclusive with buffer_size)"`
	// BufferSize holds at most this many rows per key, releasing the oldest.
	BufferSize int `yaml:"buffer_size" doc:"hold at most this many rows per key and release the oldest (exclusive with max_delay)"`
	// FlushTimeout releases a key's buffer once its newest event time is this
	// far behind the newest of its stream, or, for a live unit, once nothing
	// came for it this long on the wall clock (0: never).
	FlushTimeout time.Duration `yaml:"flush_timeout" doc:"release a key's whole buffer when it is this far behind the newest event time of its stream, or (live units) when nothing came for it this long (0: off)"`
	// Late is what becomes of a row older than one already released.
	Late string `yaml:"late" doc:"late rows: dead_letter, drop or pass" default:"dead_letter"`
	// Streams restricts the transform to streams matching one of these
	// path.Match patterns; others pass unchanged. Empty means every stream.
	Streams []string `yaml:"streams" doc:"only reorder streams matching one of these patterns; default every stream"`
}

// DefaultConfig returns the configuration of an empty `config:` section
// (which still needs max_delay or buffer_size).
func DefaultConfig() Config {
	return Config{Time: "timestamp", TimeUnit: "ms", Late: LateDeadLetter}
}

// Late policies.
const (
	LateDeadLetter = "dead_letter"
	LateDrop       = "drop"
	LatePass       = "pass"
)

var timeUnits = map[string]int64{"s": int64(time.Second), "ms": int64(time.Millisecond), "us": int64(time.Microsecond), "ns": 1}

// check returns every problem of c, each as report(key, format, args...).
func (c Config) check(report func(key, format string, args ...any) error) []error {
	var errs []error
	add := func(key, format string, args ...any) { errs = append(errs, report(key, format, args...)) }
	if c.Time == "" {
		add("time", "must name the event-time column")
	}
	if _, ok := timeUnits[c.TimeUnit]; !ok {
		add("time_unit", "unknown value %q (want one of: s, ms, us, ns)", c.TimeUnit)
	}
	switch {
	case c.MaxDelay < 0:
		add("max_delay", "got %s, want 0 or more", c.MaxDelay)
	case c.BufferSize < 0:
		add("buffer_size", "got %d, want 0 or more", c.BufferSize)
	case c.MaxDelay > 0 && c.BufferSize > 0:
		add("max_delay", "set max_delay or buffer_size, not both")
	case c.MaxDelay == 0 && c.BufferSize == 0:
		add("max_delay", "set max_delay (e.g. 3s) or buffer_size (e.g. 3)")
	}
	if c.FlushTimeout < 0 {
		add("flush_timeout", "got %s, want 0 (off) or more", c.FlushTimeout)
	}
	switch c.Late {
	case LateDeadLetter, LateDrop, LatePass:
	default:
		add("late", "unknown value %q (want one of: dead_letter, drop, pass)", c.Late)
	}
	for i, k := range c.Key {
		if k == "" {
			add(fmt.Sprintf("key[%d]", i), "empty column name")
		}
	}
	for i, p := range c.Streams {
		if _, err := path.Match(p, ""); err != nil {
			add(fmt.Sprintf("streams[%d]", i), "bad pattern %q: %v", p, err)
		}
	}
	return errs
}

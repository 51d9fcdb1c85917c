package core

import (
	"fmt"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// Config is one component's undecoded `config:` section with its place in the
// pipeline file, so that errors found while decoding or checking it point at
// file:line:col.
type Config struct {
	file string
	path string // field path of the section, e.g. "sinks[0].config"
	node ast.Node
}

// ConfigError is one problem in a pipeline file.
type ConfigError struct {
	File      string
	Line, Col int
	Path      string // field path, e.g. "sinks[0].config.compression"
	Msg       string
}

func (e *ConfigError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Line > 0 {
		fmt.Fprintf(&b, "%d:%d:", e.Line, e.Col)
	}
	if b.Len() > 0 {
		b.WriteByte(' ')
	}
	if e.Path != "" {
		b.WriteString(e.Path)
		b.WriteString(": ")
	}
	b.WriteString(e.Msg)
	return b.String()
}

// ConfigErrors is every problem found in a pipeline file or config section, sorted
// by position. It prints one error per line; callers count it with len.
type ConfigErrors []*ConfigError

func (es ConfigErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Decode decodes the section into v (a pointer to the component's config struct).
func (c Config) Decode(v any) error {
	if c.node == nil {
		return nil
	}
	if err := yaml.NodeToValue(c.node, v, yaml.DisallowUnknownField()); err != nil {
		return &ConfigError{File: c.file, Path: c.path, Msg: err.Error()}
	}
	return nil
}

// Errorf returns a ConfigError at key (a path relative to the section, e.g.
// "compression" or "fields.calories.from").
func (c Config) Errorf(key, format string, args ...any) *ConfigError {
	p := c.path
	if key != "" {
		p += "." + key
	}
	return &ConfigError{File: c.file, Path: p, Msg: fmt.Sprintf(format, args...)}
}

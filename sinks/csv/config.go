package csv

import (
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/etl-toolkit/etl/sinks/files"
)

// Config is the `csv` sink's `config:` section.
type Config struct {
	Path        string     `yaml:"path" doc:"root directory of the CSV tree (required)"`
	PartitionBy []string   `yaml:"partition_by" doc:"partition keys, outermost first: stream, unit, date, date:COLUMN or a column name (default [stream])"`
	Roll        files.Roll `yaml:"roll" doc:"when to close a file and commit it: rows, bytes (e.g. 128MiB), interval (e.g. 5m) (default: at each commit)"`
	Delimiter   string     `yaml:"delimiter" doc:"field delimiter, one character (default \",\")"`
	Null        string     `yaml:"null" doc:"text written for a null value (default empty, like an empty string)"`
	Header      bool       `yaml:"header" doc:"start every file with a row of column names (default true)"`
}

// DefaultConfig returns a Config with every default filled in and no path.
func DefaultConfig() Config {
	return Config{PartitionBy: []string{"stream"}, Delimiter: ",", Header: true}
}

// Problem is one invalid option, named as in a pipeline file.
type Problem = files.Problem

// Problems checks cfg without touching the file system and returns every
// problem found, the file tree's (path, partition_by, roll) and the format's.
func (c Config) Problems() []Problem {
	return append(c.filesOptions().Problems(), c.formatProblems()...)
}

func (c Config) formatProblems() []Problem {
	var out []Problem
	r, size := utf8.DecodeRuneInString(c.Delimiter)
	switch {
	case c.Delimiter == "":
		out = append(out, Problem{Option: "delimiter", Msg: "empty (want one character, e.g. \",\" or \";\" or \"\\t\")"})
	case size != len(c.Delimiter):
		out = append(out, Problem{Option: "delimiter", Msg: fmt.Sprintf("%q is not one character", c.Delimiter)})
	case r == utf8.RuneError, r == '"', r == '\r', r == '\n':
		out = append(out, Problem{Option: "delimiter", Msg: fmt.Sprintf("%q cannot separate CSV fields", c.Delimiter)})
	}
	return out
}

func (c Config) filesOptions() files.Options {
	return files.Options{Path: c.Path, PartitionBy: c.PartitionBy, Roll: c.Roll}
}

func problemsError(ps []Problem) error {
	if len(ps) == 0 {
		return nil
	}
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = fmt.Errorf("csv: %s: %s", p.Option, p.Msg)
	}
	return errors.Join(errs...)
}

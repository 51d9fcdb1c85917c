package main

import (
	"bytes"
	"fmt"
	"os"
	"strings"
)

// report is the outcome of one workload: a table of figures and the goals.
type report struct {
	ID      string     // "p1" ... "p5": the markers in docs/benchmarks.md
	Title   string     // the heading
	Setup   string     // what was run, in a sentence or two
	Table   [][]string // the first row is the header
	Goals   []goal
	Notes   []string
	Machine machine
	Load    [2]string // the load average before and after
	Runs    int
}

// goal is one goal of the issue and where the measurement stands.
type goal struct {
	Want string // the goal, "P1 ≥ 3× DuckDB's throughput"
	Got  string // the measured figure
	Met  bool
}

// markdown renders r: heading, setup, figures, goals, notes.
func (r report) markdown() string {
	var b strings.Builder
	fmt.Fprintf(&b, "### %s\n\n", r.Title)
	fmt.Fprintf(&b, "%s\n\n", r.Setup)
	fmt.Fprintf(&b, "Measured %s at commit %s on %s (%d cores), %s; %d run(s); load average %s before, %s after.\n\n",
		r.Machine.Date.Format("2006-01-02 15:04 UTC"), r.Machine.Commit, r.Machine.CPU, r.Machine.Cores, r.Machine.Go, r.Runs, r.Load[0], r.Load[1])
	writeTable(&b, r.Table)
	if len(r.Goals) > 0 {
		b.WriteString("\n")
		rows := [][]string{{"goal", "measured", ""}}
		for _, g := range r.Goals {
			verdict := "missed"
			if g.Met {
				verdict = "met"
			}
			rows = append(rows, []string{g.Want, g.Got, verdict})
		}
		writeTable(&b, rows)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "\n%s\n", n)
	}
	return b.String()
}

func writeTable(b *strings.Builder, rows [][]string) {
	for i, row := range rows {
		b.WriteString("|")
		for _, c := range row {
			b.WriteString(" " + strings.ReplaceAll(c, "|", `\|`) + " |")
		}
		b.WriteString("\n")
		if i == 0 {
			b.WriteString("|" + strings.Repeat("---|", len(row)) + "\n")
		}
	}
}

// markers returns the lines that enclose workload id's tables in the document.
func markers(id string) (begin, end string) {
	return "<!-- bench:" + id + " begin (written by go run ./bench -write) -->", "<!-- bench:" + id + " end -->"
}

// writeDoc replaces, in the markdown file path, the text between each
// report's markers with its tables. Every marker pair must be there already;
// the text outside them is kept as it is.
func writeDoc(path string, reports []report) error {
	doc, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	for _, r := range reports {
		begin, end := markers(r.ID)
		i := bytes.Index(doc, []byte(begin))
		j := bytes.Index(doc, []byte(end))
		if i < 0 || j < i {
			return fmt.Errorf("bench: %s: want the lines %q and %q around the %s tables", path, begin, end, strings.ToUpper(r.ID))
		}
		var b bytes.Buffer
		b.Write(doc[:i+len(begin)])
		b.WriteString("\n")
		b.WriteString(r.markdown())
		b.Write(doc[j:])
		doc = b.Bytes()
	}
	return os.WriteFile(path, doc, 0o644)
}

// ratio formats a ratio such as 2.5×.
func ratio(x float64) string { return fmt.Sprintf("%.2f×", x) }

// percent formats a fraction as a percentage.
func percent(x float64) string { return fmt.Sprintf("%.0f%%", 100*x) }

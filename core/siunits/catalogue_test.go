package siunits

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"text/tabwriter"
)

// TestCatalogueTable renders the unit catalogue with what each field becomes
// under the default config, as testdata/catalogue.golden: the reference a user
// reads to know what si_units does to a field (run with -update after changing
// the catalogue).
func TestCatalogueTable(t *testing.T) {
	ck, errs := DefaultConfig().check(func(key, format string, args ...any) error { return fmt.Errorf(format, args...) })
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	p := &planner{ck: ck}
	var b strings.Builder
	b.WriteString("# The si_units catalogue: the first row whose stream and path patterns match a field wins.\n")
	b.WriteString("# Becomes: with the default config (energy: J, heart_rate: 1/min). Conversion: v × num ÷ den.\n\n")
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "STREAM\tPATH\tQUANTITY\tUNIT\tBECOMES\tCONVERSION\tNOTE")
	for _, e := range Catalogue() {
		becomes, conversion := "unchanged", ""
		switch from := unitByName[e.Unit]; e.Quantity {
		case QNone:
		case QInstant:
			becomes = "timestamp[ms|us, UTC]"
			conversion = "ints: ms; floats: us, rounded"
		case QUTCOffset:
			becomes = "utc_offset_s int32 (s)"
			conversion = fmt.Sprintf("× %d, rounded", from.Num/from.Den)
		default:
			to := p.target(e.Quantity, from)
			num, den, err := factor(from, to)
			if err != nil {
				t.Fatalf("%s:%s: %v", e.Stream, e.Path, err)
			}
			becomes = to.Name
			switch {
			case num == 1 && den == 1:
				conversion = "kept"
			case den == 1:
				conversion = fmt.Sprintf("× %d", num)
			case num == 1:
				conversion = fmt.Sprintf("÷ %d", den)
			default:
				conversion = fmt.Sprintf("× %d ÷ %d", num, den)
			}
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Stream, e.Path, e.Quantity, orDash(e.Unit), becomes, orDash(conversion), e.Note)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(b.String(), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " ")
	}
	got := strings.Join(lines, "\n")
	golden := filepath.Join("testdata", "catalogue.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("got\n%s\nwant (%s)\n%s", got, golden, want)
	}
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

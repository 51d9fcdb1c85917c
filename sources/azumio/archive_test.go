package azumio

import (
	"context"
	"errors"
	"fmt"
	"testing"
)

// TestReplayRepeats: a replay answers each request with its archived answers
// in order, then with the last one again, also for a request older than the
// last one asked (which it reads from the archive again, since it keeps only
// the last answer used); a request never archived is an error.
func TestReplayRepeats(t *testing.T) {
	for _, comp := range []string{"zstd", "gzip", "none"} {
		t.Run(comp, func(t *testing.T) {
			dir := t.TempDir()
			w := newArchiveWriter(dir, comp)
			for _, a := range [][2]string{{"GET /a", `{"n":"a1"}`}, {"GET /b", `{"n":"b1"}`}, {"GET /a", `{"n":"a2"}`}} {
				if err := w.write("7", a[0], []byte(a[1])); err != nil {
					t.Fatal(err)
				}
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
			r := newReplayReader(dir)
			defer r.release("7")
			for i, step := range [][2]string{
				{"GET /a", `{"n":"a1"}`},
				{"GET /b", `{"n":"b1"}`},
				{"GET /a", `{"n":"a2"}`},
				{"GET /a", `{"n":"a2"}`}, // the last answer again
				{"GET /b", `{"n":"b1"}`}, // an older request's last answer, read again
				{"GET /a", `{"n":"a2"}`},
			} {
				got, err := r.lookup("7", step[0])
				if err != nil || string(got) != step[1] {
					t.Errorf("lookup %d %s: got %s, %v; want %s", i, step[0], got, err, step[1])
				}
			}
			if _, err := r.lookup("7", "GET /c"); !errors.Is(err, errReplay) {
				t.Errorf("lookup GET /c: got %v, want %v", err, errReplay)
			}
		})
	}
}

// BenchmarkReadArchive reads a user's zstd archive of 100 pages of 1,000
// steps check-ins as the emulator renders them (48 MB of JSON lines), per
// page: decompression and splitting into lines.
func BenchmarkReadArchive(b *testing.B) {
	dir := b.TempDir()
	w := newArchiveWriter(dir, "zstd")
	for i := range 100 {
		if err := w.write("7", fmt.Sprintf("GET /api2/checkins?since=%d", i), benchPageOf(b, int64(i+1))); err != nil {
			b.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		n := 0
		if err := readArchive(userDir(dir, "7"), context.Background(), func(archiveLine) bool { n++; return true }); err != nil || n != 100 {
			b.Fatalf("read %d lines, %v; want 100", n, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/100, "ns/page")
}

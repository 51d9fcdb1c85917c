//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"slices"
	"strings"

	"github.com/goccy/go-json"
	"github.com/klauspost/compress/zstd"
	pq "github.com/parquet-go/parquet-go"

	"github.com/etl-toolkit/etl/core"
	_ "github.com/etl-toolkit/etl/sinks/discard"
	_ "github.com/etl-toolkit/etl/sinks/parquet"
	_ "github.com/etl-toolkit/etl/sources/azumio"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// p1Sizes shape the P1 dataset: Users × Checkins steps check-ins, recorded in
// pages of PageSize.
type p1Sizes struct{ Users, Checkins, PageSize int }

func (h *harness) p1Sizes() p1Sizes {
	if h.o.Quick {
		return p1Sizes{Users: 2, Checkins: 2000, PageSize: 1000}
	}
	return p1Sizes{Users: 10, Checkins: 100_000, PageSize: 1000}
}

// p1Data is a prepared P1 dataset. data.json in Dir holds it once complete.
type p1Data struct {
	Dir          string
	Archive      string // the raw archive (zstd JSON lines), what our side replays
	PlainArchive string // the same archive uncompressed (archive_compression: none)
	Pages        string // the same pages' bodies, one JSON file each, what DuckDB reads
	NPages       int
	PageBytes    int64 // size of the page files
	ArchiveBytes int64 // size of the archive files
	PlainBytes   int64 // size of the plain archive's files
	Checkins     int64 // check-ins in the pages, the repeats of inclusive paging included
}

// p1Dataset returns the dataset of these sizes, recording it first unless a
// complete one is in the work directory. The emulator is seeded, so the
// dataset is the same on every machine; its directory's name carries a hash
// of the emulator's and the archive's source files, so that a change to
// either records it again.
func (h *harness) p1Dataset(ctx context.Context, s p1Sizes) (p1Data, error) {
	key, err := h.sourceKey("sources/azumio/azumiotest/*.go", "sources/azumio/archive.go")
	if err != nil {
		return p1Data{}, err
	}
	prefix := filepath.Join(h.work, fmt.Sprintf("p1-data-u%d-c%d-p%d-seed1-", s.Users, s.Checkins, s.PageSize))
	dir := prefix + key
	var d p1Data
	if b, err := os.ReadFile(filepath.Join(dir, "data.json")); err == nil && json.Unmarshal(b, &d) == nil && d.Dir == dir {
		h.logf("p1: dataset %s (recorded before)", dir)
		return d, nil
	}
	h.logf("p1: recording the dataset in %s", dir)
	stale, err := filepath.Glob(prefix + "*") // recorded by other versions of the emulator
	if err != nil {
		return d, err
	}
	for _, old := range stale {
		if err := os.RemoveAll(old); err != nil {
			return d, err
		}
	}
	d = p1Data{Dir: dir, Archive: filepath.Join(dir, "archive"), PlainArchive: filepath.Join(dir, "archive-plain"), Pages: filepath.Join(dir, "pages")}
	srv := azumiotest.New(azumiotest.Options{Seed: 1, Users: s.Users, Checkins: s.Checkins, Types: []string{"steps"}, NoFragments: true})
	if err := srv.Start("127.0.0.1:0"); err != nil {
		return d, err
	}
	defer srv.Close()
	run := filepath.Join(dir, "record")
	if err := os.MkdirAll(run, 0o755); err != nil {
		return d, err
	}
	tokens := filepath.Join(run, "tokens.json")
	if err := srv.WriteTokens(tokens); err != nil {
		return d, err
	}
	pipeline := emulatorPipeline("bench-p1-record", filepath.Join(run, "state"), runtime.NumCPU(), srv.URL(), srv.ClientID(), tokens,
		fmt.Sprintf("requests_per_second: 0\narchive: %q\narchive_compression: zstd\napi: { page_size: %d }", d.Archive, s.PageSize),
		"  - plugin: discard\n")
	if _, err := h.etlRun(ctx, filepath.Join(run, "state-dir"), pipeline, "BENCH_CLIENT_SECRET="+srv.ClientSecret()); err != nil {
		return d, err
	}
	if err := d.extractPages(); err != nil {
		return d, err
	}
	if want := int64(s.Users * s.Checkins); d.Checkins < want {
		return d, fmt.Errorf("recorded %d check-ins in %d pages, want at least %d", d.Checkins, d.NPages, want)
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return d, err
	}
	return d, os.WriteFile(filepath.Join(dir, "data.json"), b, 0o644)
}

// extractPages writes the body of every check-ins answer of the archive into
// a file of its own, users in order and each user's pages in the order they
// were fetched: the same bytes the source replays, as plain JSON.
func (d *p1Data) extractPages() error {
	if err := os.MkdirAll(d.Pages, 0o755); err != nil {
		return err
	}
	users, err := filepath.Glob(filepath.Join(d.Archive, "user=*"))
	if err != nil {
		return err
	}
	slices.Sort(users)
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1))
	if err != nil {
		return err
	}
	defer dec.Close()
	for _, u := range users {
		files, err := filepath.Glob(filepath.Join(u, "*.jsonl.zst"))
		if err != nil {
			return err
		}
		slices.Sort(files)
		n := 0
		for _, name := range files {
			err := eachLine(dec, name, func(line []byte) error {
				var a struct {
					Request string          `json:"request"`
					Body    json.RawMessage `json:"body"`
				}
				if err := json.Unmarshal(line, &a); err != nil {
					return err
				}
				if !strings.HasPrefix(a.Request, "GET /api2/checkins?") {
					return nil
				}
				var page struct {
					Checkins []json.RawMessage `json:"checkins"`
				}
				if err := json.Unmarshal(a.Body, &page); err != nil {
					return fmt.Errorf("body of %s: %w", a.Request, err)
				}
				n++
				file := filepath.Join(d.Pages, fmt.Sprintf("%s-page%04d.json", strings.TrimPrefix(filepath.Base(u), "user="), n))
				if err := os.WriteFile(file, a.Body, 0o644); err != nil {
					return err
				}
				d.NPages++
				d.PageBytes += int64(len(a.Body))
				d.Checkins += int64(len(page.Checkins))
				return nil
			})
			if err != nil {
				return fmt.Errorf("archive %s: %w", name, err)
			}
			fi, err := os.Stat(name)
			if err != nil {
				return err
			}
			d.ArchiveBytes += fi.Size()
			n, err := decompressTo(dec, name, filepath.Join(d.PlainArchive, filepath.Base(u), strings.TrimSuffix(filepath.Base(name), ".zst")))
			if err != nil {
				return err
			}
			d.PlainBytes += n
		}
	}
	if d.NPages == 0 {
		return fmt.Errorf("no check-ins answers in the archive %s", d.Archive)
	}
	return nil
}

// decompressTo writes the zstd file name, decompressed, to the file to (an
// archive file as archive_compression: none writes it) and returns its size.
func decompressTo(dec *zstd.Decoder, name, to string) (int64, error) {
	in, err := os.Open(name)
	if err != nil {
		return 0, err
	}
	defer in.Close()
	if err := dec.Reset(in); err != nil {
		return 0, err
	}
	if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
		return 0, err
	}
	out, err := os.Create(to)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(out, dec)
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return n, err
}

// eachLine calls f with every line of the zstd file name.
func eachLine(dec *zstd.Decoder, name string, f func([]byte) error) error {
	file, err := os.Open(name)
	if err != nil {
		return err
	}
	defer file.Close()
	if err := dec.Reset(file); err != nil {
		return err
	}
	br := bufio.NewReaderSize(dec, 1<<20)
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if err := f(line); err != nil {
				return err
			}
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// p1Pipeline is our side of P1: a replay of archive (d.Archive or
// d.PlainArchive) into zstd Parquet (sink "parquet") or into nothing (sink
// "discard").
func p1Pipeline(archive string, s p1Sizes, dir, sink string) string {
	sinkCfg := "  - plugin: discard\n"
	if sink == "parquet" {
		sinkCfg = fmt.Sprintf("  - plugin: parquet\n    config: { path: %q, partition_by: [stream], compression: zstd }\n", filepath.Join(dir, "parquet"))
	}
	return fmt.Sprintf(`version: 1
name: bench-p1
state: %q
concurrency: %d
source:
  plugin: azumio
  config: { replay: %q, types: [steps], profile: false, api: { page_size: %d } }
sinks:
%s`, filepath.Join(dir, "state"), runtime.NumCPU(), archive, s.PageSize, sinkCfg)
}

func runP1(ctx context.Context, h *harness) (report, error) {
	s := h.p1Sizes()
	d, err := h.p1Dataset(ctx, s)
	if err != nil {
		return report{}, err
	}
	duck, err := h.duckdb(ctx)
	if err != nil {
		return report{}, err
	}
	out := filepath.Join(h.work, "p1-run")
	var ours, oursPlain, floor, duckdb measures
	var rowsOurs, rowsDuck, sizeOurs, sizeDuck int64
	var version string
	// replay runs our side on archive and checks that it wrote every
	// check-in once.
	replay := func(archive string) (measure, error) {
		m, err := h.etlRun(ctx, out, p1Pipeline(archive, s, out, "parquet"))
		if err != nil {
			return m, err
		}
		if rowsOurs, sizeOurs, err = parquetRows(filepath.Join(out, "parquet")); err != nil {
			return m, err
		}
		if want := int64(s.Users * s.Checkins); rowsOurs != want {
			return m, fmt.Errorf("our side wrote %d rows, want %d (every check-in once)", rowsOurs, want)
		}
		return m, nil
	}
	for i := range h.o.Runs {
		h.logf("p1: run %d of %d: ours (etl run, replay of the zstd archive -> parquet)", i+1, h.o.Runs)
		m, err := replay(d.Archive)
		if err != nil {
			return report{}, err
		}
		ours = append(ours, m)

		h.logf("p1: run %d of %d: DuckDB (read_json -> COPY parquet)", i+1, h.o.Runs)
		m, res, err := duck.copy(ctx, filepath.Join(d.Pages, "*.json"), filepath.Join(out, "duckdb.parquet"))
		if err != nil {
			return report{}, err
		}
		rowsDuck, version = res.Rows, res.Version
		if rowsDuck != d.Checkins {
			return report{}, fmt.Errorf("DuckDB wrote %d rows, want the %d check-ins of the pages", rowsDuck, d.Checkins)
		}
		if fi, err := os.Stat(filepath.Join(out, "duckdb.parquet")); err == nil {
			sizeDuck = fi.Size()
		}
		duckdb = append(duckdb, m)

		h.logf("p1: run %d of %d: ours (etl run, replay of the plain archive -> parquet)", i+1, h.o.Runs)
		if m, err = replay(d.PlainArchive); err != nil {
			return report{}, err
		}
		oursPlain = append(oursPlain, m)

		h.logf("p1: run %d of %d: floor (etl run, replay of the plain archive -> discard)", i+1, h.o.Runs)
		if m, err = h.etlRun(ctx, out, p1Pipeline(d.PlainArchive, s, out, "discard")); err != nil {
			return report{}, err
		}
		floor = append(floor, m)
	}
	decode, decodeWall, err := h.decodeFloor(ctx)
	if err != nil {
		return report{}, err
	}
	if h.o.CPUProfile != "" {
		if err := h.profileP1(ctx, d, s); err != nil {
			return report{}, err
		}
	}

	n := float64(d.Checkins)
	rate := func(x sample) float64 { return n / x.median() }
	row := func(side, reads, writes string, ms measures) []string {
		return []string{side, reads, writes, ms.wall().spread("%.2f"), ms.cpu().spread("%.2f"), ms.rss().spread("%.0f"),
			fmt.Sprintf("%.0f", rate(ms.wall())/1e3), fmt.Sprintf("%.0f", rate(ms.cpu())/1e3)}
	}
	mb := func(b int64) string { return fmt.Sprintf("%.3g MB", float64(b)/1e6) }
	decodeCPU := n * decode / 1e9 // seconds of one core to decode every page
	r := report{
		Title: "P1: Azumio steps check-ins → zstd Parquet, ours vs DuckDB",
		Setup: fmt.Sprintf("%d recorded pages of up to %d steps check-ins (%d users × %d; %d check-ins in the pages, those repeated by inclusive paging included; %s of JSON), "+
			"converted to one Parquet stream with zstd. **Ours**: `etl run` of a pipeline replaying the raw archive "+
			"(JSON lines: per answer the request, a time stamp and the page body, byte for byte) into the parquet sink, concurrency %d, "+
			"the etl binary's default memory limit (160 MiB), once from the archive as the source writes it by default (%s of zstd) "+
			"and once from the same archive uncompressed (`archive_compression: none`, %s: the same JSON bytes DuckDB reads, so the goals are judged on it). "+
			"**DuckDB %s** (`@duckdb/node-api`, in Node): `COPY (SELECT unnest(checkins, recursive := true) FROM read_json('pages/*.json')) "+
			"TO '…' (FORMAT parquet, COMPRESSION zstd)` over the page bodies as plain JSON files (the same bytes, uncompressed), default settings (all cores); "+
			"its file has the columns DuckDB infers (times stay BIGINT milliseconds, the remoteid a 16-byte UUID, one column per member seen), ours the source's schema "+
			"(timestamps, strings as the API sends them, units in the field metadata, fragments, `_extra` for unknown members). "+
			"The sides alternate; each is a child process measured by its rusage (wall, user+sys CPU, peak RSS). "+
			"Check-ins per second are over the %d check-ins of the pages for every row, so the ratios compare the same work.",
			d.NPages, s.PageSize, s.Users, s.Checkins, d.Checkins, mb(d.PageBytes), runtime.NumCPU(), mb(d.ArchiveBytes), mb(d.PlainBytes), version, d.Checkins),
		Table: [][]string{
			{"side", "reads", "writes", "wall s", "CPU s", "peak RSS MiB", "k check-ins/s (wall)", "k check-ins per CPU-s"},
			row("ours: etl run, replay → parquet", "archive, "+mb(d.ArchiveBytes)+" zstd", fmt.Sprintf("%d rows, %s", rowsOurs, mb(sizeOurs)), ours),
			row("ours: etl run, replay → parquet", "archive, "+mb(d.PlainBytes)+" plain", fmt.Sprintf("%d rows, %s", rowsOurs, mb(sizeOurs)), oursPlain),
			row("DuckDB: read_json → COPY parquet", fmt.Sprintf("%d files, %s JSON", d.NPages, mb(d.PageBytes)), fmt.Sprintf("%d rows, %s", rowsDuck, mb(sizeDuck)), duckdb),
			row("floor: etl run, replay → discard", "archive, "+mb(d.PlainBytes)+" plain", "nothing", floor),
			{"floor: page decoder alone, 1 core", "one page in memory", "nothing", "", fmt.Sprintf("%.2f (%.0f ns/check-in)", decodeCPU, decode), "", "", fmt.Sprintf("%.0f", 1e6/decode)},
		},
	}
	vsDuck := duckdb.wall().median() / oursPlain.wall().median()
	vsDuckCPU := duckdb.cpu().median() / oursPlain.cpu().median()
	vsDuckZstd := duckdb.wall().median() / ours.wall().median()
	vsFloor := decodeCPU / oursPlain.cpu().median()
	vsFloorZstd := decodeCPU / ours.cpu().median()
	r.Goals = []goal{
		{"≥ 3× DuckDB's throughput (wall)", fmt.Sprintf("%s from the plain archive, per CPU-second %s (from the zstd archive: %s)",
			ratio(vsDuck), ratio(vsDuckCPU), ratio(vsDuckZstd)), vsDuck >= 3},
		{"≥ 50% of the parse-only floor (check-ins per CPU-second, page decoder alone)", fmt.Sprintf("%s from the plain archive (from the zstd archive: %s; replay → discard takes %s of the plain replay's wall time)",
			percent(vsFloor), percent(vsFloorZstd), percent(floor.wall().median()/oursPlain.wall().median())), vsFloor >= 0.5},
	}
	r.Notes = []string{fmt.Sprintf("The parse-only floor is the source's page decoder (scanner and typed conversion, no Arrow) on one page of 1,000 check-ins "+
		"of the same emulator, decoded again and again: `go test -c ./sources/azumio`, then the test binary with `-test.bench '^BenchmarkDecodePage$'`, "+
		"once per run; its CPU time (rusage) over the check-ins decoded is %.0f ns per check-in (the benchmark's own wall-clock figure: %.0f ns), "+
		"times the pages' check-ins is the CPU time decoding every page costs. "+
		"The replay → discard row is our whole source (reading the plain archive, decoding, Arrow batches, runner) without the Parquet sink.", decode, decodeWall)}
	return r, nil
}

// decodeFloor runs the source's page decoder benchmark (BenchmarkDecodePage,
// one page of 1,000 check-ins decoded again and again) in a test binary of
// its own, once per run, and returns the median CPU nanoseconds per check-in
// (the process's user+system time over the check-ins decoded: start-up and
// the one page's set-up are a few milliseconds of seconds) and the median of
// what the benchmark itself reports (wall time per check-in, which a loaded
// machine inflates).
func (h *harness) decodeFloor(ctx context.Context) (cpuNs, wallNs float64, err error) {
	bin := filepath.Join(h.work, "bin", "azumio.test")
	h.logf("go test -c -o %s ./sources/azumio", bin)
	build := command(ctx, h.root, nil, "go", "test", "-c", "-o", bin, "./sources/azumio")
	if _, _, err := runChild(build); err != nil {
		return 0, 0, err
	}
	iters := "2000x"
	if h.o.Quick {
		iters = "50x"
	}
	var cpu, wall sample
	for i := range h.o.Runs {
		h.logf("p1: parse-only floor, run %d of %d: BenchmarkDecodePage -test.benchtime %s", i+1, h.o.Runs, iters)
		m, out, err := runChild(command(ctx, filepath.Join(h.root, "sources", "azumio"), nil, bin,
			"-test.run", "^$", "-test.bench", "^BenchmarkDecodePage$", "-test.benchtime", iters))
		if err != nil {
			return 0, 0, err
		}
		lines := parseBench(string(out))
		if len(lines) != 1 || lines[0].N < 1 || lines[0].Metrics["ns/checkin"] <= 0 {
			return 0, 0, fmt.Errorf("BenchmarkDecodePage printed no ns/checkin:\n%s", out)
		}
		cpu = append(cpu, float64(m.CPU.Nanoseconds())/float64(lines[0].N*1000))
		wall = append(wall, lines[0].Metrics["ns/checkin"])
	}
	return cpu.median(), wall.median(), nil
}

// parquetRows counts the rows of the Parquet files under dir (from their
// footers) and their bytes.
func parquetRows(dir string) (rows, size int64, err error) {
	err = filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || !strings.HasSuffix(path, ".parquet") {
			return err
		}
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return err
		}
		pf, err := pq.OpenFile(f, fi.Size(), pq.SkipPageIndex(true), pq.SkipBloomFilters(true))
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		rows += pf.NumRows()
		size += fi.Size()
		return nil
	})
	return rows, size, err
}

// profileP1 runs our side of P1 (the replay of the plain archive) once more
// in this process, with the CPU profiler on and the etl binary's default
// memory limit, and writes the profile to -cpuprofile.
func (h *harness) profileP1(ctx context.Context, d p1Data, s p1Sizes) error {
	dir := filepath.Join(h.work, "p1-profile")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	file := filepath.Join(dir, "pipeline.yaml")
	if err := os.WriteFile(file, []byte(p1Pipeline(d.PlainArchive, s, dir, "parquet")), 0o644); err != nil {
		return err
	}
	p, err := core.LoadPipeline(file)
	if err != nil {
		return err
	}
	store, err := core.OpenBoltStore(p.StatePath())
	if err != nil {
		return err
	}
	defer store.Close()
	plan, err := core.Build(ctx, p, nil)
	if err != nil {
		return err
	}
	defer plan.Close()
	prof, err := os.Create(h.o.CPUProfile)
	if err != nil {
		return err
	}
	defer prof.Close()
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(160 << 20))
	h.logf("p1: profiling our side in-process into %s", h.o.CPUProfile)
	if err := pprof.StartCPUProfile(prof); err != nil {
		return err
	}
	sum, err := plan.Run(ctx, core.RunOptions{Store: store})
	pprof.StopCPUProfile()
	if err != nil {
		return err
	}
	if got, want := sum.Rows(), int64(s.Users*s.Checkins); got != want {
		return fmt.Errorf("profiled run wrote %d rows, want %d", got, want)
	}
	return prof.Close()
}

// sourceKey returns a short hash of the module's files matching the globs
// (test files left out).
func (h *harness) sourceKey(globs ...string) (string, error) {
	sum := sha256.New()
	for _, g := range globs {
		files, err := filepath.Glob(filepath.Join(h.root, g))
		if err != nil {
			return "", err
		}
		slices.Sort(files)
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				return "", err
			}
			fmt.Fprintf(sum, "%s %d\n", filepath.Base(f), len(b))
			sum.Write(b)
		}
	}
	return hex.EncodeToString(sum.Sum(nil))[:12], nil
}

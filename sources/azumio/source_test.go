package azumio_test

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/sources/azumio"
	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

func TestConformance(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 11, Users: 2, Checkins: 60})
	cfg := testConfig(t, srv)
	cfg.API.PageSize = 9 // many pages, each split by type
	coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
		src, err := azumio.NewSource(cfg, azumio.WithAllocator(mem))
		if err != nil {
			t.Fatal(err)
		}
		return src
	}, coretest.SourceOptions{Resumes: 6})
}

func TestReadExportsEveryCheckinOnce(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 3, Users: 3, Checkins: 80})
	for _, pageSize := range []int{1, 7, 100} {
		cfg := testConfig(t, srv)
		cfg.API.PageSize = pageSize
		src := newSource(t, cfg)
		res, errs := readUnits(t, src, nil)
		if len(errs) > 0 {
			t.Fatalf("page size %d: %v", pageSize, errs)
		}
		got, want := res.versions(), refVersions(allRefs(srv))
		if d := diff(got, want); len(got) != len(want) || d != diff(want, want) {
			t.Errorf("page size %d: got %s", pageSize, d)
		}
		if n := len(res.rows("azumio.profile")); n != 3 {
			t.Errorf("page size %d: got %d profile rows, want 3", pageSize, n)
		}
	}
}

func TestIncrementalRunsExportOnlyNewVersions(t *testing.T) {
	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 5, Users: 2, Checkins: 40})
	cfg := testConfig(t, srv)
	cfg.API.PageSize = 6
	first := refVersions(allRefs(srv))
	src := newSource(t, cfg)
	res1, errs := readUnits(t, src, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if got := res1.versions(); len(got) != len(first) {
		t.Fatalf("first run: got %s", diff(got, first))
	}

	changes := srv.Advance(time.Hour, azumiotest.Changes{New: 3, Edited: 2, Deleted: 1})
	res2, errs := readUnits(t, src, res1.last)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	want := refVersions(changes)
	if got := res2.versions(); diff(got, want) != diff(want, want) {
		t.Errorf("second run: got %s", diff(got, want))
	}
	deleted := 0
	for _, row := range res2.rows("azumio.checkins.") {
		if row["deleted"] == "true" {
			deleted++
			if row["value"] != "null" || row["remoteid"] != "null" {
				t.Errorf("deletion row: got value %s remoteid %s, want nulls (a tombstone)", row["value"], row["remoteid"])
			}
		}
	}
	if deleted != 2 {
		t.Errorf("second run: got %d deletion rows, want 2", deleted)
	}
	if n := len(res2.rows("azumio.profile")); n != 0 {
		t.Errorf("second run: got %d profile rows, want 0 (unchanged)", n)
	}

	// A third run with nothing new exports nothing.
	res3, errs := readUnits(t, src, res2.last)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if n := len(res3.rows("azumio.")); n != 0 {
		t.Errorf("third run: got %d rows, want 0", n)
	}
}

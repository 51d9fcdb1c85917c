package asi

import (
	"testing"
	"time"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
)

// smallEmulator is a world small enough for the conformance suite, which
// reads every unit several times: one activity of 10 minutes, two athletes.
func smallEmulator() Config {
	cfg := DefaultConfig()
	cfg.BaseURL = Emulator
	cfg.Emulator.Activities, cfg.Emulator.Athletes, cfg.Emulator.Devices = 1, 2, 2
	cfg.Emulator.Session = 10 * time.Minute
	cfg.Emulator.Rate = 2
	cfg.Streams = []string{"metadata", "computed", "preprocessed"}
	cfg.Since = cfg.Emulator.Start.Add(-24 * time.Hour)
	cfg.PageSize = 250
	cfg.API.Window = 7 * time.Minute // several windows per recording
	cfg.Rate = 1000
	return cfg
}

func TestConformance(t *testing.T) {
	coretest.Source(t, func(t *testing.T, mem memory.Allocator) core.Source {
		src, err := NewSource(smallEmulator(), Options{Mem: mem})
		if err != nil {
			t.Fatal(err)
		}
		return src
	}, coretest.SourceOptions{Units: 5, Resumes: 4})
}

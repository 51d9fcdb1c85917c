package asi_test

import (
	"context"
	"fmt"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/sources/asi"
)

// A source on the in-process emulator: no account, no server to start.
// Time frames are units once finished; devices when preprocessed is selected.
func ExampleSource_Units() {
	cfg := asi.DefaultConfig()
	cfg.BaseURL = asi.Emulator
	cfg.Emulator.Activities, cfg.Emulator.Athletes, cfg.Emulator.Devices = 1, 3, 2
	cfg.Streams = []string{"metadata", "computed", "preprocessed"}
	src, err := asi.NewSource(cfg, asi.Options{})
	if err != nil {
		panic(err)
	}
	defer src.Close()
	units, err := src.Units(context.Background())
	if err != nil {
		panic(err)
	}
	fmt.Println(units)
	// Output: [metadata timeframe/1 timeframe/2 device/1 device/2]
}

// Reading one time frame: its computed data is one row of asi.computed, with
// the position to resume from.
func ExampleSource_Read() {
	cfg := asi.DefaultConfig()
	cfg.BaseURL = asi.Emulator
	cfg.Streams = []string{"computed"}
	src, err := asi.NewSource(cfg, asi.Options{})
	if err != nil {
		panic(err)
	}
	defer src.Close()
	err = src.Read(context.Background(), "timeframe/1", nil, func(_ context.Context, b core.Batch) error {
		defer b.Release()
		fmt.Println(b.Stream, b.Rows(), "row; position", string(b.Position))
		return nil
	})
	if err != nil {
		panic(err)
	}
	// Output: asi.computed 1 row; position {"fingerprint":"b91539f3a525bbeb8f3a4cd5","version":1}
}

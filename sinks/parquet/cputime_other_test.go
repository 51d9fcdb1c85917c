//go:build !unix

package parquet

import "time"

// processCPU is not measured here: the benchmarks leave the metric out.
func processCPU() time.Duration { return 0 }

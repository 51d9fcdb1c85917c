package main

// The built-in components register themselves in core's registry from init().
import (
	_ "github.com/etl-toolkit/etl/core/reorder"
	_ "github.com/etl-toolkit/etl/core/siunits"
	_ "github.com/etl-toolkit/etl/sinks/csv"
	_ "github.com/etl-toolkit/etl/sinks/discard"
	_ "github.com/etl-toolkit/etl/sinks/flight"
	_ "github.com/etl-toolkit/etl/sinks/parquet"
	_ "github.com/etl-toolkit/etl/sources/asi"
	_ "github.com/etl-toolkit/etl/sources/azumio"
	_ "github.com/etl-toolkit/etl/sources/generate"
)

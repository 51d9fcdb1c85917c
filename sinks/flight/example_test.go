package flight_test

import (
	"context"
	"fmt"
	"log"
	"log/slog"
	"net"
	"os"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core/coretest"
	"github.com/etl-toolkit/etl/sinks/flight"
	"github.com/etl-toolkit/etl/sinks/flight/flightserve"
)

// Example sends three batches to a flightserve server on loopback: Write
// sends them at once, Prepare returns when the server has acknowledged them
// (stored them as Parquet), with no transaction left to commit.
func Example() {
	dir, err := os.MkdirTemp("", "flight-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	srv, err := flightserve.New(flightserve.Options{Dir: dir, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go srv.Serve(lis)

	cfg := flight.DefaultConfig()
	cfg.Location = "grpc://" + lis.Addr().String()
	cfg.Compression = "zstd"
	sink, err := flight.NewSink(cfg, flight.Options{Pipeline: "example"})
	if err != nil {
		log.Fatal(err)
	}
	defer sink.Close()

	ctx := context.Background()
	for _, b := range coretest.SampleBatches(memory.DefaultAllocator, "user/1", 3, 100) {
		err := sink.Write(ctx, b)
		b.Release() // the sink retained what it keeps
		if err != nil {
			log.Fatal(err)
		}
	}
	txn, err := sink.Prepare(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("transaction left:", txn != nil)
	fmt.Println("puts acknowledged:", sink.Committed())
	fmt.Printf("server: %+v\n", srv.Stats())
	// Output:
	// transaction left: false
	// puts acknowledged: 1
	// server: {Puts:1 Rows:300 SkippedRows:0 DuplicatePuts:0}
}

package discard

import (
	"testing"

	"github.com/apache/arrow-go/v18/arrow/memory"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/core/coretest"
)

func TestConformance(t *testing.T) {
	coretest.Sink(t, func(t *testing.T, mem memory.Allocator) core.Sink { return Sink{} }, coretest.SinkOptions{})
}

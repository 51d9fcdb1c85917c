package parquet

import (
	"fmt"
	"math/bits"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/format"
)

// zstdCodec compresses pages with klauspost/compress's zstd, as parquet-go's
// zstd codec does, but with a window the size of a page and its encoders kept
// for the Format's life. parquet-go's codec uses the default 8 MiB window and
// keeps its encoders in a sync.Pool that the GC empties, so that encoders (and
// their 8 MiB of history) are made again and again: measured in `etl run`
// (bench/parquet), 17 MiB of live heap, twice that in RSS. A page never needs
// more history than itself: the window changes nothing to the files' size.
type zstdCodec struct {
	enc *zstd.Encoder

	decOnce sync.Once
	dec     *zstd.Decoder
	decErr  error
}

// newZstdCodec returns a codec at the given level whose window fits pages of
// pageBytes, with encoders for concurrency goroutines at once (more wait).
func newZstdCodec(level zstd.EncoderLevel, pageBytes, concurrency int) (*zstdCodec, error) {
	window := 1 << bits.Len(uint(max(pageBytes, 1)-1)) // the next power of two
	window = min(max(window, 64<<10), zstd.MaxWindowSize)
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(max(concurrency, 1)),
		zstd.WithWindowSize(window),
		zstd.WithZeroFrames(true),
		zstd.WithEncoderCRC(false),
	)
	if err != nil {
		return nil, fmt.Errorf("parquet: zstd encoder: %w", err)
	}
	return &zstdCodec{enc: enc}, nil
}

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

// Encode compresses src into dst (reusing its memory) and returns it. It may
// be called from several goroutines at once.
func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	return c.enc.EncodeAll(src, dst[:0]), nil
}

// Decode decompresses src into dst (reusing its memory) and returns it.
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	c.decOnce.Do(func() { c.dec, c.decErr = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)) })
	if c.decErr != nil {
		return nil, c.decErr
	}
	return c.dec.DecodeAll(src, dst[:0])
}

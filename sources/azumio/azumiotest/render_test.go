package azumiotest

import (
	"math"
	"math/rand/v2"
	"strconv"
	"testing"
)

// TestAppendFixedMatchesStrconv checks the fast number formatting against
// strconv's shortest form on values rounded to d decimals, as the emulator's are.
func TestAppendFixedMatchesStrconv(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200_000 {
		d := i % 7
		v := math.Round((rng.Float64()-0.5)*math.Pow(10, float64(rng.IntN(8)))*pow10[d]) / pow10[d]
		got := string(appendFixed(nil, v, d))
		want := string(appendFloat(nil, v))
		if got != want {
			t.Fatalf("appendFixed(%v, %d) = %s, want %s", v, d, got, want)
		}
		if f, err := strconv.ParseFloat(got, 64); err != nil || f != v {
			t.Fatalf("appendFixed(%v, %d) = %s reads back as %v", v, d, got, f)
		}
	}
	for _, v := range []float64{0, -0.5, 5.5, -8, 1e20, 0.1 + 0.2} {
		if got, want := string(appendFixed(nil, v, 3)), string(appendFloat(nil, v)); got != want {
			t.Errorf("appendFixed(%v, 3) = %s, want %s", v, got, want)
		}
	}
}

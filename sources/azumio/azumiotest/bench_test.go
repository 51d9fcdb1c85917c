package azumiotest_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/etl-toolkit/etl/sources/azumio/azumiotest"
)

// BenchmarkCheckinsPage measures how fast the emulator renders a page of 1,000
// steps check-ins, the loopback benchmark's page (no network).
func BenchmarkCheckinsPage(b *testing.B) {
	srv := azumiotest.New(azumiotest.Options{Seed: 1, Users: 1, Checkins: 10_000, Types: []string{"steps"}, NoFragments: true})
	req := httptest.NewRequest("GET", "/api2/checkins?type=steps&since=0&limit=1000", nil)
	req.Header.Set("X-Client-ID", srv.ClientID())
	req.Header.Set("Authorization", "OAuth "+srv.Tokens()["10001"].AccessToken)
	var n int
	for b.Loop() {
		w := httptest.NewRecorder()
		srv.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatal(w.Code)
		}
		n = w.Body.Len()
	}
	b.SetBytes(int64(n))
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*1000), "ns/checkin")
}

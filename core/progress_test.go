package core

import "testing"

func TestProgressWaits(t *testing.T) {
	tests := []struct {
		name                 string
		statuses             []string
		wantRetries, wantRat int64
	}{
		{"reading only", []string{"reading", "reading"}, 0, 0},
		{"runner retries", []string{"reading", "waiting 2s: 503", "reading", "waiting 4s: dropped"}, 2, 0},
		{"rate limits", []string{"waiting: rate limited", "", "waiting: request rate limit"}, 0, 2},
		{"both", []string{"waiting 1s: 429 Too Many Requests", "waiting: rate limited"}, 1, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := NewProgress()
			for _, s := range tt.statuses {
				p.setStatus("user/1", s)
			}
			if r, w := p.Waits(); r != tt.wantRetries || w != tt.wantRat {
				t.Errorf("got %d retries and %d rate-limit waits, want %d and %d", r, w, tt.wantRetries, tt.wantRat)
			}
		})
	}
}

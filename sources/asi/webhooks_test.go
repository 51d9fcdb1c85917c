package asi

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/etl-toolkit/etl/sources/asi/asitest"
)

// TestWebhookRoundTrip registers a webhook through the client and receives
// the emulator's call with ParseWebhook.
func TestWebhookRoundTrip(t *testing.T) {
	emu := asitest.NewServer(t, asitest.DefaultOptions())
	events := make(chan WebhookEvent, 4)
	errs := make(chan error, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e, err := ParseWebhook(r, "s3cret-token")
		if err != nil {
			errs <- err
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		events <- e
	}))
	defer recv.Close()

	ctx := context.Background()
	c := newTestClient(t, emu, newAuth(emu, ""))
	h, err := c.AddWebhook(ctx, 1, recv.URL+"/asi", "s3cret-token", false, true)
	if err != nil {
		t.Fatal(err)
	}
	if h.SecretToken != "s3**********" || !h.TimeframesEvents || h.ActivityEvents {
		t.Errorf("added webhook: got %+v, want the secret masked and time frame events only", h)
	}
	if err := c.Do(ctx, "PATCH", "/api/v1/timeframes/2/", nil, map[string]any{"params": map[string]any{"thresholds": []int{4}}}, nil); err != nil {
		t.Fatal(err)
	}
	e := <-events
	if e.Event != "timeframe-updated" || e.WebhookID != h.ID || e.Data.ActivityID != 1 || e.Unit() != "timeframe/2" {
		t.Errorf("event: got %+v (unit %q), want timeframe-updated of time frame 2", e, e.Unit())
	}

	// A call with another secret is refused.
	h2, err := c.AddWebhook(ctx, 1, recv.URL+"/asi", "another", true, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Do(ctx, "PATCH", "/api/v1/activities/1/", nil, map[string]any{"name": "x"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := <-errs; !errors.Is(err, ErrWebhookSecret) {
		t.Errorf("call with another secret: got %v, want ErrWebhookSecret", err)
	}
	if got, err := c.Webhooks(ctx, 1); err != nil || len(got) != 2 {
		t.Fatalf("list: got %v, %v, want 2 webhooks", got, err)
	}
	off := false
	if got, err := c.UpdateWebhook(ctx, 1, h2.ID, WebhookChanges{ActivityEvents: &off}); err != nil || got.ActivityEvents {
		t.Errorf("update: got %+v, %v, want activity events off", got, err)
	}
	if err := c.RemoveWebhook(ctx, 1, h2.ID); err != nil {
		t.Fatal(err)
	}
	if err := c.RemoveWebhook(ctx, 1, h2.ID); !IsStatus(err, http.StatusNotFound) {
		t.Errorf("removing it again: got %v, want a 404", err)
	}
}

package asitest

import (
	"bytes"
	"io"
	"net/http"
	"strings"

	json "github.com/goccy/go-json"
)

// WebhookHeader carries a webhook's secret token in every call.
const WebhookHeader = "X-Asi-Api-Token"

// Webhook events; the contract's event list is an assumption of ours.
const (
	EventActivityUpdated  = "activity-updated"
	EventActivityDeleted  = "activity-deleted"
	EventTimeframeCreated = "timeframe-created"
	EventTimeframeUpdated = "timeframe-updated"
	EventTimeframeDeleted = "timeframe-deleted"
)

type eventData struct {
	ActivityID  int64 `json:"activity_id"`
	TimeframeID int64 `json:"timeframe_id,omitempty"`
}

type eventBody struct {
	Event     string    `json:"event"`
	WebhookID int64     `json:"webhook_id"`
	Data      eventData `json:"data"`
}

// fire calls every webhook of activity act that subscribed to event, in the
// background; s.mu is held. The body carries ids only.
func (s *Server) fire(act int64, event string, tf int64) {
	timeframeEvent := strings.HasPrefix(event, "timeframe-")
	for _, id := range sortedIDs(s.w.webhooks) {
		h := s.w.webhooks[id]
		if h.Activity != act || (timeframeEvent && !h.TimeframesEvents) || (!timeframeEvent && !h.ActivityEvents) {
			continue
		}
		body, _ := json.Marshal(eventBody{Event: event, WebhookID: h.ID, Data: eventData{ActivityID: act, TimeframeID: tf}})
		d := Delivery{Webhook: h.ID, URL: h.URL, Event: event, Body: body}
		secret := h.Secret
		s.hooks.Add(1)
		go func() {
			defer s.hooks.Done()
			d.Status, d.Err = s.deliver(d.URL, secret, body)
			s.hookMu.Lock()
			s.deliveries = append(s.deliveries, d)
			s.hookMu.Unlock()
		}()
	}
}

func (s *Server) deliver(url, secret string, body []byte) (int, string) {
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err.Error()
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(WebhookHeader, secret)
	resp, err := s.hookClient.Do(req)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, ""
}

package asi

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	json "github.com/goccy/go-json"
)

// WebhookHeader carries a webhook's secret token in every call the service
// makes to it.
const WebhookHeader = "X-Asi-Api-Token"

// Webhook is an activity webhook as the API shows it (the secret masked).
type Webhook struct {
	ID               int64  `json:"id"`
	URL              string `json:"webhook_url"`
	SecretToken      string `json:"secret_token"`
	ActivityEvents   bool   `json:"activity_events"`
	TimeframesEvents bool   `json:"timeframes_events"`
}

// WebhookChanges are the fields an update sets; nil fields are left as they are.
type WebhookChanges struct {
	URL              *string `json:"webhook_url,omitempty"`
	SecretToken      *string `json:"secret_token,omitempty"`
	ActivityEvents   *bool   `json:"activity_events,omitempty"`
	TimeframesEvents *bool   `json:"timeframes_events,omitempty"`
}

func webhooksPath(activity int64) string {
	return pathActivities + strconv.FormatInt(activity, 10) + "/webhooks/"
}

func webhookPath(activity, id int64) string {
	return webhooksPath(activity) + strconv.FormatInt(id, 10) + "/"
}

// Webhooks lists the webhooks of an activity (all pages).
func (c *Client) Webhooks(ctx context.Context, activity int64) ([]Webhook, error) {
	var out []Webhook
	err := c.List(ctx, webhooksPath(activity), nil, 100, func(results []json.RawMessage) error {
		for _, raw := range results {
			var w Webhook
			if err := json.Unmarshal(raw, &w); err != nil {
				return fmt.Errorf("asi: webhook: %w", err)
			}
			out = append(out, w)
		}
		return nil
	})
	return out, err
}

// AddWebhook registers url for the events of an activity; the service calls it
// with secret in the X-Asi-Api-Token header.
func (c *Client) AddWebhook(ctx context.Context, activity int64, url, secret string, activityEvents, timeframesEvents bool) (Webhook, error) {
	var w Webhook
	body := map[string]any{"webhook_url": url, "secret_token": secret, "activity_events": activityEvents, "timeframes_events": timeframesEvents}
	err := c.Do(ctx, http.MethodPost, webhooksPath(activity), nil, body, &w)
	return w, err
}

// UpdateWebhook changes a webhook.
func (c *Client) UpdateWebhook(ctx context.Context, activity, id int64, ch WebhookChanges) (Webhook, error) {
	var w Webhook
	err := c.Do(ctx, http.MethodPatch, webhookPath(activity, id), nil, ch, &w)
	return w, err
}

// RemoveWebhook deletes a webhook.
func (c *Client) RemoveWebhook(ctx context.Context, activity, id int64) error {
	return c.Do(ctx, http.MethodDelete, webhookPath(activity, id), nil, nil, nil)
}

// WebhookEvent is what the service POSTs to a webhook: ids only.
type WebhookEvent struct {
	Event     string `json:"event"`
	WebhookID int64  `json:"webhook_id"`
	Data      struct {
		ActivityID  int64 `json:"activity_id"`
		TimeframeID int64 `json:"timeframe_id"`
	} `json:"data"`
}

// ErrWebhookSecret is returned by ParseWebhook for a call without the
// webhook's secret.
var ErrWebhookSecret = errors.New("asi: webhook call without the right " + WebhookHeader + " header")

// ParseWebhook checks a webhook call's secret (in constant time) and decodes
// its event.
func ParseWebhook(r *http.Request, secret string) (WebhookEvent, error) {
	var e WebhookEvent
	if subtle.ConstantTimeCompare([]byte(r.Header.Get(WebhookHeader)), []byte(secret)) != 1 {
		return e, ErrWebhookSecret
	}
	raw, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return e, fmt.Errorf("asi: webhook body: %w", err)
	}
	if err := json.Unmarshal(raw, &e); err != nil {
		return e, fmt.Errorf("asi: webhook body: %w", err)
	}
	return e, nil
}

// Unit returns the unit an event concerns: "timeframe/<id>" for time frame
// events, "" for activity events (whose time frames are found by listing).
func (e WebhookEvent) Unit() string {
	if e.Data.TimeframeID == 0 {
		return ""
	}
	return unitTimeframePrefix + strconv.FormatInt(e.Data.TimeframeID, 10)
}

package azumio

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/goccy/go-json"
)

// Subscription is one user's webhook registration: Azumio POSTs an empty body to
// URL when a check-in of one of Types changes.
type Subscription struct {
	ID       string   `json:"id"`
	Created  int64    `json:"created"` // UNIX ms
	UserID   string   `json:"userId"`
	Types    []string `json:"types"`
	ClientID string   `json:"clientId"`
	URL      string   `json:"url"`
}

type subscriptionList struct {
	Data []Subscription `json:"data"`
}

func (c *Client) subscriptions(ctx context.Context, user string, req request) ([]Subscription, error) {
	var list subscriptionList
	err := c.do(ctx, user, req, nil, func(b []byte) error {
		list = subscriptionList{}
		return json.Unmarshal(b, &list)
	})
	return list.Data, err
}

// Subscriptions lists user's webhook subscriptions.
func (c *Client) Subscriptions(ctx context.Context, user string) ([]Subscription, error) {
	return c.subscriptions(ctx, user, request{method: http.MethodGet, path: c.cfg.API.SubscriptionsPath})
}

// Subscribe registers callback for user's check-ins of types (every type if
// none); it replaces the user's earlier subscription, as the API does.
func (c *Client) Subscribe(ctx context.Context, user, callback string, types []string) ([]Subscription, error) {
	if u, err := url.Parse(callback); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("azumio: callback %q is not an http(s) URL", callback)
	}
	q := url.Values{"url": {callback}}
	if len(types) > 0 {
		q.Set("type", strings.Join(types, ","))
	}
	return c.subscriptions(ctx, user, request{method: http.MethodPost, path: c.cfg.API.SubscriptionsPath, query: q})
}

// Unsubscribe removes user's subscription (only if it is for callback, when
// callback is not empty), with api.unsubscribe_method.
func (c *Client) Unsubscribe(ctx context.Context, user, callback string) error {
	q := url.Values{}
	if callback != "" {
		q.Set("url", callback)
	}
	_, err := c.subscriptions(ctx, user, request{method: c.cfg.API.UnsubscribeMethod, path: c.cfg.API.SubscriptionsPath, query: q})
	return err
}

// UserID returns the id of user's profile (GET api.profile_path): the id under
// which `etl auth azumio` stores a token it just obtained.
func (c *Client) UserID(ctx context.Context, user string) (string, error) {
	var id string
	err := c.do(ctx, user, request{method: http.MethodGet, path: c.cfg.API.ProfilePath}, nil, func(b []byte) error {
		var p struct {
			ID json.RawMessage `json:"id"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			return err
		}
		if len(p.ID) == 0 || string(p.ID) == "null" {
			return &badAnswerError{fmt.Errorf("profile without an id: %.200s", b)}
		}
		id = jsonText(p.ID)
		return nil
	})
	return id, err
}

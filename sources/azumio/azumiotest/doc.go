// Package azumiotest is an in-memory Azumio API, in the style of net/http/httptest:
// a Server that is an http.Handler, deterministic from a seed, with a clock that
// tests advance and fault knobs as exported fields. It follows the contract in
// shared/api/azumio.md, including every behaviour marked [assumed] there, and it is
// what the azumio source's tests, the example pipelines (`base_url: emulator`) and
// `etl emulate azumio` run against.
//
// Start with NewServer in a test (or New plus Start elsewhere):
//
//	srv := azumiotest.NewServer(t, azumiotest.Options{Seed: 1, Users: 3, Checkins: 200})
//	srv.WriteTokens(filepath.Join(dir, "tokens.json"))
//	// point the source at srv.URL() with client id srv.ClientID() ...
//	srv.Advance(time.Hour, azumiotest.Changes{New: 5, Edited: 2, Deleted: 1})
//
// # Data
//
// Users have ids 10001, 10002, ...; each starts with Options.Checkins check-ins
// spread over the year before the clock's start, of the types in Options.Types (and
// Options.UnknownType, a type the contract does not know). Check-in ids are
// 12-digit strings that sort like numbers within a user. Every field is a pure
// function of (seed, user, check-in, version): steps check-ins carry the documented
// measures (steps, distance in m, activeDuration in s, calories, walkCalories and
// basalCalories in kcal) and a `#steps_profile` fragment; workout_log check-ins a
// `#path` fragment. The fragment shapes are the contract's assumed ones. A
// deleted check-in is served as a tombstone: a new version carrying only its
// identity, its times and `"deleted": true`.
//
// Advance moves the clock and adds, edits and deletes check-ins deterministically;
// every change takes the new clock time as its `modified`, so several changes share
// one instant. Add and Edit make single changes. Checkins and CheckinJSON tell
// tests what the API holds now.
//
// # API
//
//	GET    /api2/checkins?type=a,b&since=MS&limit=N   pages sorted by (modified, id),
//	                                                  since inclusive, limit 1..1000 (default 100)
//	GET    /api2/checkins/{id}/fragments/{name}      a fragment of the current version
//	GET    /api2/users/me                            the profile
//	GET    /api2/subscriptions                       {"data": [...]}
//	POST   /api2/subscriptions?url=CB&type=a,b       subscribe (replaces an older one)
//	DELETE /api2/subscriptions[?url=CB]              unsubscribe
//	GET    /api2/authorize?redirect_uri=&client_id=&state=
//	GET    /api2/token (or POST with a form)         authorization_code and refresh_token grants
//
// API calls need `X-Client-ID` and a token, in `Authorization: OAuth <token>` or in a
// `_headers` (or `_header`) query parameter holding {"Authentication": "OAuth <token>"}.
// Errors use the API's envelope {"error": {"errorDetail": ..., "code": N}}. A route
// the API does not have answers 404, and NewServer fails the test at cleanup.
//
// Tokens are issued per user at start (Tokens, WriteTokens) and by the token
// endpoint; with Options.TokenTTL they expire on the emulator's clock (ExpireTokens).
// A refresh rotates both tokens. After a change, every subscribed user whose
// subscription names the changed type gets an empty-body POST to the callback URL
// with user=<id> added to its query (Deliveries lists them).
//
// # Faults
//
// Server's atomic fields inject faults into the next N API requests: Slow (with
// SlowDelay), Drop (connection closed), Fail401, Fail429 (with RetryAfter seconds),
// Fail500, Fail503 and Truncate (a 200 whose JSON body is cut in half).
// UnknownFields adds undocumented fields to everything served; Options.SameModified
// makes the first check-ins of every user share one `modified`; Options.UnknownType
// mixes in a type the contract does not know.
package azumiotest

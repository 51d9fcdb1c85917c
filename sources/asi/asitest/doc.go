// Package asitest is an in-memory emulator of the ASI API (the contract is
// shared/api/asi.md): the REST API and the OAuth 2.0 server, seeded
// deterministically from Options, with fault knobs. Every test of the ASI
// source runs against it, `etl emulate asi` serves it, and a pipeline with
// `base_url: emulator` starts one in-process, so nobody needs an account to
// try the toolkit.
//
// Where to start: NewServer(t, DefaultOptions()) in a test (a loopback server
// closed at the end of the test), New + Start elsewhere. Credentials lists the
// seeded accounts and the OAuth client; IssueToken logs one in directly.
//
// # The seeded world
//
// An administrator (admin), Managers managers (manager1...), Athletes athletes
// (athlete1...) and Devices devices, all with password Password. manager1 owns
// every device from 30 days before Start and runs Activities activities, one a
// day from Start, each Session long, alternating soccer and tennis; athlete i
// wears device i in each, so there is a time frame per activity and athlete.
// Every athlete grants manager1 READ and WRITE for a year. Devices record from
// 5 minutes before to 5 minutes after each activity they are used in.
//
// Device data comes from a per-device generator: every sample is a pure
// function of the seed, the device and the instant, so any window of history
// can be served, equal seeds serve equal bytes, and computed data (distance,
// speeds, accelerations over thresholds) is derived from the same speeds the
// preprocessed GNSS samples show. Some devices carry data no documentation
// names, to exercise clients: a power meter (group pwr, even ids), a group imu
// (ids divisible by 3) and a GNSS field hdop (ids divisible by 4); computed
// data always carries the undocumented keys player_load and sprints.
//
// The simulated Clock decides what exists (devices have recorded up to now;
// computed data covers the time frame up to now) and is sent as the Date
// header of every answer. Access tokens expire on the real clock.
//
// # Routes
//
// Every path ends with a slash; a path without one answers 404 (the service
// does not redirect). Unknown methods answer 405.
//
//	/oauth2/authorize/           login form, then Authorize/Deny; loopback redirect URIs
//	/oauth2/token/               password, authorization_code, refresh_token (rotating);
//	                             client by HTTP Basic (ClientID, ClientSecret)
//	/oauth2/revoke-token/        RFC 7009; revoking either token revokes the pair
//	/api/v1/users/me/            the caller
//	/api/v1/managers/[{id}/]     GET; POST open to unauthenticated callers
//	/api/v1/athletes/[{id}/]     GET; POST open to unauthenticated callers
//	/api/v1/athletes/{a}/managers/{m}/permissions/[{id}/]
//	                             GET (athlete, manager), POST and DELETE (athlete)
//	/api/v1/devices/[{id}/]      devices the caller owns or owned; ?current=true: owns now
//	/api/v1/devices/{id}/take-ownership/, release-ownership/
//	/api/v1/devices/{id}/preprocessed-data/?start=&end=         at most 2 days; one
//	                             message (a second of samples) per result
//	/api/v1/devices/{id}/preprocessed-data-ranges/?start=&end=  at most 14 days;
//	                             results {"start", "end"}: data the caller may read
//	/api/v1/json-schemas/[{id}/] GET; POST for administrators
//	/api/v1/activities/[{id}/]   json validated against its JSON schema (400 with errors)
//	/api/v1/activities/{id}/computed-data/   [{"timeframe", "data"}]
//	/api/v1/activities/{id}/webhooks/[{id}/] the secret shown masked
//	/api/v1/timeframes/[{id}/]   ?activity= &athlete= &device= &with_device= ...; needs WRITE
//	/api/v1/timeframes/{id}/computed-data/   needs READ covering the time frame
//
// Live streams (WebSocket, github.com/gorilla/websocket):
//
//	/ws/v1/preprocessed-data/{device}/            the caller must own the device now
//	/ws/v1/computed-data/{activity}/{timeframe}/  the computed-data object
//	/ws/v1/computed-data/{activity}/              {"timeframe", "data"} per time frame
//
// The server accepts, then waits AuthTimeout (3 s; Live.AuthTimeout in tests)
// for {"token", "params"} and closes with CloseAuthTimeout (4008),
// CloseUnauthenticated (4001), CloseForbidden (4003) or CloseBadParams (4000),
// each with a reason. params buffer_size (0..60), drop_older and
// flush_timeout (2..62, ≥ buffer_size + 2) are honoured as the contract says.
// SetLive sets the rate (1 Hz by default, 10 Hz and more), the speed of the
// simulated timeline, and deterministic faults: messages out of order or
// late, devices going quiet, sockets dropped; LiveStats counts what happened.
//
// Lists are paginated: ?page= (from 1) and ?limit= (at most MaxLimit, default
// Options.PageLimit) answer {"count", "page", "next", "previous", "results"};
// a page past the end is a 404. Lists take ?ordering=id|-id and ?search=.
// Errors are {"detail": "..."} or, for invalid fields, {"field": ["..."]}.
// Changes to activities and time frames call their webhooks with the
// X-Asi-Api-Token header (Deliveries lists the calls).
//
// # Faults
//
// SetFaults makes every Nth API request answer 429 with Retry-After, 503, or
// a connection cut half-way through the body, and can delay every answer;
// Stats counts requests, faults, statuses and tokens issued.
package asitest

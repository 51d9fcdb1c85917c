// Package asi is the `asi` source: it exports the REST data of the ASI API
// (shared/api/asi.md) — athletes, devices, activities, time frames,
// permissions, the computed data of every finished time frame, and the
// preprocessed history of devices — as Arrow record batches, incrementally
// and exactly once. Its emulator is in asitest.
//
// Where to start: Config (the options, with the contract's [assumed] paths
// and parameters in Config.API), Source (Units and Read), Client (requests,
// pagination, rate limit and retries), Auth (OAuth 2.0 tokens, refreshed and
// rotated into the tokens file).
//
// # Authentication
//
// Every request carries a bearer token. Auth reads the tokens file (written
// by `etl auth asi`, mode 0600, naming the service and client it belongs to),
// or logs in with the password grant when username and password are set; it
// refreshes the access token refresh_before its expiry and after any 401, and
// writes each new pair back atomically, since the service rotates refresh
// tokens. A refused refresh token falls back to the password grant if it can.
// Client authentication is HTTP Basic. Tokens, secrets and passwords never
// appear in logs or errors. With base_url: emulator the source starts
// asitest in-process and logs in as its manager1: no account is needed.
//
// # Units and streams
//
//	metadata         asi.athletes, asi.devices, asi.activities, asi.timeframes,
//	                 asi.permissions: every object new or changed since the last run
//	timeframe/<id>   asi.computed: one row per finished time frame and version
//	device/<id>      asi.preprocessed.<group>: one row per sample
//	live/device/<id> asi.preprocessed.<group> live over WebSocket, and asi.gaps
//	live/activity/<id>  asi.computed.live: a row per computed-data message of
//	                 every time frame of the activity (live_computed), and asi.gaps
//	live/timeframe/<id> asi.computed.live of one time frame (option timeframes);
//	                 the unit ends at the time frame's end: when a message
//	                 reaches it, or when the server's clock passes it (plus
//	                 flush_timeout if the server buffers), so the runner
//	                 flushes the transforms and commits
//
// Units are listed in that order, ids ascending. A time frame is a unit once
// it is finished: its end plus settle has passed by the server's clock (the
// Date header of its answers; the emulator's clock is simulated). Selection
// options (activities, athletes, devices, since, until) keep time frames; the
// devices option, or else the devices owned now, picks the device units.
// Metadata is exported whole (it is small).
//
// Every row carries its provenance ids (timeframe_id, activity_id,
// athlete_id, device_id...). Instants are timestamp[ms, UTC]. Numeric fields
// whose unit the contract states carry it in the Arrow field metadata "unit"
// (m, m/s, m/s², deg, kg, 1/min, W, %), which the si_units transform and the
// Parquet sink use. Keys no schema knows are kept as a JSON object in the
// `_extra` column, as are values whose type does not match their column;
// activity json and time frame params are kept as JSON text.
//
// asi.computed has typed columns for the documented keys (total_distance,
// max_speed, average_speed, last_timestamp) plus the time frame's ids and
// period and a version; accelerations and decelerations are each a list of
// structs {name, threshold (m/s²), values}, one element per threshold_N key in
// natural order — a list rather than a struct per key because the number of
// thresholds varies with the time frame's configuration, and a list keeps one
// schema and one row per time frame.
//
// asi.preprocessed.<group> turns the parallel arrays of a group into one row
// per index: device_id, timestamp, then the group's fields. The documented
// groups (gnss, ecg, pwr, device) have typed columns and _extra for fields
// added later; a group nobody documents yet gets a column per field, typed
// from its values (numbers float64, booleans bool, strings string, else
// JSON text). A group whose arrays differ in length goes to the dead letters
// with the reason, as does any object that cannot become a row.
//
// # Live streams
//
// With the stream live_preprocessed every selected device is a live unit read
// over /ws/v1/preprocessed-data/{device}/, and with live_computed every
// activity of the activities option over /ws/v1/computed-data/{activity}/
// (one socket per unit), until the run
// stops (signal, --duration): its rows land in the same tables as the
// history. The source sends the authentication message at once, with the
// live options buffer_size, drop_older and flush_timeout, which are checked
// with the server's ranges before anything connects. After a drop it takes
// a token (refreshed if it is about to expire) and reconnects with
// exponential backoff and jitter (reconnect_wait up to reconnect_max); a
// close for a bad token is retried once with a fresh token, and the other
// refusals (4003 forbidden, 4000 bad params) fail the unit with the server's
// reason, also logged. Every gap (the socket was down, the run was stopped,
// or event time jumped more than gap) is logged, counted (LiveStats, and the
// pipeline's counters asi.gaps and asi.reconnects, which the run summary and
// the metrics show) and emitted as a row (unit, start, end, reason) of
// asi.gaps. Messages may arrive out of order: put the reorder transform after
// the source. The live units are core.LiveSource units, so the runner ticks
// reorder for them and it releases rows on processing time as well (at most
// max_delay after their arrival). The position {"last": <ms>} is the newest
// event time received. A stop closes each socket the WebSocket way (our close
// frame, then reading until the server answers with its own, for up to 2 s),
// so every message the server sent before it saw the close is emitted,
// flushed through reorder and committed with the rest; what the next run
// misses while none is running it reports as a "not running" gap.
//
// # Positions
//
// Positions are JSON:
//
//	metadata        {"streams": {"athletes": {"<id>": "<fingerprint>"}, ...}}
//	timeframe/<id>  {"fingerprint": "<fp>", "version": 2}
//	device/<id>     {"done": <ms>} or, inside a window,
//	                {"done": <ms>, "window_end": <ms>, "page": 3, "group": "ecg", "limit": 1000}
//
// A fingerprint is a hash of an object's canonical JSON. A time frame is
// exported once per distinct (time frame, computed data) fingerprint: an
// unchanged one is never exported again, one that changed (PATCHed, a new end,
// recomputed data) is exported again with version+1. A device's history is
// walked from done (since, or history before now, on the first run) to the
// server's now minus settle: the ranges endpoint, ranges_window at a time,
// says where data is, and each period is fetched in windows of at most window
// (2 days), page by page, one batch per group; the window being read is in
// the position, so a crash resumes with the next page or group of the same
// window, and an exported window is never read again.
//
// # Failures
//
// Requests are rate limited (rate, burst, over all units) and retried
// (retries, from retry_wait doubling) after 429 (honouring Retry-After), 5xx,
// time-outs and dropped connections; when retries run out the error wraps
// core.ErrTransient with the wait asked for, and the runner retries the unit
// from its last position. A 403 fails its unit only, naming what is missing:
// READ permission on the athlete for a time frame, or ownership of a device.
// A time frame deleted after it was listed is skipped.
package asi

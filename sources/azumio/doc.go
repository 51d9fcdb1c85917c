// Package azumio is the `azumio` source: it exports Azumio check-ins, their
// fragments and user profiles, incrementally per user, following the contract in
// shared/api/azumio.md. Its emulator is in azumiotest; `base_url: emulator`
// starts that emulator in-process, so a pipeline runs with no account.
//
// Where to start: Config (the options; every path and parameter the contract
// marks [assumed] is one, under `api`), Source.Read (one user), Client (one API
// call: credentials, rate, retries, token refresh, archive and replay), Tokens
// (the tokens file).
//
// # Units and credentials
//
// A unit is one user, user/<id>, for every user of the tokens file (or of the
// `users` option). The tokens file is JSON, mode 0600, one OAuth token per user:
//
//	{"users": {"10001": {"access_token": "...", "token_type": "OAuth",
//	                     "refresh_token": "...", "expiry": "2026-02-01T00:00:00Z"}}}
//
// `etl auth azumio` runs the browser login and adds users to it. Every call
// carries `X-Client-ID` and `Authorization: OAuth <token>` (or, with `token_in:
// query`, the `_headers` parameter). A token past its expiry, or rejected with a
// 401, is refreshed once with the refresh token and client secret, and the
// rotated tokens are written back to the file atomically. A user whose token is
// rejected and cannot be refreshed fails with a message naming the user, the URL
// (never the token) and `etl auth azumio`; the other users go on, and the run
// exits with the code for failed units.
//
// Requests of all users share one rate (`requests_per_second`, golang.org/x/time/rate).
// A request that fails transiently — a network error, a timeout, 408, 429, a 5xx, or
// a 200 whose JSON is cut — is retried with exponential backoff
// (cenkalti/backoff/v5), waiting at least what Retry-After asks. When `retry.tries`
// run out, Read returns a transient error and the runner retries the user from its
// last position.
//
// # Streams
//
// azumio.checkins.<type>: one stream and one schema per check-in type. Every
// check-in stream starts with the columns every type has, provenance first:
//
//	user_id string, id string, version int64, type string, deleted bool,
//	modified, created, timestamp, start, end   timestamp[ms, UTC]
//	timezone float64 (unit h: the offset in hours, as sent), remoteid string,
//	client_id string, live bool, privacy int64, privacy_groups list<string>,
//	value float64
//
// steps check-ins add the measures the contract documents: steps, distance (unit
// m), activeDuration (s), calories, walkCalories, basalCalories (kcal; the API
// sends kilocalories despite its SI rule). The contract documents no fields of
// its own for the other types, so workout_log, heartrate, sleeptime, drink,
// weight and any type the source does not know share this generic schema: an
// unknown type is exported, never dropped. Every stream ends with
//
//	fragments list<struct<name string, id string>>   the check-in's "#name" members
//	_extra    string                                 every other member, as a JSON object
//
// so nothing the API sends is lost: an undocumented member lands in _extra with
// its JSON value, and a null member is a null column. Field metadata "unit" names
// the unit of each measure whose unit the contract states.
//
// azumio.fragments.<name>: the detail a check-in's "#name" member points to,
// fetched from api.fragment_path, as rows linked to the check-in (user_id,
// checkin_id, checkin_version, fragment_id first). steps_profile has one row per
// interval (timestamp, interval in s, steps); path one row per point (t, lat, lon,
// alt in m); a fragment of another name one row holding its JSON in `data`.
// Members the schema does not know go to _extra. A fragment the API does not
// have (404) or of the wrong shape goes to the dead letters with the reason.
//
// azumio.profile: one row per user whenever the profile differs from the one
// last exported (id, name, first_name, gender, birthday as sent, picture,
// _extra).
//
// # Incremental sync
//
// The source follows the contract's two rules. It asks for
// `GET /api2/checkins?type=...&since=S&limit=N` with S the greatest `modified`
// received so far; the bound is inclusive, so a page repeats the check-ins at S,
// and a check-in is exported only if its (id, version) has not been: an edited
// check-in (a greater version) is a new row, a deletion a new row with deleted
// true. A full page whose check-ins all share modified S would come back forever
// with since=S: the source doubles the page size up to api.max_page_size, and past
// that stops the user with an error naming the cursor (the other users go on).
//
// # Positions
//
// A user's position is JSON:
//
//	{"since": 1391651101440, "seen": [["1076547023", 3145], ...],
//	 "pending": [["1076547023", 3145, "steps_profile", "123456"]], "profile": "9f86d081884c7d65"}
//
// since is the next request's lower bound; seen lists the check-ins with
// modified >= since already exported and their versions (normally just those at
// the instant since, which the next page repeats); pending lists fragments of
// exported check-ins not yet exported; profile is a hash of the last exported
// profile. A page's check-ins are emitted grouped by type, one batch per type,
// each group followed by one batch per fragment name; a batch's position covers
// exactly the rows emitted up to it (a group's check-ins are added to seen, its
// fragments to pending, and each fragment batch removes its name from pending),
// so a read from any batch's position emits exactly the rows that followed that
// batch, and a rerun after a crash exports every (id, version) once.
//
// # Archive and replay
//
// With `archive: DIR` every answer fetched is kept in DIR/user=<id>/ as zstd
// JSON lines with the request that produced it (gzip with `archive_compression:
// gzip`, which replays three times slower; plain JSON lines with `none`, five
// times the disk of zstd but nothing to decompress: a replay of the benchmarks'
// million check-ins takes 0.3 CPU-s less; see archive.go); `replay: DIR`
// reads such an archive instead of calling the API (needing no credentials; the
// units are the archive's users), to re-run a pipeline or benchmark the rest of
// it. Each request is answered with the answers archived for it in their order,
// and where one run ended (hasMore false) the replay goes on with the request a
// later run made next, so that replaying the archive of several runs from scratch
// exports what those runs exported. A request the archive does not hold fails the
// user with a message naming it.
//
// # Speed
//
// A page is decoded in one pass over its bytes: a hand-written scanner (scan.go,
// decode.go) finds every member, which ones were present, null or unknown (which
// go-json cannot say), and converts the known members' values into typed structs
// (checkinJSON, direct.go); goccy/go-json decodes a page only when the scanner
// meets a value it must not decide (an escaped string, a value of the wrong
// kind, a key differing from a known one only in case), so both paths give the
// same values. Rows are appended straight into Arrow builders, with no
// per-record map. On the benchmarks' page (1,000 steps check-ins, 485 bytes
// each) decoding takes about 0.54 µs of CPU per check-in, where go-json's pass
// alone took 0.45 µs on top of the scanner's, and appending to the builders
// 0.25 µs (BenchmarkDecodePage*, BenchmarkAppendPage; CPU time with
// GOMAXPROCS=1 on the shared development machine, an AMD EPYC).
//
// bench_test.go measures a replay and a loopback export of a million steps
// check-ins into zstd Parquet, each in a process of its own for its peak RSS,
// reporting check-ins per second of wall and of CPU time and the processor
// time the pipeline left idle. The replay of a zstd archive into Parquet with
// the sink's default encodings costs 2.3-2.6 CPU-s per million check-ins:
// about 0.4 decompressing the archive, 0.6 decoding, 0.3 exporting (appends,
// deduplication), 0.85 the Parquet sink (0.65 of it zstd, 0.27 of that the
// eight double columns) and the rest the runtime (the garbage collector
// 0.15-0.2: some twenty collections of a live heap of 70 MB); a gzip
// archive adds 0.6 to decompress. With the sink's integer_encoding: delta
// and float_encoding: byte_stream_split (the zstd+delta+split benchmark),
// zstd skips the doubles' noisy bytes and searches a third of the
// timestamps' and the replay costs 1.9-2.0 CPU-s per million, for files 4%
// larger than the defaults' (75 MiB against 72): two cores then
// replay 0.8-0.95 M check-ins/s on the shared machine, against the issue's
// 1 M/s, leaving 2-3% of their time idle. An uncompressed archive
// (archive_compression: none, the "none" variant) saves the decompression:
// 1.7-1.9 CPU-s per million and 0.79-1.04 M check-ins/s with the default
// encodings (the zstd archive: 0.69-0.86 M/s the same hour; the machine is a
// shared VM and runs minutes apart differ by a fifth), and with delta and
// split too (none+delta+split) 1.5 CPU-s and 1.08-1.23 M check-ins/s. The
// loopback export (0.52-0.67 M/s over the sessions, goal 0.4) waits for the
// emulator, which shares the two cores, a tenth of its processor time.
package azumio

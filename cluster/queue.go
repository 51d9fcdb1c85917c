package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The work queue
//
// Units wait in one JetStream stream with work-queue retention, one subject per
// unit: PREFIX.<pipeline>.<unit> (both escaped to one subject token each, see
// token). The stream keeps at most one message per subject and refuses a new one
// while it holds one (MaxMsgsPerSubject 1, DiscardNew, DiscardNewPerSubject), so
// a unit is never queued twice. A message stays in the stream until a worker
// acknowledges it after the unit's commit, so a unit that runs is still "queued"
// for the stream: a second publish is refused, and the unit never runs twice at
// once. Each pipeline has one durable pull consumer, filtered on its subjects,
// shared by every worker of that pipeline.

// QueueOptions name and size the work queue. The zero value is valid.
type QueueOptions struct {
	// Stream is the stream's name (default "ETL_UNITS").
	Stream string
	// Prefix is the subjects' first tokens (default "etl.units").
	Prefix string
	// Replicas is the replica count of a stream OpenQueue creates (default 1;
	// 3 on a three-node cluster); an existing stream keeps its own, and the
	// consumers follow the stream.
	Replicas int
	// AckWait is how long a delivered unit may go without a heartbeat before
	// JetStream gives it to another worker (default DefaultAckWait).
	AckWait time.Duration
}

// The delivery settings, chosen so that a dead worker's unit moves on in about
// half a minute while a live one never loses its unit, and a unit that keeps
// failing backs off instead of spinning:
const (
	// DefaultAckWait is the first delivery's ack wait: a worker that stops
	// heartbeating (it died, or its machine or network did) loses the unit
	// after this long. Workers heartbeat (InProgress) every AckWait/3.
	DefaultAckWait = 30 * time.Second
	// MaxTries is how many times a worker runs a unit that fails before it
	// terminates the unit's message (logged): the subject is then free for the
	// next trigger, and the unit's state records the error.
	MaxTries = 5
)

// redeliveryBackOff are the ack waits of a unit's later deliveries (JetStream
// consumer BackOff; the first is AckWait): a unit whose worker died is
// redelivered at once after the wait, but a unit that kills every worker it
// reaches (a crash, an out-of-memory) is retried less and less often, never
// more than every 10 minutes. It also paces units whose runs fail (a worker
// naks them with the delay of their delivery count).
var redeliveryBackOff = []time.Duration{time.Minute, 2 * time.Minute, 5 * time.Minute, 10 * time.Minute}

// Queue is the work-queue stream of units.
type Queue struct {
	js     jetstream.JetStream
	stream jetstream.Stream
	opts   QueueOptions
}

// OpenQueue opens the work-queue stream on nc's JetStream, creating it if it
// is missing.
func OpenQueue(ctx context.Context, nc *nats.Conn, opts QueueOptions) (*Queue, error) {
	if opts.Stream == "" {
		opts.Stream = "ETL_UNITS"
	}
	if opts.Prefix == "" {
		opts.Prefix = "etl.units"
	}
	if opts.AckWait <= 0 {
		opts.AckWait = DefaultAckWait
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("cluster: queue: %w", err)
	}
	// An existing stream is used as it is (an operator may have made it with
	// more replicas) if it has the settings a unit queue needs.
	stream, err := js.Stream(ctx, opts.Stream)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		stream, err = js.CreateStream(ctx, jetstream.StreamConfig{
			Name:                 opts.Stream,
			Description:          "etl: units waiting for a worker, one subject per unit",
			Subjects:             []string{opts.Prefix + ".>"},
			Retention:            jetstream.WorkQueuePolicy,
			MaxMsgsPerSubject:    1,
			Discard:              jetstream.DiscardNew,
			DiscardNewPerSubject: true,
			Storage:              jetstream.FileStorage,
			Replicas:             max(opts.Replicas, 1),
		})
	}
	if err != nil {
		return nil, fmt.Errorf("cluster: queue: stream %s: %w", opts.Stream, err)
	}
	if c := stream.CachedInfo().Config; c.Retention != jetstream.WorkQueuePolicy || c.MaxMsgsPerSubject != 1 ||
		c.Discard != jetstream.DiscardNew || !c.DiscardNewPerSubject || !slices.Contains(c.Subjects, opts.Prefix+".>") {
		return nil, fmt.Errorf("cluster: queue: stream %s exists with other settings; it needs subjects %s.>, work-queue retention, max_msgs_per_subject 1, discard new per subject (see docs/cluster.md)", opts.Stream, opts.Prefix)
	}
	return &Queue{js: js, stream: stream, opts: opts}, nil
}

// subject is the queue subject of one unit.
func (q *Queue) subject(pipeline, unit string) string {
	return q.opts.Prefix + "." + token(pipeline) + "." + token(unit)
}

// consumer creates or updates the pipeline's durable pull consumer.
func (q *Queue) consumer(ctx context.Context, pipeline string) (jetstream.Consumer, error) {
	c, err := q.stream.CreateOrUpdateConsumer(ctx, jetstream.ConsumerConfig{
		Durable:       "etl-" + token(pipeline),
		Description:   "etl workers of pipeline " + pipeline,
		FilterSubject: q.opts.Prefix + "." + token(pipeline) + ".>",
		AckPolicy:     jetstream.AckExplicitPolicy,
		BackOff:       append([]time.Duration{q.opts.AckWait}, redeliveryBackOff...),
		MaxDeliver:    -1,
		// A worker takes one unit at a time per slot; this bounds what the
		// pipeline has in flight across all workers.
		MaxAckPending: 10_000,
	})
	if err != nil {
		return nil, fmt.Errorf("cluster: queue: consumer for %s: %w", pipeline, err)
	}
	return c, nil
}

// unitMsg is the body of a queued unit.
type unitMsg struct {
	Pipeline string    `json:"pipeline"`
	Unit     string    `json:"unit"`
	Asked    time.Time `json:"asked"`
}

// Queued counts what one Dispatch did.
type Queued struct {
	// Queued units were published: a worker will run them.
	Queued int
	// Coalesced units were waiting already: their queued run covers the call.
	Coalesced int
	// Deferred units were running: one more run is queued when they end.
	Deferred int
}

// publish queues one unit; full reports that the unit's subject holds a
// message already (queued or running).
func (q *Queue) publish(ctx context.Context, pipeline, unit string, asked time.Time) (full bool, err error) {
	body, _ := json.Marshal(unitMsg{Pipeline: pipeline, Unit: unit, Asked: asked.UTC()})
	_, err = q.js.Publish(ctx, q.subject(pipeline, unit), body)
	if subjectFull(err) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("cluster: queue %s unit %s: %w", pipeline, unit, err)
	}
	return false, nil
}

// subjectFull reports the stream's refusal of a second message on a subject.
func subjectFull(err error) bool {
	var api *jetstream.APIError
	return errors.As(err, &api) && api.ErrorCode == errCodeStreamStoreFailed &&
		strings.Contains(api.Description, "per subject")
}

// errCodeStreamStoreFailed is the server's JSStreamStoreFailedF error code, which
// nats.go does not name.
const errCodeStreamStoreFailed jetstream.ErrorCode = 10077

package plugins

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

// stderrLines is how many of a plugin's last stderr lines a crash reports.
const stderrLines = 20

// process is one running plugin.
type process struct {
	name   string
	log    *slog.Logger
	client *plugin.Client // nil when the plugin runs in this process (tests)
	rpc    plugin.ClientProtocol
	conn   *wire.Conn
	pid    int
	tail   *stderrTail

	mu     sync.Mutex
	exit   string // the process's exit error, once go-plugin has seen it
	killed bool
}

// start runs t and connects to the kind of component wanted.
func (o *Opener) start(t target, log *slog.Logger, kind string) (*process, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &process{name: t.name, tail: newStderrTail(stderrLines)}
	p.log = log
	out := &atomic.Pointer[slog.Logger]{}
	out.Store(log)
	hl := &hclogger{out: out, exited: p.setExit}
	cmd := exec.Command(t.path, t.args...)
	// The environment is given in full (SkipHostEnv below) so that what is
	// set here wins over this process's own variables.
	cmd.Env = t.env
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, wire.LogLevelEnv+"="+levelName(log))
	cfg := &plugin.ClientConfig{
		HandshakeConfig:  wire.Handshake,
		VersionedPlugins: clientSets(),
		Cmd:              cmd,
		AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		Logger:           hl,
		Stderr:           p.tail,
		SyncStdout:       &lineLogger{log: log, level: slog.LevelInfo, stream: "stdout"},
		SyncStderr:       &lineLogger{log: log, level: slog.LevelWarn, stream: "stderr", tail: p.tail},
		StartTimeout:     o.StartTimeout,
		GRPCDialOptions:  wire.DialOptions(),
	}
	if t.sum != nil {
		cfg.SecureConfig = &plugin.SecureConfig{Checksum: t.sum, Hash: sha256.New()}
	} else if !t.builtin {
		log.Warn("running an external plugin without a checksum: record it in a manifest to have it verified",
			"path", t.path, "manifest", filepath.Join(filepath.Dir(t.path), ManifestFile))
	}
	p.client = plugin.NewClient(cfg)
	rpc, err := p.client.Client()
	if err != nil {
		p.client.Kill()
		return nil, p.startError(t, err)
	}
	p.rpc = rpc
	if pid, err := strconv.Atoi(p.client.ID()); err == nil {
		p.pid = pid
	}
	p.log = log.With("pid", p.pid)
	out.Store(p.log)
	if err := p.dispense(kind); err != nil {
		p.kill()
		return nil, err
	}
	return p, nil
}

func (p *process) dispense(kind string) error {
	raw, err := p.rpc.Dispense(kind)
	if err != nil {
		return fmt.Errorf("plugins: %s: %w", p.name, err)
	}
	conn, ok := raw.(*wire.Conn)
	if !ok {
		return fmt.Errorf("plugins: %s: dispensed a %T", p.name, raw)
	}
	p.conn = conn
	return nil
}

// levelName is the lowest level log lets through, as the plugin's logger
// parses it.
func levelName(log *slog.Logger) string {
	ctx := context.Background()
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if log.Enabled(ctx, l) {
			return l.String()
		}
	}
	return slog.LevelError.String()
}

func (p *process) setExit(msg string) {
	p.mu.Lock()
	p.exit = msg
	p.mu.Unlock()
}

// startError explains why t did not start.
func (p *process) startError(t target, err error) error {
	if errors.Is(err, plugin.ErrChecksumsDoNotMatch) {
		got, herr := Checksum(t.path)
		if herr != nil {
			got = "unknown (" + herr.Error() + ")"
		}
		return &ChecksumError{Plugin: t.name, Path: t.path, Manifest: t.pinnedBy, Want: fmt.Sprintf("%x", t.sum), Got: got}
	}
	if strings.Contains(err.Error(), "incompatible API version") { // go-plugin's words
		return fmt.Errorf("plugins: %s: refusing to start %s: it speaks none of the plugin protocol versions this etl speaks (%v): build it against an SDK that does, or use an etl release that speaks its version (%w)",
			t.name, t.path, wire.Protocols, err)
	}
	return fmt.Errorf("plugins: %s: start %s: %w%s", t.name, t.path, err, p.stderrNote())
}

// clientSets offers the plugin every protocol version this build speaks.
func clientSets() map[int]plugin.PluginSet {
	sets := map[int]plugin.PluginSet{}
	for _, v := range wire.Protocols {
		sets[v] = wire.ClientSet()
	}
	return sets
}

// ChecksumError is returned when a plugin's executable does not have the
// SHA-256 its manifest records; the plugin is not started.
type ChecksumError struct {
	Plugin, Path, Manifest string
	Want, Got              string
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("plugins: %s: refusing to start %s: its SHA-256 is %s but %s records %s; if the new executable is the one you want, record it again with `etl plugin add %s %s`",
		e.Plugin, e.Path, e.Got, e.Manifest, e.Want, e.Plugin, e.Path)
}

// CrashError is returned by every call to a plugin whose process has exited
// under it. Nothing the plugin had not committed is kept; a new run resumes
// from the last commit.
type CrashError struct {
	Plugin string
	PID    int
	// Op is the call that found the process gone: "write", "read unit-0001", ...
	Op string
	// Exit is how the process ended, e.g. "exit status 2" ("" if unknown).
	Exit string
	// Stderr holds its last lines on stderr, oldest first.
	Stderr []string
}

func (e *CrashError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "plugins: %s (pid %d) exited during %s", e.Plugin, e.PID, e.Op)
	if e.Exit != "" {
		b.WriteString(": " + e.Exit)
	}
	if len(e.Stderr) > 0 {
		b.WriteString("; its last lines on stderr:")
		for _, l := range e.Stderr {
			b.WriteString("\n    " + l)
		}
	}
	b.WriteString("\n(what was committed is kept: run the pipeline again to resume)")
	return b.String()
}

func (p *process) stderrNote() string {
	lines := p.tail.Lines()
	if len(lines) == 0 {
		return ""
	}
	return "; its last lines on stderr:\n    " + strings.Join(lines, "\n    ")
}

// exited reports whether the process has ended, waiting up to wait for
// go-plugin to notice.
func (p *process) exited(wait time.Duration) bool {
	if p.client == nil {
		return false
	}
	deadline := time.Now().Add(wait)
	for {
		if p.client.Exited() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// fail turns the error of a call into what the caller returns: the plugin's
// own error with its kind; ctx's error if the call was cancelled; a
// CrashError if the process is gone.
func (p *process) fail(ctx context.Context, op string, err error) error {
	if err == nil {
		return nil
	}
	if remote, ok := wire.FromStatus(err); ok {
		return fmt.Errorf("plugins: %s: %w", p.name, remote)
	}
	if ctx != nil && ctx.Err() != nil {
		return fmt.Errorf("plugins: %s: %s: %w", p.name, op, ctx.Err())
	}
	switch status.Code(err) {
	case codes.Unavailable, codes.Canceled, codes.Internal, codes.Unknown:
		if p.exited(2 * time.Second) {
			return p.crashed(op)
		}
	}
	return fmt.Errorf("plugins: %s: %s: %w", p.name, op, err)
}

func (p *process) crashed(op string) error {
	p.mu.Lock()
	exit := p.exit
	p.mu.Unlock()
	return &CrashError{Plugin: p.name, PID: p.pid, Op: op, Exit: exit, Stderr: p.tail.Lines()}
}

// serves reports whether the process serves a component of kind.
func (p *process) serves(kind string) bool {
	if p.conn == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var err error
	switch kind {
	case wire.KindSource:
		_, err = pb.NewSourceClient(p.conn.Conn).Spec(ctx, &pb.SpecRequest{})
	case wire.KindTransform:
		_, err = pb.NewTransformClient(p.conn.Conn).Spec(ctx, &pb.SpecRequest{})
	case wire.KindSink:
		_, err = pb.NewSinkClient(p.conn.Conn).Spec(ctx, &pb.SpecRequest{})
	}
	return err == nil
}

// serveDeadLetters serves dl to the plugin through go-plugin's broker and
// returns the id the plugin dials.
func (p *process) serveDeadLetters(dl core.DeadLetters) uint32 {
	id := p.conn.Broker.NextId()
	go p.conn.Broker.AcceptAndServe(id, func(opts []grpc.ServerOption) *grpc.Server {
		s := grpc.NewServer(opts...)
		pb.RegisterDeadLettersServer(s, &deadLetterServer{dl: dl})
		return s
	})
	return id
}

// deadLetterServer passes a plugin's rejected rows on to the pipeline.
type deadLetterServer struct {
	pb.UnimplementedDeadLettersServer
	dl core.DeadLetters
}

func (s *deadLetterServer) Reject(ctx context.Context, d *pb.DeadLetter) (*pb.RejectResponse, error) {
	err := s.dl.Reject(ctx, core.DeadLetter{Stream: d.Stream, Unit: d.Unit, Component: d.Component, Reason: d.Reason, Value: d.Value})
	return &pb.RejectResponse{}, wire.ToStatus(err)
}

// kill stops the process (gracefully if it still answers) and waits for it.
// It is safe to call more than once.
func (p *process) kill() {
	p.mu.Lock()
	if p.killed {
		p.mu.Unlock()
		return
	}
	p.killed = true
	p.mu.Unlock()
	if p.client != nil {
		p.client.Kill()
		return
	}
	if p.rpc != nil {
		p.rpc.Close()
	}
}

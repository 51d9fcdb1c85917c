package plugins

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/etl-toolkit/etl/core"
	"github.com/etl-toolkit/etl/plugins/internal/wire"
	pb "github.com/etl-toolkit/etl/plugins/proto"
)

func init() { core.SetExternal(Default) }

// Default is the Opener that this package installs in core from init(), so
// that importing the package lets pipelines name external plugins.
var Default = &Opener{}

// BuiltinPrefix names a built-in component run in a process of its own:
// `plugin: external:builtin:csv` runs the csv sink in `etl plugin serve csv`.
const BuiltinPrefix = "builtin:"

// DirEnv is the environment variable naming the plugins directory.
const DirEnv = "ETL_PLUGIN_DIR"

// DefaultDir is the plugins directory when neither Opener.Dir nor DirEnv says.
const DefaultDir = ".etl-plugins"

// Opener starts external plugins and returns components that talk to them; it
// implements core.External. A reference (what follows `external:` in a
// pipeline file) is one of:
//
//   - a path (it contains a slash, or starts with "."): the executable itself,
//     relative to the working directory, like every path in a pipeline file. If
//     a manifest (ManifestFile) in the executable's directory records it, its
//     SHA-256 must match; otherwise it runs unverified, with a warning.
//   - builtin:NAME: a built-in component in a process of its own, served by
//     this program as `etl plugin serve NAME` (see Self).
//   - a name: the plugin of that name in the plugins directory's manifest,
//     which must record its SHA-256; a mismatch refuses to start.
//
// Each component gets a process of its own, started when the component is
// built and stopped by its Close. The zero Opener is ready to use.
type Opener struct {
	// Dir is the plugins directory; "" means $ETL_PLUGIN_DIR, or DefaultDir.
	Dir string
	// Self returns the command that serves the built-in name; nil means this
	// executable with the arguments "plugin", "serve", name.
	Self func(name string) *exec.Cmd
	// MaxInFlight bounds the bytes of batches sent to a sink plugin and not
	// yet written by it (at least one batch is always let through); 0 means
	// DefaultMaxInFlight.
	MaxInFlight int
	// StartTimeout bounds a plugin's start and handshake; 0 means one minute.
	StartTimeout time.Duration
}

// DefaultMaxInFlight is the default Opener.MaxInFlight.
const DefaultMaxInFlight = 8 << 20

var _ core.External = (*Opener)(nil)

// Dirname returns the plugins directory in use.
func (o *Opener) Dirname() string { return o.dir() }

func (o *Opener) dir() string {
	switch {
	case o.Dir != "":
		return o.Dir
	case os.Getenv(DirEnv) != "":
		return os.Getenv(DirEnv)
	}
	return DefaultDir
}

func (o *Opener) maxInFlight() int {
	if o.MaxInFlight > 0 {
		return o.MaxInFlight
	}
	return DefaultMaxInFlight
}

// target is a resolved reference: what to run and what its checksum must be.
type target struct {
	name string // what messages and logs call the plugin
	path string
	args []string
	env  []string // the process's environment; nil: this process's
	sum  []byte   // the SHA-256 the executable must have; nil: unverified
	// pinnedBy is the manifest that recorded sum.
	pinnedBy string
	builtin  bool
}

// resolve finds the executable a reference names.
func (o *Opener) resolve(ref string) (target, error) {
	if name, ok := strings.CutPrefix(ref, BuiltinPrefix); ok {
		if name == "" {
			return target{}, fmt.Errorf("plugins: %q names no built-in (want %sNAME, e.g. %scsv)", ref, BuiltinPrefix, BuiltinPrefix)
		}
		if o.Self != nil {
			cmd := o.Self(name)
			return target{name: ref, path: cmd.Path, args: cmd.Args[1:], env: cmd.Env, builtin: true}, nil
		}
		exe, err := os.Executable()
		if err != nil {
			return target{}, fmt.Errorf("plugins: %s: find this program to serve it: %w", ref, err)
		}
		return target{name: ref, path: exe, args: []string{"plugin", "serve", name}, builtin: true}, nil
	}
	if strings.ContainsRune(ref, '/') || strings.ContainsRune(ref, filepath.Separator) || strings.HasPrefix(ref, ".") {
		return o.resolvePath(ref)
	}
	return o.resolveName(ref)
}

func (o *Opener) resolvePath(ref string) (target, error) {
	path, err := filepath.Abs(ref)
	if err != nil {
		return target{}, fmt.Errorf("plugins: %s: %w", ref, err)
	}
	if err := executable(ref, path); err != nil {
		return target{}, err
	}
	t := target{name: filepath.Base(path), path: path}
	dir := filepath.Dir(path)
	m, err := ReadManifest(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return t, nil
	case err != nil:
		return target{}, err
	}
	for name, e := range m.Plugins {
		if filepath.Clean(e.executable(dir)) == path {
			sum, _ := hex.DecodeString(e.SHA256) // checked by ReadManifest
			t.name, t.sum, t.pinnedBy = name, sum, filepath.Join(dir, ManifestFile)
			return t, nil
		}
	}
	return t, nil
}

func (o *Opener) resolveName(name string) (target, error) {
	dir := o.dir()
	m, err := ReadManifest(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return target{}, fmt.Errorf("plugins: plugin %q: no manifest %s (a plugin named without a path comes from the plugins directory, $%s or %s; record it there with `etl plugin add %s PATH`, or name its executable by path, e.g. external:./bin/%s)",
			name, filepath.Join(dir, ManifestFile), DirEnv, DefaultDir, name, name)
	}
	if err != nil {
		return target{}, err
	}
	e, ok := m.Plugins[name]
	if !ok {
		known := make([]string, 0, len(m.Plugins))
		for n := range m.Plugins {
			known = append(known, n)
		}
		sort.Strings(known)
		list := "it lists none"
		if len(known) > 0 {
			list = "it lists: " + strings.Join(known, ", ")
		}
		return target{}, fmt.Errorf("plugins: plugin %q is not in %s (%s)", name, filepath.Join(dir, ManifestFile), list)
	}
	path := e.executable(dir)
	if err := executable(name, path); err != nil {
		return target{}, err
	}
	sum, _ := hex.DecodeString(e.SHA256)
	return target{name: name, path: path, sum: sum, pinnedBy: filepath.Join(dir, ManifestFile)}, nil
}

// executable checks that path is a file that can be run.
func executable(ref, path string) error {
	fi, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("plugins: %s: no such file %s (build the plugin, or fix the path)", ref, path)
	case err != nil:
		return fmt.Errorf("plugins: %s: %w", ref, err)
	case fi.IsDir():
		return fmt.Errorf("plugins: %s: %s is a directory, not an executable", ref, path)
	case fi.Mode()&0o111 == 0:
		return fmt.Errorf("plugins: %s: %s is not executable (chmod +x it)", ref, path)
	}
	return nil
}

// configurer is what the three services' clients have in common.
type configurer interface {
	Spec(ctx context.Context, in *pb.SpecRequest, opts ...grpc.CallOption) (*pb.SpecResponse, error)
	Configure(ctx context.Context, in *pb.ConfigureRequest, opts ...grpc.CallOption) (*pb.ConfigureResponse, error)
}

// open starts the plugin ref names, checks that it serves a component of kind,
// and configures it with env's config section. Problems the plugin finds in
// the section come back as core.ConfigErrors at their place in the pipeline
// file. On error nothing is left running.
func open[C configurer](ctx context.Context, o *Opener, ref string, env core.Env, kind string, newClient func(*wire.Conn) C) (*process, C, *pb.SpecResponse, *pb.ConfigureResponse, error) {
	var zero C
	t, err := o.resolve(ref)
	if err != nil {
		return nil, zero, nil, nil, err
	}
	p, err := o.start(t, env.Logger, kind)
	if err != nil {
		return nil, zero, nil, nil, err
	}
	c := newClient(p.conn)
	spec, resp, err := configure(ctx, p, c, env, kind)
	if err != nil {
		p.kill()
		return nil, zero, nil, nil, err
	}
	return p, c, spec, resp, nil
}

// configure asks the plugin for its spec and configures it.
func configure[C configurer](ctx context.Context, p *process, c C, env core.Env, kind string) (*pb.SpecResponse, *pb.ConfigureResponse, error) {
	spec, err := c.Spec(ctx, &pb.SpecRequest{})
	if status.Code(err) == codes.Unimplemented {
		return nil, nil, fmt.Errorf("plugins: %s is not a %s plugin: %s", p.name, kind, p.kinds())
	}
	if err != nil {
		return nil, nil, p.fail(ctx, "spec", err)
	}
	p.log.Debug("plugin started", "name", spec.Name, "version", spec.Version, "pid", p.pid)
	src, err := env.Config.YAML()
	if err != nil {
		return nil, nil, err
	}
	file, _, _ := env.Config.Position()
	req := &pb.ConfigureRequest{Pipeline: env.Pipeline, File: file, Path: env.Config.Path(), Config: src}
	if env.DeadLetters != nil {
		req.DeadLetters = p.serveDeadLetters(env.DeadLetters)
	}
	resp, err := c.Configure(ctx, req)
	if err != nil {
		if remote, ok := wire.FromStatus(err); ok {
			var problems wire.ConfigProblems
			if errors.As(remote, &problems) {
				return nil, nil, mapProblems(env.Config, problems)
			}
		}
		return nil, nil, p.fail(ctx, "configure", err)
	}
	return spec, resp, nil
}

// kinds says which kinds of component p serves, for the error that says it
// serves none of the kind wanted.
func (p *process) kinds() string {
	var have []string
	for _, k := range wire.Kinds {
		if p.serves(k) {
			have = append(have, k)
		}
	}
	if len(have) == 0 {
		return "it serves no component"
	}
	return "it serves a " + strings.Join(have, " and a ")
}

// mapProblems points each problem a plugin found in its config section at its
// place in the pipeline file.
func mapProblems(cfg core.Config, problems wire.ConfigProblems) error {
	section := cfg.Path()
	var errs core.ConfigErrors
	for _, pr := range problems {
		key := pr.Path
		switch {
		case key == section:
			key = ""
		case section != "" && strings.HasPrefix(key, section+"."):
			key = key[len(section)+1:]
		case section != "" && strings.HasPrefix(key, section+"["):
			key = key[len(section):]
		}
		errs.Add(cfg.Errorf(key, "%s", pr.Message))
	}
	return errs.Err()
}

// OpenSource implements core.External.
func (o *Opener) OpenSource(ctx context.Context, ref string, env core.Env) (core.Source, error) {
	p, c, spec, _, err := open(ctx, o, ref, env, wire.KindSource, func(cn *wire.Conn) pb.SourceClient { return pb.NewSourceClient(cn.Conn) })
	if err != nil {
		return nil, err
	}
	return newSource(p, c, spec, env), nil
}

// OpenTransform implements core.External.
func (o *Opener) OpenTransform(ctx context.Context, ref string, env core.Env) (core.Transform, error) {
	p, c, spec, _, err := open(ctx, o, ref, env, wire.KindTransform, func(cn *wire.Conn) pb.TransformClient { return pb.NewTransformClient(cn.Conn) })
	if err != nil {
		return nil, err
	}
	return newTransform(p, c, spec, env), nil
}

// OpenSink implements core.External.
func (o *Opener) OpenSink(ctx context.Context, ref string, env core.Env) (core.Sink, error) {
	p, c, spec, resp, err := open(ctx, o, ref, env, wire.KindSink, func(cn *wire.Conn) pb.SinkClient { return pb.NewSinkClient(cn.Conn) })
	if err != nil {
		return nil, err
	}
	return newSink(p, c, spec, resp, env, o.maxInFlight()), nil
}

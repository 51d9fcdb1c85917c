package serve

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/robfig/cron/v3"

	"github.com/etl-toolkit/etl/core"
)

// Config is a serve file (serve.yaml): where to listen and which pipelines to
// run when.
type Config struct {
	// File is the path the config was loaded from.
	File string `yaml:"-"`
	// Listen is the HTTP address of the receivers and metrics (default 127.0.0.1:8080).
	Listen string `yaml:"listen"`
	// Queue bounds the distinct units waiting per pipeline (default 1000); beyond
	// it the pipeline's next pull is a full incremental run.
	Queue int `yaml:"queue"`
	// ShutdownGrace is how long a running pull may go on after a stop signal
	// before it is told to stop (it then commits what it read). Default 30s.
	ShutdownGrace time.Duration `yaml:"shutdown_grace"`
	// Pipelines are the pipelines served.
	Pipelines []PipelineConfig `yaml:"pipelines"`
}

// PipelineConfig names one pipeline file and its triggers.
type PipelineConfig struct {
	// File is the pipeline file, relative to the serve file's directory.
	File string `yaml:"file"`
	// Schedule is a cron spec (5 fields, or @daily, @every 1h...), optionally
	// prefixed by CRON_TZ=Zone/Name; each firing is a full incremental run.
	Schedule string `yaml:"schedule"`
	// Azumio enables POST /hooks/azumio/<pipeline name>?user=<id> (and
	// /hooks/azumio/<pipeline name>/<id>): a pull of unit user/<id>.
	Azumio bool `yaml:"azumio"`
	// ASI enables POST /hooks/asi/<pipeline name> for ASI activity webhooks.
	ASI *ASIHook `yaml:"asi"`
}

// ASIHook configures the ASI receiver of a pipeline.
type ASIHook struct {
	// SecretEnv names the environment variable holding the webhook's secret
	// token (so that the secret is never in a file that is checked in).
	SecretEnv string `yaml:"secret_env"`
}

// LoadConfig reads and checks a serve file, reporting every problem at once.
// Pipeline file paths are made relative to the serve file's directory; ASI
// secrets are read from the environment.
func LoadConfig(file string) (*Config, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("serve: %w", err)
	}
	var c Config
	if err := yaml.UnmarshalWithOptions(src, &c, yaml.Strict(), yaml.DisallowUnknownField()); err != nil {
		return nil, fmt.Errorf("serve: %s: %w", file, err)
	}
	c.File = file
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8080"
	}
	if c.Queue <= 0 {
		c.Queue = 1000
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = 30 * time.Second
	}
	var errs []error
	if len(c.Pipelines) == 0 {
		errs = append(errs, errors.New("pipelines: none given (want a list of {file, schedule, azumio, asi})"))
	}
	dir := filepath.Dir(file)
	for i := range c.Pipelines {
		p := &c.Pipelines[i]
		path := fmt.Sprintf("pipelines[%d]", i)
		if p.File == "" {
			errs = append(errs, fmt.Errorf("%s.file: missing (want the path of a pipeline file)", path))
		} else if !filepath.IsAbs(p.File) {
			p.File = filepath.Join(dir, p.File)
		}
		if p.Schedule != "" {
			if _, err := ParseSchedule(p.Schedule); err != nil {
				errs = append(errs, fmt.Errorf("%s.schedule: %w", path, err))
			}
		}
		if p.ASI != nil {
			if p.ASI.SecretEnv == "" {
				errs = append(errs, fmt.Errorf("%s.asi.secret_env: missing (want the name of the variable holding the webhook secret)", path))
			} else if v, ok := os.LookupEnv(p.ASI.SecretEnv); !ok || v == "" {
				errs = append(errs, fmt.Errorf("%s.asi.secret_env: $%s is not set or empty", path, p.ASI.SecretEnv))
			}
		}
		if p.Schedule == "" && !p.Azumio && p.ASI == nil {
			errs = append(errs, fmt.Errorf("%s: no trigger (want schedule, azumio or asi)", path))
		}
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("serve: %s: %w", file, errors.Join(errs...))
	}
	return &c, nil
}

// ParseSchedule parses a cron spec as robfig/cron's standard parser does
// (minute hour day-of-month month day-of-week, descriptors like @daily and
// @every 1h, an optional CRON_TZ= or TZ= prefix naming the time zone).
func ParseSchedule(spec string) (cron.Schedule, error) {
	s, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, fmt.Errorf("bad cron spec %q: %w", spec, err)
	}
	return s, nil
}

// DirSecretEnv is the variable ConfigFromDir reads the ASI webhook secret from.
const DirSecretEnv = "ASI_WEBHOOK_SECRET"

// ConfigFromDir serves every pipeline file (*.yaml, *.yml) of dir on webhooks
// alone, with the defaults of a serve file: pipelines whose source is azumio
// get the Azumio receiver, those whose source is asi the ASI receiver with the
// secret in $ASI_WEBHOOK_SECRET (which must then be set). Schedules need a
// serve file.
func ConfigFromDir(dir string) (*Config, error) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml"} {
		m, err := filepath.Glob(filepath.Join(dir, pat))
		if err != nil {
			return nil, fmt.Errorf("serve: %w", err)
		}
		files = append(files, m...)
	}
	slices.Sort(files)
	c := &Config{File: dir, Listen: "127.0.0.1:8080", Queue: 1000, ShutdownGrace: 30 * time.Second}
	var errs []error
	for _, f := range files {
		p, err := core.LoadPipeline(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		pc := PipelineConfig{File: f}
		switch p.Source.Plugin {
		case "azumio":
			pc.Azumio = true
		case "asi":
			if v, ok := os.LookupEnv(DirSecretEnv); !ok || v == "" {
				errs = append(errs, fmt.Errorf("%s: an asi pipeline needs $%s, the webhook secret", f, DirSecretEnv))
				continue
			}
			pc.ASI = &ASIHook{SecretEnv: DirSecretEnv}
		default:
			errs = append(errs, fmt.Errorf("%s: source %s has no webhooks (want azumio or asi; schedule other pipelines in a serve file)", f, p.Source.Plugin))
			continue
		}
		c.Pipelines = append(c.Pipelines, pc)
	}
	if len(files) == 0 {
		errs = append(errs, errors.New("no pipeline files (*.yaml, *.yml)"))
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("serve: %s: %w", dir, errors.Join(errs...))
	}
	return c, nil
}

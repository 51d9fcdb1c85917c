package plugins

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/etl-toolkit/etl/core"
)

// ManifestFile is the name of a plugins directory's manifest.
const ManifestFile = "manifest.yaml"

// Manifest records the plugins of a directory and the SHA-256 of each one's
// executable, so that a plugin that was changed, rebuilt or swapped since it
// was recorded refuses to start. In a plugins directory:
//
//	# manifest.yaml
//	plugins:
//	  jsonl:
//	    path: etl-sink-jsonl      # relative to this directory
//	    sha256: 9b7c3e...         # 64 hex digits
type Manifest struct {
	Plugins map[string]ManifestEntry `yaml:"plugins"`
}

// ManifestEntry is one plugin of a Manifest.
type ManifestEntry struct {
	// Path is the executable, relative to the manifest's directory (or absolute).
	Path string `yaml:"path" doc:"the plugin's executable, relative to this directory"`
	// SHA256 is the executable's SHA-256 in hex.
	SHA256 string `yaml:"sha256" doc:"the executable's SHA-256, 64 hex digits"`
}

var (
	validPluginName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	validSHA256     = regexp.MustCompile(`^[0-9a-fA-F]{64}$`)
)

// ReadManifest reads dir's manifest. Every problem in it is reported at once
// as core.ConfigErrors pointing at the file's lines. A missing manifest is an
// error wrapping fs.ErrNotExist.
func ReadManifest(dir string) (Manifest, error) {
	file := filepath.Join(dir, ManifestFile)
	src, err := os.ReadFile(file)
	if err != nil {
		return Manifest{}, fmt.Errorf("plugins: %w", err)
	}
	cfg, err := core.NewConfig(file, "", src)
	if err != nil {
		return Manifest{}, err
	}
	var m Manifest
	var errs core.ConfigErrors
	errs.Add(cfg.Decode(&m))
	names := make([]string, 0, len(m.Plugins))
	for name := range m.Plugins {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		e := m.Plugins[name]
		key := "plugins." + name
		if !validPluginName.MatchString(name) {
			errs.Add(cfg.Errorf(key, "invalid plugin name %q (want letters, digits, '.', '_' and '-')", name))
		}
		if e.Path == "" {
			errs.Add(cfg.Errorf(key+".path", "missing (the plugin's executable, relative to %s)", dir))
		}
		if !validSHA256.MatchString(e.SHA256) {
			errs.Add(cfg.Errorf(key+".sha256", "want the executable's SHA-256 as 64 hex digits, got %q", e.SHA256))
		}
	}
	if err := errs.Err(); err != nil {
		return Manifest{}, err
	}
	if m.Plugins == nil {
		m.Plugins = map[string]ManifestEntry{}
	}
	return m, nil
}

// WriteManifest writes m as dir's manifest, replacing the file atomically.
func WriteManifest(dir string, m Manifest) error {
	body, err := yaml.Marshal(m)
	if err != nil {
		return fmt.Errorf("plugins: manifest: %w", err)
	}
	header := "# etl plugins: each plugin's executable (relative to this directory) and its SHA-256.\n" +
		"# A plugin whose executable no longer matches refuses to start. Update with `etl plugin add`.\n"
	tmp, err := os.CreateTemp(dir, "."+ManifestFile+".*")
	if err != nil {
		return fmt.Errorf("plugins: manifest: %w", err)
	}
	_, err = tmp.WriteString(header + string(body))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, ManifestFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("plugins: manifest: %w", err)
	}
	return nil
}

// Checksum returns the SHA-256 of the file at path, in hex.
func Checksum(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("plugins: %w", err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("plugins: checksum %s: %w", path, err)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// Add records the executable at binary as plugin name in dir's manifest (made
// if missing) with its current SHA-256, and returns the entry. An executable
// inside dir is recorded by its path relative to dir.
func Add(dir, name, binary string) (ManifestEntry, error) {
	if !validPluginName.MatchString(name) {
		return ManifestEntry{}, fmt.Errorf("plugins: invalid plugin name %q (want letters, digits, '.', '_' and '-')", name)
	}
	sum, err := Checksum(binary)
	if err != nil {
		return ManifestEntry{}, err
	}
	m, err := ReadManifest(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		m = Manifest{Plugins: map[string]ManifestEntry{}}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return ManifestEntry{}, fmt.Errorf("plugins: %w", err)
		}
	case err != nil:
		return ManifestEntry{}, err
	}
	path, err := filepath.Abs(binary)
	if err != nil {
		return ManifestEntry{}, fmt.Errorf("plugins: %w", err)
	}
	if absDir, err := filepath.Abs(dir); err == nil {
		if rel, err := filepath.Rel(absDir, path); err == nil && !strings.HasPrefix(rel, "..") {
			path = rel
		}
	}
	e := ManifestEntry{Path: filepath.ToSlash(path), SHA256: sum}
	m.Plugins[name] = e
	return e, WriteManifest(dir, m)
}

// executable returns the entry's executable, resolved against dir.
func (e ManifestEntry) executable(dir string) string {
	p := filepath.FromSlash(e.Path)
	if filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

package main

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"
)

// measure is what one child process took, from the rusage wait4 returns.
type measure struct {
	Wall time.Duration
	CPU  time.Duration // user + system
	RSS  int64         // peak resident set, bytes
}

// runChild runs cmd to its end and measures it. The error names the command
// and quotes the end of its output; out is stdout and stderr together.
func runChild(cmd *exec.Cmd) (measure, []byte, error) {
	var buf bytes.Buffer
	if cmd.Stdout == nil {
		cmd.Stdout = &buf
	}
	if cmd.Stderr == nil {
		cmd.Stderr = &buf
	}
	start := time.Now()
	err := cmd.Run()
	m := measure{Wall: time.Since(start)}
	out := buf.Bytes()
	if err != nil {
		return m, out, fmt.Errorf("%s: %w\n%s", strings.Join(cmd.Args, " "), err, tail(out, 4000))
	}
	m.CPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.RSS = ru.Maxrss << 10 // KiB on Linux
	}
	return m, out, nil
}

// command returns a command run in dir with the harness's environment plus env
// ("K=V"); ctx kills it.
func command(ctx context.Context, dir string, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	return cmd
}

func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}

// sample is the values of one figure over several runs.
type sample []float64

func (s sample) sorted() sample { c := slices.Clone(s); slices.Sort(c); return c }

// median is the middle value (the mean of the two middle ones for an even count).
func (s sample) median() float64 {
	if len(s) == 0 {
		return math.NaN()
	}
	c := s.sorted()
	if n := len(c); n%2 == 0 {
		return (c[n/2-1] + c[n/2]) / 2
	}
	return c[len(c)/2]
}

// spread renders the median and, for more than one run, the min–max range, each
// with format f.
func (s sample) spread(f string) string {
	m := fmt.Sprintf(f, s.median())
	if len(s) < 2 {
		return m
	}
	c := s.sorted()
	return fmt.Sprintf("%s ("+f+"–"+f+")", m, c[0], c[len(c)-1])
}

// measures collects the runs of one side of a workload.
type measures []measure

func (ms measures) wall() sample { return ms.each(func(m measure) float64 { return m.Wall.Seconds() }) }
func (ms measures) cpu() sample  { return ms.each(func(m measure) float64 { return m.CPU.Seconds() }) }
func (ms measures) rss() sample {
	return ms.each(func(m measure) float64 { return float64(m.RSS) / (1 << 20) })
}

func (ms measures) each(f func(measure) float64) sample {
	out := make(sample, len(ms))
	for i, m := range ms {
		out[i] = f(m)
	}
	return out
}

// machine describes where the figures were measured, and what.
type machine struct {
	CPU    string
	Cores  int
	Go     string
	Date   time.Time
	Commit string // the module's commit, "abc1234" or "abc1234 with uncommitted changes"
}

func thisMachine() machine {
	m := machine{CPU: "unknown CPU", Cores: runtime.NumCPU(), Go: runtime.Version(), Date: time.Now().UTC()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for line := range strings.SplitSeq(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// commit describes the commit of the working tree at root.
func commit(root string) string {
	head, err := exec.Command("git", "-C", root, "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown commit"
	}
	c := strings.TrimSpace(string(head))
	if st, err := exec.Command("git", "-C", root, "status", "--porcelain", "--untracked-files=no").Output(); err == nil && len(bytes.TrimSpace(st)) > 0 {
		c += " with uncommitted changes"
	}
	return c
}

// loadAverage is the one-minute load average of the machine ("?" where
// /proc/loadavg cannot be read).
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return "?"
	}
	return f[0]
}

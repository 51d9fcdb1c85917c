package plugins_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// cpuTimes returns the CPU time (user and system) used so far by this process
// and by its children that have ended (plugin processes, once stopped).
func cpuTimes() (self, children time.Duration) {
	var s, c syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &s)
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &c)
	tv := func(t syscall.Timeval) time.Duration { return time.Duration(t.Nano()) }
	return tv(s.Utime) + tv(s.Stime), tv(c.Utime) + tv(c.Stime)
}

// runningChildrenCPU returns the CPU time used so far by this process's
// children that are still running (plugin processes), from /proc.
func runningChildrenCPU() time.Duration {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	ppid := []byte(strconv.Itoa(os.Getpid()))
	var total time.Duration
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // ended meanwhile
		}
		// pid (comm) state ppid ...: comm may hold spaces, so start after ')'.
		i := bytes.LastIndexByte(b, ')')
		if i < 0 {
			continue
		}
		fields := bytes.Fields(b[i+1:])
		if len(fields) < 13 || !bytes.Equal(fields[1], ppid) {
			continue
		}
		utime, _ := strconv.ParseInt(string(fields[11]), 10, 64)
		stime, _ := strconv.ParseInt(string(fields[12]), 10, 64)
		total += time.Duration(utime+stime) * time.Second / clockTicks
	}
	return total
}

// clockTicks is the unit of /proc's CPU times (USER_HZ), 100 on every Linux
// architecture Go supports.
const clockTicks = 100

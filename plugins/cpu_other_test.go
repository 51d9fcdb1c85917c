//go:build !linux

package plugins_test

import "time"

// cpuTimes is not measured here.
func cpuTimes() (self, children time.Duration) { return 0, 0 }

// runningChildrenCPU is not measured here.
func runningChildrenCPU() time.Duration { return 0 }

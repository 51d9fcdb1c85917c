//go:build !unix

package duckdbtest

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"
)

// lockFile takes path as a lock by creating it exclusively, waiting while another
// process holds it. Without flock, a lock left by a crashed process is taken over
// once it is older than the install timeout.
func lockFile(path string) (unlock func(), err error) {
	deadline := time.Now().Add(installTimeout + time.Minute)
	for {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err == nil {
			f.Close()
			return func() { os.Remove(path) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, err
		}
		if fi, err := os.Stat(path); err == nil && time.Since(fi.ModTime()) > installTimeout {
			os.Remove(path)
			continue
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("%s still held after %s", path, installTimeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

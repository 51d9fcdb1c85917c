package files

import (
	"encoding/json"
	"fmt"
	"path/filepath"
)

// txnVersion is the version of the transaction format; Commit refuses others.
const txnVersion = 1

// txn is what Prepare returns and Commit takes: the temp files to rename and
// the directories to fsync afterwards. Paths are absolute, so that a process
// started elsewhere can finish the commit.
type txn struct {
	Version int       `json:"version"`
	Files   []txnFile `json:"files"`
	Dirs    []string  `json:"dirs"`
}

type txnFile struct {
	Temp  string `json:"temp"`
	Final string `json:"final"`
}

func (t txn) marshal() ([]byte, error) {
	data, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("files: encode transaction: %w", err)
	}
	return data, nil
}

// unmarshalTxn decodes and checks a transaction. Each temp file must be the
// hidden twin of its final file in the same directory, so that a damaged or
// foreign transaction can never rename arbitrary files.
func unmarshalTxn(data []byte) (txn, error) {
	var t txn
	if err := json.Unmarshal(data, &t); err != nil {
		return txn{}, fmt.Errorf("files: commit: malformed transaction: %w", err)
	}
	if t.Version != txnVersion {
		return txn{}, fmt.Errorf("files: commit: transaction version %d, want %d", t.Version, txnVersion)
	}
	for _, f := range t.Files {
		dir, name := filepath.Split(f.Final)
		if !filepath.IsAbs(f.Final) || name == "" || f.Temp != filepath.Join(dir, tempName(name)) {
			return txn{}, fmt.Errorf("files: commit: malformed transaction: temp %q does not belong to final %q", f.Temp, f.Final)
		}
	}
	for _, d := range t.Dirs {
		if !filepath.IsAbs(d) {
			return txn{}, fmt.Errorf("files: commit: malformed transaction: directory %q is not absolute", d)
		}
	}
	return t, nil
}

package runner

import (
	"encoding/base64"
	"sort"
	"strings"
	"sync"
)

// Masker replaces secrets and ::add-mask:: values (and their base64 forms)
// with *** in everything the job writes to logs or reports.
type Masker struct {
	mu       sync.Mutex // guards the fields below
	values   map[string]bool
	replacer *strings.Replacer
}

// NewMasker returns a masker for the given values.
func NewMasker(values ...string) *Masker {
	m := &Masker{values: map[string]bool{}}
	for _, v := range values {
		m.Add(v)
	}
	return m
}

// Add masks v from now on, with its base64 encodings at every alignment and
// each of its lines (GitHub masks line by line).
func (m *Masker) Add(v string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.add(v)
	for _, line := range strings.Split(v, "\n") {
		m.add(strings.TrimRight(line, "\r"))
	}
	m.replacer = nil
}

func (m *Masker) add(v string) {
	if len(strings.TrimSpace(v)) < 1 {
		return
	}
	m.values[v] = true
	if len(v) < 3 {
		return
	}
	// base64 of v where v starts at offset 0, 1 or 2 of a 3-byte group: the
	// stable middle part of the encoding appears whatever surrounds v.
	for off := 0; off < 3; off++ {
		enc := base64.StdEncoding.EncodeToString(append(make([]byte, off), v...))
		start := (off*4 + 2) / 3
		end := len(enc)
		if pad := strings.Count(enc, "="); pad > 0 {
			end -= 4 // the last group mixes in what follows v
		}
		if end-start >= 4 {
			m.values[enc[start:end]] = true
			m.values[strings.NewReplacer("+", "-", "/", "_").Replace(enc[start:end])] = true
		}
	}
}

// Mask returns s with every masked value replaced by ***.
func (m *Masker) Mask(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.values) == 0 {
		return s
	}
	if m.replacer == nil {
		vals := make([]string, 0, len(m.values))
		for v := range m.values {
			vals = append(vals, v)
		}
		// Longest first, so a secret containing another is masked whole.
		sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
		pairs := make([]string, 0, 2*len(vals))
		for _, v := range vals {
			pairs = append(pairs, v, "***")
		}
		m.replacer = strings.NewReplacer(pairs...)
	}
	return m.replacer.Replace(s)
}

package runner

import (
	"encoding/base64"
	"sort"
	"strings"
	"sync"
)

// Masker replaces secrets and ::add-mask:: values (and their base64 forms)
// with *** in everything the job writes to logs or reports.
//
// Masking works on byte spans: every occurrence of every value is found
// (overlapping ones too) and each maximal covered run becomes one ***, so two
// overlapping secrets are both hidden whole. MaskCut does the same for a
// prefix of an unterminated stream, choosing the cut so that no occurrence
// straddles it.
type Masker struct {
	mu     sync.Mutex // guards the fields below
	values map[string]bool
	sorted []string // values, longest first; nil when values changed
	maxLen int
	// The index of sorted, rebuilt with it: values of 4 bytes or more by
	// their first 4 bytes (with a bitset of those prefixes' hashes, so a
	// line is scanned once), and the shorter ones.
	byPrefix map[uint32][]string
	seen     *[1 << 10]uint64
	short    []string
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
	m.sorted = nil
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

// list returns the values, longest first. m.mu must be held.
func (m *Masker) list() []string {
	if m.sorted == nil && len(m.values) > 0 {
		m.sorted = make([]string, 0, len(m.values))
		m.maxLen = 0
		for v := range m.values {
			m.sorted = append(m.sorted, v)
			m.maxLen = max(m.maxLen, len(v))
		}
		sort.Slice(m.sorted, func(i, j int) bool {
			if len(m.sorted[i]) != len(m.sorted[j]) {
				return len(m.sorted[i]) > len(m.sorted[j])
			}
			return m.sorted[i] < m.sorted[j]
		})
		m.byPrefix, m.seen, m.short = map[uint32][]string{}, new([1 << 10]uint64), nil
		for _, v := range m.sorted {
			if len(v) < 4 {
				m.short = append(m.short, v)
				continue
			}
			p := prefix4(v, 0)
			m.byPrefix[p] = append(m.byPrefix[p], v)
			h := hash16(p)
			m.seen[h>>6] |= 1 << (h & 63)
		}
	}
	return m.sorted
}

func prefix4(s string, i int) uint32 {
	return uint32(s[i]) | uint32(s[i+1])<<8 | uint32(s[i+2])<<16 | uint32(s[i+3])<<24
}

func hash16(p uint32) uint32 { return (p * 2654435761) >> 16 }

// span is a covered byte range [start, end) of a text; open means it runs
// past the end of the text (a value that has only begun).
type span struct {
	start, end int
	open       bool
}

// spans returns the merged runs of s covered by masked values. With tail,
// a suffix of s that is a proper prefix of a value counts as an open run.
// m.mu must be held.
func (m *Masker) spans(s string, tail bool) []span {
	var out []span
	m.list()
	// One pass over s: a position whose next 4 bytes start some value is
	// checked against those values only.
	if len(s) >= 4 {
		w := prefix4(s, 0)
		for i := 0; ; i++ {
			if h := hash16(w); m.seen[h>>6]&(1<<(h&63)) != 0 {
				for _, v := range m.byPrefix[w] {
					if strings.HasPrefix(s[i:], v) {
						out = append(out, span{start: i, end: i + len(v)})
					}
				}
			}
			if i+4 >= len(s) {
				break
			}
			w = w>>8 | uint32(s[i+4])<<24
		}
	}
	for _, v := range m.short {
		for from := 0; from < len(s); {
			i := strings.Index(s[from:], v)
			if i < 0 {
				break
			}
			out = append(out, span{start: from + i, end: from + i + len(v)})
			from += i + 1
		}
	}
	if tail {
		for q := max(0, len(s)-m.maxLen+1); q < len(s); q++ {
			for _, v := range m.sorted {
				if len(v) > len(s)-q && strings.HasPrefix(v, s[q:]) {
					out = append(out, span{start: q, end: len(s), open: true})
					break
				}
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start < out[j].start })
	merged := out[:1]
	for _, sp := range out[1:] {
		last := &merged[len(merged)-1]
		if sp.start < last.end || (last.open && sp.start <= last.end) {
			if sp.end > last.end {
				last.end = sp.end
			}
			last.open = last.open || sp.open
			continue
		}
		merged = append(merged, sp)
	}
	return merged
}

// replace returns s[:n] with every covered run replaced by ***.
func replace(s string, runs []span, n int) string {
	if len(runs) == 0 {
		return s[:n]
	}
	var b strings.Builder
	at := 0
	for _, r := range runs {
		if r.start >= n {
			break
		}
		b.WriteString(s[at:r.start])
		b.WriteString("***")
		at = min(r.end, n)
	}
	if at < n {
		b.WriteString(s[at:n])
	}
	return b.String()
}

// Mask returns s with every masked value replaced by ***.
func (m *Masker) Mask(s string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.values) == 0 {
		return s
	}
	return replace(s, m.spans(s, false), len(s))
}

// Contains reports whether s holds any masked value.
func (m *Masker) Contains(s string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, v := range m.list() {
		if strings.Contains(s, v) {
			return true
		}
	}
	return false
}

// MaskCut masks a prefix of s, an unterminated line that must be cut near
// target bytes, and returns it with n, the number of bytes of s it covers
// (0 < n ≤ len(s)). The cut never falls inside an occurrence of a masked
// value, nor inside the start of one that s ends with (those bytes stay for
// the next piece), so no part of a value straddling the cut is emitted in
// the clear. Only when overlapping values cover s from its start to its
// end is s cut at target, with every covered byte before the cut masked.
func (m *Masker) MaskCut(s string, target int) (string, int) {
	target = min(max(target, 1), len(s))
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.values) == 0 {
		return s[:target], target
	}
	runs := m.spans(s, true)
	c := target
	for _, r := range runs {
		if r.start < c && c < r.end || r.open && r.start < c && c == r.end {
			switch {
			case r.start > 0:
				c = r.start
			case !r.open:
				c = r.end
			}
			break
		}
	}
	return replace(s, runs, c), c
}

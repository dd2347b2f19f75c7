package github

import (
	"unicode/utf8"
)

// truncateBytes cuts s to at most limit bytes on a UTF-8 boundary, ending with note when it
// cuts. Measured in bytes, the result also fits any limit GitHub counts in characters.
func truncateBytes(s string, limit int, note string) string {
	if len(s) <= limit {
		return s
	}
	if len(note) >= limit {
		note = ""
	}
	cut := limit - len(note)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + note
}

// truncateRunes cuts s to at most limit characters, ending with note when it cuts.
func truncateRunes(s string, limit int, note string) string {
	if utf8.RuneCountInString(s) <= limit {
		return s
	}
	keep := limit - utf8.RuneCountInString(note)
	if keep < 0 {
		keep, note = limit, ""
	}
	n := 0
	for i := range s {
		if n == keep {
			return s[:i] + note
		}
		n++
	}
	return s
}

package github

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTruncateBytes(t *testing.T) {
	tests := []struct {
		s     string
		limit int
		note  string
		want  string
	}{
		{"short", 10, "…", "short"},
		{"exactly10!", 10, "[cut]", "exactly10!"},
		{"abcdefghijk", 10, "[cut]", "abcde[cut]"},
		{"ééééé", 5, "", "éé"}, // 10 bytes; a cut inside é moves back
		{"ééééé", 7, "!", "ééé!"},
		{"abc", 2, "too long note", "ab"}, // a note longer than the limit is dropped
	}
	for _, tt := range tests {
		got := truncateBytes(tt.s, tt.limit, tt.note)
		if got != tt.want || len(got) > tt.limit && len(tt.s) > tt.limit || !utf8.ValidString(got) {
			t.Errorf("truncateBytes(%q, %d, %q) = %q, want %q", tt.s, tt.limit, tt.note, got, tt.want)
		}
	}
}

func TestTruncateRunes(t *testing.T) {
	tests := []struct {
		s     string
		limit int
		note  string
		want  string
	}{
		{"short", 10, "…", "short"},
		{strings.Repeat("é", 5), 5, "…", "ééééé"},
		{strings.Repeat("é", 6), 5, "…", "éééé…"},
		{"abcdef", 2, "long note", "ab"},
	}
	for _, tt := range tests {
		if got := truncateRunes(tt.s, tt.limit, tt.note); got != tt.want {
			t.Errorf("truncateRunes(%q, %d, %q) = %q, want %q", tt.s, tt.limit, tt.note, got, tt.want)
		}
	}
}

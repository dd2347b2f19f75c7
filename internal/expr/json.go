package expr

import (
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// ToJSON renders v as toJSON() does: JSON indented by two spaces, object
// keys in insertion order, "[]" and "{}" for empty collections.
func ToJSON(v Value) string {
	var b strings.Builder
	writeJSON(&b, v, "\n")
	return b.String()
}

// MarshalJSON renders v as compact JSON (keys in insertion order).
// Non-finite numbers, which JSON cannot hold, become the strings "NaN",
// "Infinity" and "-Infinity".
func (v Value) MarshalJSON() ([]byte, error) {
	var b strings.Builder
	writeJSON(&b, v, "")
	return []byte(b.String()), nil
}

// UnmarshalJSON sets v from JSON (see FromJSON).
func (v *Value) UnmarshalJSON(data []byte) error {
	x, err := FromJSON(data)
	if err != nil {
		return err
	}
	*v = x
	return nil
}

// writeJSON writes v; nl is "" for compact output, else the newline plus
// the current indentation.
func writeJSON(b *strings.Builder, v Value, nl string) {
	switch v.kind {
	case KindNull:
		b.WriteString("null")
	case KindBool:
		b.WriteString(strconv.FormatBool(v.b))
	case KindNumber:
		b.WriteString(jsonNumber(v.num))
	case KindString:
		writeJSONString(b, v.str)
	case KindArray:
		writeJSONList(b, "[", "]", len(v.arr.items), nl, func(i int, inner string) {
			writeJSON(b, v.arr.items[i], inner)
		})
	case KindObject:
		writeJSONList(b, "{", "}", len(v.obj.keys), nl, func(i int, inner string) {
			writeJSONString(b, v.obj.keys[i])
			if nl == "" {
				b.WriteString(":")
			} else {
				b.WriteString(": ")
			}
			writeJSON(b, v.obj.vals[i], inner)
		})
	}
}

func writeJSONList(b *strings.Builder, open, close string, n int, nl string, item func(i int, inner string)) {
	b.WriteString(open)
	if n == 0 {
		b.WriteString(close)
		return
	}
	inner := nl
	if nl != "" {
		inner = nl + "  "
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(inner)
		item(i, inner)
	}
	b.WriteString(nl)
	b.WriteString(close)
}

// jsonNumber formats a number the way GitHub's toJSON does: integers
// without a fraction, others in shortest round-trip form ("1E-07").
func jsonNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return `"NaN"`
	case math.IsInf(f, 1):
		return `"Infinity"`
	case math.IsInf(f, -1):
		return `"-Infinity"`
	case f == math.Trunc(f) && math.Abs(f) < 1<<63:
		return strconv.FormatInt(int64(f), 10)
	}
	return formatG(f, -1)
}

const hexDigits = "0123456789abcdef"

// writeJSONString quotes s, escaping only what JSON requires plus U+0085,
// U+2028 and U+2029 (as GitHub's serializer does); other text is kept as is.
func writeJSONString(b *strings.Builder, s string) {
	b.WriteByte('"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		r, n := rune(c), 1
		if c >= utf8.RuneSelf {
			r, n = utf8.DecodeRuneInString(s[i:])
			if r != 0x85 && r != 0x2028 && r != 0x2029 {
				i += n
				continue
			}
		}
		b.WriteString(s[start:i])
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		case '\b':
			b.WriteString(`\b`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteString(`\u`)
			for shift := 12; shift >= 0; shift -= 4 {
				b.WriteByte(hexDigits[(r>>shift)&0xf])
			}
		}
		i += n
		start = i
	}
	b.WriteString(s[start:])
	b.WriteByte('"')
}

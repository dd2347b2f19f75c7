package expr

import (
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// maxJSONDepth bounds the nesting FromJSON accepts.
const maxJSONDepth = 1000

// FromJSON decodes one JSON document (RFC 8259, surrounding whitespace
// allowed) into a Value, keeping object key order; numbers become float64,
// duplicate keys keep the last value. Nesting deeper than 1000 is an error.
func FromJSON(data []byte) (Value, error) {
	d := &jsonDecoder{data: data}
	v, err := d.value()
	if err != nil {
		return Null, err
	}
	d.skipSpace()
	if d.i != len(d.data) {
		return Null, d.errorf("unexpected data after the top-level value")
	}
	return v, nil
}

type jsonDecoder struct {
	data  []byte
	i     int
	depth int
}

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", d.i, fmt.Sprintf(format, args...))
}

func (d *jsonDecoder) skipSpace() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value() (Value, error) {
	d.skipSpace()
	if d.i >= len(d.data) {
		return Null, d.errorf("unexpected end of input")
	}
	switch c := d.data[d.i]; {
	case c == '{' || c == '[':
		d.depth++
		if d.depth > maxJSONDepth {
			return Null, d.errorf("nesting deeper than %d", maxJSONDepth)
		}
		defer func() { d.depth-- }()
		if c == '{' {
			return d.object()
		}
		return d.array()
	case c == '"':
		s, err := d.string()
		return StringValue(s), err
	case c == '-' || isDigit(c):
		return d.number()
	}
	for _, lit := range []struct {
		text string
		v    Value
	}{{"true", BoolValue(true)}, {"false", BoolValue(false)}, {"null", Null}} {
		if len(d.data)-d.i >= len(lit.text) && string(d.data[d.i:d.i+len(lit.text)]) == lit.text {
			d.i += len(lit.text)
			return lit.v, nil
		}
	}
	return Null, d.errorf("unexpected character %q", d.data[d.i])
}

// next skips whitespace and consumes c when it is the next byte.
func (d *jsonDecoder) next(c byte) bool {
	d.skipSpace()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

func (d *jsonDecoder) array() (Value, error) {
	d.i++ // [
	a := &Array{}
	if d.next(']') {
		return ArrayValue(a), nil
	}
	for {
		v, err := d.value()
		if err != nil {
			return Null, err
		}
		a.items = append(a.items, v)
		if d.next(']') {
			return ArrayValue(a), nil
		}
		if !d.next(',') {
			return Null, d.errorf("want ',' or ']' in array")
		}
	}
}

func (d *jsonDecoder) object() (Value, error) {
	d.i++ // {
	o := NewObject()
	if d.next('}') {
		return ObjectValue(o), nil
	}
	for {
		d.skipSpace()
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return Null, d.errorf("want a string key in object")
		}
		key, err := d.string()
		if err != nil {
			return Null, err
		}
		if !d.next(':') {
			return Null, d.errorf("want ':' after object key")
		}
		v, err := d.value()
		if err != nil {
			return Null, err
		}
		o.Set(key, v)
		if d.next('}') {
			return ObjectValue(o), nil
		}
		if !d.next(',') {
			return Null, d.errorf("want ',' or '}' in object")
		}
	}
}

func (d *jsonDecoder) number() (Value, error) {
	start := d.i
	if d.data[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.data) && d.data[d.i] == '0':
		d.i++
	case d.i < len(d.data) && isDigit(d.data[d.i]):
		d.digits()
	default:
		return Null, d.errorf("invalid number")
	}
	if d.i < len(d.data) && d.data[d.i] == '.' {
		d.i++
		if d.digits() == 0 {
			return Null, d.errorf("invalid number")
		}
	}
	if d.i < len(d.data) && (d.data[d.i] == 'e' || d.data[d.i] == 'E') {
		d.i++
		if d.i < len(d.data) && (d.data[d.i] == '+' || d.data[d.i] == '-') {
			d.i++
		}
		if d.digits() == 0 {
			return Null, d.errorf("invalid number")
		}
	}
	f, err := strconv.ParseFloat(string(d.data[start:d.i]), 64)
	if err != nil && !isRangeErr(err) {
		return Null, d.errorf("invalid number")
	}
	return NumberValue(f), nil
}

func (d *jsonDecoder) digits() int {
	n := 0
	for d.i < len(d.data) && isDigit(d.data[d.i]) {
		d.i++
		n++
	}
	return n
}

// string decodes a quoted string; invalid UTF-8 becomes U+FFFD.
func (d *jsonDecoder) string() (string, error) {
	d.i++ // opening quote
	start := d.i
	for d.i < len(d.data) { // fast path: no escapes, valid UTF-8
		c := d.data[d.i]
		if c == '"' {
			s := d.data[start:d.i]
			d.i++
			return string(s), nil
		}
		if c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
			break
		}
		d.i++
	}
	buf := append([]byte(nil), d.data[start:d.i]...)
	for d.i < len(d.data) {
		c := d.data[d.i]
		switch {
		case c == '"':
			d.i++
			return string(buf), nil
		case c < 0x20:
			return "", d.errorf("control character in string")
		case c == '\\':
			var err error
			if buf, err = d.escape(buf); err != nil {
				return "", err
			}
		case c < utf8.RuneSelf:
			buf = append(buf, c)
			d.i++
		default:
			r, n := utf8.DecodeRune(d.data[d.i:])
			buf = utf8.AppendRune(buf, r)
			d.i += n
		}
	}
	return "", d.errorf("unterminated string")
}

func (d *jsonDecoder) escape(buf []byte) ([]byte, error) {
	d.i++ // backslash
	if d.i >= len(d.data) {
		return nil, d.errorf("unterminated string")
	}
	c := d.data[d.i]
	d.i++
	switch c {
	case '"', '\\', '/':
		return append(buf, c), nil
	case 'b':
		return append(buf, '\b'), nil
	case 'f':
		return append(buf, '\f'), nil
	case 'n':
		return append(buf, '\n'), nil
	case 'r':
		return append(buf, '\r'), nil
	case 't':
		return append(buf, '\t'), nil
	case 'u':
		r, ok := d.hex4()
		if !ok {
			return nil, d.errorf("invalid \\u escape")
		}
		if utf16.IsSurrogate(r) {
			save := d.i
			if d.i+1 < len(d.data) && d.data[d.i] == '\\' && d.data[d.i+1] == 'u' {
				d.i += 2
				if r2, ok := d.hex4(); ok {
					if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
						return utf8.AppendRune(buf, dec), nil
					}
				}
			}
			d.i = save
			r = utf8.RuneError
		}
		return utf8.AppendRune(buf, r), nil
	}
	return nil, d.errorf("invalid escape \\%c", c)
}

func (d *jsonDecoder) hex4() (rune, bool) {
	if len(d.data)-d.i < 4 {
		return 0, false
	}
	var r rune
	for _, c := range d.data[d.i : d.i+4] {
		v := digitVal(c)
		if v >= 16 {
			return 0, false
		}
		r = r<<4 | rune(v)
	}
	d.i += 4
	return r, true
}

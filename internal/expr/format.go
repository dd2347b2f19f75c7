package expr

import "strings"

// fnFormat implements format(fmt, args...): {N} is replaced by argument N
// coerced to a string; {{ and }} are literal braces; anything else with a
// brace is an invalid format string.
func fnFormat(ev *evaluator, a []Value) (Value, error) {
	fs := String(a[0])
	args := a[1:]
	invalid := func() (Value, error) {
		return Null, ev.errorf("The following format string is invalid: "+fs, nil)
	}
	var b strings.Builder
	i := 0
	for i < len(fs) {
		l := strings.IndexByte(fs[i:], '{')
		r := strings.IndexByte(fs[i:], '}')
		switch {
		case l >= 0 && (r < 0 || r > l):
			l += i
			if l+1 < len(fs) && fs[l+1] == '{' { // escaped {
				b.WriteString(fs[i : l+1])
				i = l + 2
				continue
			}
			n, end, ok := readArgIndex(fs, l+1)
			if !ok || r < 0 || end != r+i {
				return invalid()
			}
			if n >= len(args) {
				return Null, ev.errorf("The following format string references more arguments than were supplied: "+fs, nil)
			}
			b.WriteString(fs[i:l])
			b.WriteString(String(args[n]))
			i = end + 1
		case r >= 0:
			r += i
			if r+1 >= len(fs) || fs[r+1] != '}' {
				return invalid()
			}
			b.WriteString(fs[i : r+1])
			i = r + 2
		default:
			b.WriteString(fs[i:])
			i = len(fs)
		}
		if b.Len() > MaxMemory {
			break
		}
	}
	if err := ev.charge(b.Len()); err != nil {
		return Null, err
	}
	return StringValue(b.String()), nil
}

// readArgIndex reads the decimal digits at fs[start:]; end is the offset
// just past them.
func readArgIndex(fs string, start int) (n, end int, ok bool) {
	end = start
	for end < len(fs) && isDigit(fs[end]) {
		if n > 1<<20 {
			return 0, end, false
		}
		n = n*10 + int(fs[end]-'0')
		end++
	}
	return n, end, end > start
}

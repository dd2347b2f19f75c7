package runner

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
)

// Command is one workflow command a step printed: ::name k=v,k=v::value
type Command struct {
	Name   string
	Params map[string]string
	Value  string
}

// ParseCommand recognises a workflow command line (without its newline).
// ok is false for ordinary output.
func ParseCommand(line string) (c Command, ok bool) {
	line = strings.TrimRight(line, "\r")
	rest, found := strings.CutPrefix(strings.TrimLeft(line, " \t"), "::")
	if !found {
		return c, false
	}
	head, value, found := strings.Cut(rest, "::")
	if !found {
		return c, false
	}
	name, params, _ := strings.Cut(head, " ")
	if name == "" || strings.ContainsAny(name, " \t") {
		return c, false
	}
	c.Name = name
	c.Value = unescapeData(value)
	if params = strings.TrimSpace(params); params != "" {
		c.Params = map[string]string{}
		for _, kv := range strings.Split(params, ",") {
			k, v, _ := strings.Cut(kv, "=")
			if k = strings.TrimSpace(k); k != "" {
				c.Params[k] = unescapeProperty(v)
			}
		}
	}
	return c, true
}

func unescapeData(s string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%25", "%").Replace(s)
}

func unescapeProperty(s string) string {
	return strings.NewReplacer("%0D", "\r", "%0A", "\n", "%3A", ":", "%2C", ",", "%25", "%").Replace(s)
}

// ParseEnvFile parses the GITHUB_ENV / GITHUB_OUTPUT / GITHUB_STATE format:
// NAME=value lines and NAME<<DELIMITER heredocs, in order.
func ParseEnvFile(data []byte) ([][2]string, error) {
	var out [][2]string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimRight(sc.Text(), "\r")
		if line == "" {
			continue
		}
		eq := strings.Index(line, "=")
		hd := strings.Index(line, "<<")
		if hd >= 0 && (eq < 0 || hd < eq) {
			name, delim := line[:hd], line[hd+2:]
			if name == "" || delim == "" {
				return out, fmt.Errorf("line %d: invalid heredoc %q", lineNo, line)
			}
			var val []string
			closed := false
			for sc.Scan() {
				lineNo++
				l := strings.TrimRight(sc.Text(), "\r")
				if l == delim {
					closed = true
					break
				}
				val = append(val, l)
			}
			if !closed {
				return out, fmt.Errorf("line %d: heredoc for %q is not closed by %q", lineNo, name, delim)
			}
			out = append(out, [2]string{name, strings.Join(val, "\n")})
			continue
		}
		if eq <= 0 {
			return out, fmt.Errorf("line %d: want NAME=value or NAME<<DELIMITER, got %q", lineNo, line)
		}
		out = append(out, [2]string{line[:eq], line[eq+1:]})
	}
	return out, sc.Err()
}

// ParsePathFile parses GITHUB_PATH: one directory per line.
func ParsePathFile(data []byte) []string {
	var out []string
	for _, l := range strings.Split(string(data), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

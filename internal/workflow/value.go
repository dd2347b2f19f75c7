package workflow

import (
	"math"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"
)

// YAML 1.2 core schema (https://yaml.org/spec/1.2.2/#1032-tag-resolution).
var (
	reNull     = regexp.MustCompile(`^(?:~|null|Null|NULL|)$`)
	reBool     = regexp.MustCompile(`^(?:true|True|TRUE|false|False|FALSE)$`)
	reIntDec   = regexp.MustCompile(`^[-+]?[0-9]+$`)
	reIntOct   = regexp.MustCompile(`^0o[0-7]+$`)
	reIntHex   = regexp.MustCompile(`^0x[0-9a-fA-F]+$`)
	reFloat    = regexp.MustCompile(`^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?$`)
	reInf      = regexp.MustCompile(`^[-+]?\.(?:inf|Inf|INF)$`)
	reNaN      = regexp.MustCompile(`^\.(?:nan|NaN|NAN)$`)
	knownTags  = map[string]bool{"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true, "!!map": true, "!!seq": true}
	longTagPfx = "tag:yaml.org,2002:"
)

// shortTag normalizes a node tag: "!<tag:yaml.org,2002:int>" and "!!int" both give "!!int".
func shortTag(tag string) string {
	t := strings.TrimSuffix(strings.TrimPrefix(tag, "!<"), ">")
	if strings.HasPrefix(t, longTagPfx) {
		return "!!" + strings.TrimPrefix(t, longTagPfx)
	}
	return tag
}

// explicitTag reports the tag written in the source, or "".
func explicitTag(n *yaml.Node) string {
	if n.Style&yaml.TaggedStyle == 0 {
		return ""
	}
	return shortTag(n.Tag)
}

// scalarValue resolves a scalar node to string, float64, bool or nil.
// ok is false when an explicit tag does not fit the value.
func scalarValue(n *yaml.Node) (v any, ok bool) {
	switch explicitTag(n) {
	case "!!str":
		return n.Value, true
	case "!!int", "!!float":
		f, ok := parseNumber(n.Value)
		return f, ok
	case "!!bool":
		if reBool.MatchString(n.Value) {
			return strings.EqualFold(n.Value, "true"), true
		}
		return nil, false
	case "!!null":
		return nil, reNull.MatchString(n.Value)
	}
	if n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle|yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return n.Value, true
	}
	s := n.Value
	if s != "" && !strings.ContainsRune("0123456789+-.~nNtTfF", rune(s[0])) {
		return s, true // cannot be null, bool or number: skip the regexps
	}
	switch {
	case reNull.MatchString(s):
		return nil, true
	case reBool.MatchString(s):
		return strings.EqualFold(s, "true"), true
	}
	if f, ok := parseNumber(s); ok {
		return f, true
	}
	return s, true
}

// parseNumber parses a YAML 1.2 core schema int or float.
func parseNumber(s string) (float64, bool) {
	switch {
	case reIntDec.MatchString(s):
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	case reIntOct.MatchString(s):
		u, err := strconv.ParseUint(s[2:], 8, 64)
		return float64(u), err == nil
	case reIntHex.MatchString(s):
		u, err := strconv.ParseUint(s[2:], 16, 64)
		return float64(u), err == nil
	case reFloat.MatchString(s):
		f, err := strconv.ParseFloat(s, 64)
		return f, err == nil
	case reInf.MatchString(s):
		if s[0] == '-' {
			return math.Inf(-1), true
		}
		return math.Inf(1), true
	case reNaN.MatchString(s):
		return math.NaN(), true
	}
	return 0, false
}

// FormatScalar renders a scalar of a raw tree as GitHub turns it into a
// string: null is "", booleans are "true"/"false", integral numbers have no
// decimal point.
func FormatScalar(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		return strconv.FormatBool(v)
	case float64:
		return formatNumber(v)
	}
	return ""
}

func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == math.Trunc(f) && math.Abs(f) < 1e15:
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'G', 15, 64)
}

// treeBuilder converts YAML nodes into raw trees, following aliases within a
// node budget (so "billion laughs" documents fail instead of exploding).
type treeBuilder struct {
	budget int
	errs   *problems
}

// tree converts n into the ordered JSON-like form.
func (b *treeBuilder) tree(n *yaml.Node, depth int) any {
	b.budget--
	if n == nil || b.budget < 0 || depth > maxTreeDepth {
		if b.budget == -1 || depth == maxTreeDepth+1 {
			b.errs.add(n, "document is too large or too deeply nested", "syntax-check")
		}
		return nil
	}
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil
		}
		return b.tree(n.Content[0], depth)
	case yaml.AliasNode:
		return b.tree(n.Alias, depth+1)
	case yaml.MappingNode:
		obj := make([]KV, 0, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := b.tree(n.Content[i], depth+1)
			obj = append(obj, KV{Key: FormatScalar(k), Value: b.tree(n.Content[i+1], depth+1)})
		}
		return obj
	case yaml.SequenceNode:
		arr := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			arr = append(arr, b.tree(c, depth+1))
		}
		return arr
	case yaml.ScalarNode:
		v, ok := scalarValue(n)
		if !ok {
			b.errs.add(n, "the value "+strconv.Quote(n.Value)+" is invalid for the type "+explicitTag(n), "syntax-check")
		}
		return v
	}
	return nil
}

const maxTreeDepth = 200

// str converts a scalar node into its string form ("" for non-scalars).
func (b *treeBuilder) str(n *yaml.Node) string {
	n = deref(n)
	if n == nil || n.Kind != yaml.ScalarNode {
		return ""
	}
	v, _ := scalarValue(n)
	return FormatScalar(v)
}

// deref follows alias nodes (bounded).
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 100; i++ {
		n = n.Alias
	}
	if n != nil && n.Kind == yaml.AliasNode {
		return nil
	}
	return n
}

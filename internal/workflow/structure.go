package workflow

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v4"
)

// structChecker applies GitHub's checks that actionlint lacks or that must
// run before it: nesting depth, total size with aliases expanded (so
// "billion laughs" documents fail fast), recursive aliases, unsupported
// explicit YAML tags and values that do not fit their tag.
type structChecker struct {
	max       int
	ps        *problems
	budget    int
	onPath    map[*yaml.Node]bool // collections being walked
	recursive *yaml.Node          // first recursive alias seen
}

func newStructChecker(opts Options, ps *problems) *structChecker {
	return &structChecker{max: opts.MaxDepth, ps: ps, budget: maxNodes, onPath: map[*yaml.Node]bool{}}
}

// maxNodes bounds the YAML nodes of a workflow, aliases expanded.
const maxNodes = 200_000

// walk visits n at collection depth d; false means a limit was exceeded.
func (c *structChecker) walk(n *yaml.Node, d int) bool {
	c.budget--
	if c.budget < 0 {
		c.ps.add(n, "maximum object size exceeded", "limits")
		return false
	}
	switch n.Kind {
	case yaml.MappingNode, yaml.SequenceNode:
		if c.onPath[n] {
			if c.recursive == nil {
				c.recursive = n
			}
			return true
		}
		c.onPath[n] = true
		defer delete(c.onPath, n)
		d++
		if d > c.max {
			c.ps.add(n, "maximum object depth exceeded", "limits")
			return false
		}
	case yaml.ScalarNode:
		c.scalar(n)
	case yaml.AliasNode:
		return n.Alias == nil || c.walk(n.Alias, d)
	}
	for _, ch := range n.Content {
		if !c.walk(ch, d) {
			return false
		}
	}
	return true
}

// finish reports a recursive alias unless the file is rejected already.
func (c *structChecker) finish() {
	if c.recursive == nil {
		return
	}
	for _, p := range c.ps.list {
		if p.Severity == SeverityError {
			return
		}
	}
	c.ps.add(c.recursive, "recursive alias", "syntax-check")
}

// Matrix sizes are checked before actionlint (its duplicate check is
// quadratic). A vector longer than MaxCombinations can never be valid.
const (
	maxVector   = MaxCombinations
	maxIncludes = MaxCombinations
	maxExcludes = 4 * MaxCombinations
)

// checkMatrixSizes rejects literal matrices too large for GitHub.
func checkMatrixSizes(root *yaml.Node, ps *problems) bool {
	ok := true
	each(mapGet(docRoot(root), "jobs"), func(_ string, _, job *yaml.Node) {
		each(mapGet(mapGet(job, "strategy"), "matrix"), func(k string, _, v *yaml.Node) {
			limit := maxVector
			switch k {
			case "include":
				limit = maxIncludes
			case "exclude":
				limit = maxExcludes
			}
			if v != nil && v.Kind == yaml.SequenceNode && len(v.Content) > limit {
				ps.add(v, fmt.Sprintf("matrix %q has %d entries, more than the limit of %d", k, len(v.Content), limit), "limits")
				ok = false
			}
		})
	})
	return ok
}

func (c *structChecker) scalar(n *yaml.Node) {
	tag := explicitTag(n)
	if tag == "" {
		return
	}
	if !knownTags[tag] || tag == "!!map" || tag == "!!seq" {
		c.ps.add(n, fmt.Sprintf("unexpected tag %q", n.Tag), "syntax-check")
		return
	}
	if _, ok := scalarValue(n); !ok {
		c.ps.add(n, fmt.Sprintf("the value %q is invalid for the type %s", n.Value, tag), "syntax-check")
	}
}

// checkJobIDs rejects job ids starting with "__" (reserved by GitHub).
func checkJobIDs(root *yaml.Node, ps *problems) {
	jobs := mapGet(docRoot(root), "jobs")
	if jobs == nil || jobs.Kind != yaml.MappingNode {
		return
	}
	for i := 0; i+1 < len(jobs.Content); i += 2 {
		k := jobs.Content[i]
		if strings.HasPrefix(k.Value, "__") {
			ps.add(k, fmt.Sprintf("the identifier %q is invalid. IDs starting with '__' are reserved", k.Value), "id")
		}
	}
}

// docRoot returns the top mapping of a document node (or nil).
func docRoot(n *yaml.Node) *yaml.Node {
	n = deref(n)
	if n != nil && n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = deref(n.Content[0])
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	return n
}

// mapGet returns the value node of key in mapping m (aliases followed), or nil.
func mapGet(m *yaml.Node, key string) *yaml.Node {
	m = deref(m)
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := deref(m.Content[i]); k != nil && k.Value == key {
			return deref(m.Content[i+1])
		}
	}
	return nil
}

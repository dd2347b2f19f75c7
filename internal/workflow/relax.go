package workflow

import (
	"bytes"
	"strings"

	"go.yaml.in/yaml/v4"
)

// nbsp is U+00A0, which GitHub's expression lexer takes as white space and
// actionlint's does not.
var nbsp = []byte("\u00a0")

// nbspInExpressions returns src with U+00A0 replaced by spaces inside
// ${{ }} (one rune for one rune, so columns do not move).
func nbspInExpressions(src []byte) []byte {
	if !bytes.Contains(src, nbsp) {
		return src
	}
	var out bytes.Buffer
	for {
		i := bytes.Index(src, []byte("${{"))
		if i < 0 {
			break
		}
		j := bytes.Index(src[i:], []byte("}}"))
		if j < 0 {
			break
		}
		j += i
		out.Write(src[:i])
		out.Write(bytes.ReplaceAll(src[i:j], nbsp, []byte(" ")))
		src = src[j:]
	}
	out.Write(src)
	return out.Bytes()
}

// relaxLoose turns into warnings the actionlint syntax findings GitHub
// does not make: everything under on: except workflow_call (GitHub's schema
// reads on: with "loose-value-type": any), and an empty environment or
// working-directory (GitHub takes them as unset).
func relaxLoose(root *yaml.Node, ps *problems) {
	loose := map[Pos]bool{}
	each(docRoot(root), func(k string, _, v *yaml.Node) {
		if k == "on" {
			collectLoose(v, loose, 0)
		}
	})
	empty := map[Pos]bool{}
	collectEmptyOK(docRoot(root), empty, 0)
	for i, p := range ps.list {
		at := Pos{p.Line, p.Col}
		relax := loose[at] && !strings.Contains(p.Message, "merge key") ||
			empty[at] && p.Message == "string should not be empty"
		if p.Kind == "syntax-check" && relax {
			ps.list[i].Severity = SeverityWarning
		}
	}
}

// collectLoose records the positions of every node under n, skipping workflow_call.
func collectLoose(n *yaml.Node, loose map[Pos]bool, depth int) {
	if n == nil || depth > maxTreeDepth {
		return
	}
	loose[pos(n)] = true
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "workflow_call" && depth == 0 {
				continue
			}
			collectLoose(n.Content[i], loose, depth+1)
			collectLoose(n.Content[i+1], loose, depth+1)
		}
		return
	}
	for _, c := range n.Content {
		collectLoose(c, loose, depth+1)
	}
}

// collectEmptyOK records the value positions of environment (and its name)
// and working-directory keys anywhere under n.
func collectEmptyOK(n *yaml.Node, empty map[Pos]bool, depth int) {
	if n == nil || depth > maxTreeDepth || n.Kind == yaml.AliasNode {
		return
	}
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			switch v := n.Content[i+1]; n.Content[i].Value {
			case "working-directory":
				empty[pos(v)] = true
			case "environment":
				empty[pos(v)] = true
				if nm := mapGet(v, "name"); nm != nil {
					empty[pos(nm)] = true
				}
			}
		}
	}
	for _, c := range n.Content {
		collectEmptyOK(c, empty, depth+1)
	}
}

package runner

import (
	"fmt"
	"strings"
)

// shellCommand returns the argv template ({0} is the script path) and the
// script file extension for a step's shell, as GitHub defines them for Linux.
func shellCommand(shell string) ([]string, string, error) {
	switch strings.TrimSpace(shell) {
	case "":
		// GitHub: an unspecified shell on Linux is "bash -e {0}" (no pipefail).
		return []string{"bash", "-e", "{0}"}, ".sh", nil
	case "bash":
		return []string{"bash", "--noprofile", "--norc", "-eo", "pipefail", "{0}"}, ".sh", nil
	case "sh":
		return []string{"sh", "-e", "{0}"}, ".sh", nil
	case "python":
		// Debian names it python3; GitHub runs "python".
		return []string{"sh", "-c", `if command -v python >/dev/null 2>&1; then exec python "$0"; fi; exec python3 "$0"`, "{0}"}, ".py", nil
	case "pwsh":
		return []string{"pwsh", "-command", ". '{0}'"}, ".ps1", nil
	case "powershell":
		return []string{"pwsh", "-command", ". '{0}'"}, ".ps1", nil
	case "cmd":
		return nil, "", fmt.Errorf("shell cmd is only available on Windows runners")
	}
	if !strings.Contains(shell, "{0}") {
		return nil, "", fmt.Errorf("shell %q: a custom shell must contain {0}, where the script path goes", shell)
	}
	argv, err := splitWords(shell)
	if err != nil {
		return nil, "", fmt.Errorf("shell %q: %w", shell, err)
	}
	return argv, "", nil
}

// splitWords splits a command line on blanks, honouring single and double quotes.
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	inWord := false
	var quote rune
	for _, r := range s {
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, inWord = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quote != 0 {
		return nil, fmt.Errorf("unterminated quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	if len(words) == 0 {
		return nil, fmt.Errorf("empty command")
	}
	return words, nil
}

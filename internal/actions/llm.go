package actions

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/runner"
)

// LLMConfig configures the opt-in translation of actions that cannot run
// here into bash scripts by a language model. Kind "" disables it.
type LLMConfig struct {
	Kind   string // "ollama" (POST URL/api/chat) or "openai" (POST URL/v1/chat/completions)
	URL    string // e.g. http://127.0.0.1:11434
	Model  string
	APIKey string // openai: sent as a bearer token when set
	// Timeout bounds one request (default 2 minutes).
	Timeout time.Duration
}

func (c LLMConfig) validate() error {
	switch c.Kind {
	case "":
		return nil
	case "ollama", "openai":
	default:
		return fmt.Errorf("actions: LLM kind %q: expected ollama or openai", c.Kind)
	}
	if c.URL == "" || c.Model == "" {
		return errors.New("actions: the LLM fallback needs a URL and a model")
	}
	return nil
}

// LLMLabel is printed before running a translated action.
const LLMLabel = "translated by LLM (unverified)"

// runDocker runs a docker action: a prebuilt image (docker://) in a
// container of the job's sandbox, a Dockerfile action built on the
// namespace backend (dockerbuild.go; refused on the others, naming why,
// unless the LLM fallback is configured, which then translates it).
func (r *Executor) runDocker(ctx context.Context, j *runner.Job, idx int, act *action, inputs, env map[string]string) (runner.StepOutcome, error) {
	if strings.HasPrefix(act.meta.Runs.Image, "docker://") && j.Guest.Containers != nil {
		return r.runDockerImage(ctx, j, idx, act, inputs, env, nil) // docker.go
	}
	if !strings.HasPrefix(act.meta.Runs.Image, "docker://") && (r.cfg.LLM.Kind == "" || dockerfileBackends[j.Guest.Backend]) {
		return r.runDockerfile(ctx, j, idx, act, inputs, env) // dockerbuild.go
	}
	if r.cfg.LLM.Kind == "" {
		return runner.StepOutcome{}, fmt.Errorf("%s: docker actions are not supported on this sandbox (no container runtime; image %s)", act.ref.Raw, act.meta.Runs.Image)
	}
	script, cached, err := r.translate(ctx, act, inputs)
	if err != nil {
		return runner.StepOutcome{}, fmt.Errorf("%s: docker actions are not supported on this sandbox, and the LLM translation failed: %w", act.ref.Raw, err)
	}
	how := "fresh"
	if cached {
		how = "cached"
	}
	j.Log(idx, fmt.Sprintf("##[warning]%s is %s (%s answer from %s model %s)", act.ref.Raw, LLMLabel, how, r.cfg.LLM.Kind, r.cfg.LLM.Model))
	env = actionEnv(env, act)
	for k, v := range inputs {
		env[inputEnvName(k)] = v
	}
	return j.RunScript(ctx, idx, script, "bash", "", env)
}

// translate asks the model for a bash script doing what act does; answers
// are cached per action (repository@sha and path, or the metadata's hash).
func (r *Executor) translate(ctx context.Context, act *action, inputs map[string]string) (string, bool, error) {
	key := sha256.Sum256(append([]byte(act.ref.FullName()+"@"+act.sha+"/"+act.ref.Path+"\n"), act.meta.Raw...))
	file := filepath.Join(r.cfg.DataDir, "llm", hex.EncodeToString(key[:16])+".sh")
	if b, err := os.ReadFile(file); err == nil {
		return string(b), true, nil
	}
	prompt := llmPrompt(act, inputs)
	answer, err := r.askLLM(ctx, prompt)
	if err != nil {
		return "", false, err
	}
	script := extractScript(answer)
	if strings.TrimSpace(script) == "" {
		return "", false, errors.New("the model answered no script")
	}
	os.MkdirAll(filepath.Dir(file), 0o755)
	if err := os.WriteFile(file, []byte(script), 0o644); err != nil {
		return "", false, err
	}
	return script, false, nil
}

const llmSystem = "You translate GitHub Actions actions into a single bash script for a Debian Linux runner " +
	"with no Docker and no network. Inputs arrive as environment variables INPUT_<NAME> (upper case, spaces as _). " +
	"Write outputs as name=value lines to \"$GITHUB_OUTPUT\". Answer with one ```bash code block only."

func llmPrompt(act *action, inputs map[string]string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Action: %s\nMetadata (%s):\n%s\n", act.ref.Raw, act.meta.File, act.meta.Raw)
	keys := make([]string, 0, len(inputs))
	for k := range inputs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString("Example inputs of this call:\n")
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", inputEnvName(k), inputs[k])
	}
	return b.String()
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// askLLM sends one chat request and returns the answer's text.
func (r *Executor) askLLM(ctx context.Context, prompt string) (string, error) {
	c := r.cfg.LLM
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 2 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	msgs := []chatMessage{{Role: "system", Content: llmSystem}, {Role: "user", Content: prompt}}
	url := strings.TrimRight(c.URL, "/")
	body := map[string]any{"model": c.Model, "messages": msgs}
	if c.Kind == "ollama" {
		url += "/api/chat"
		body["stream"] = false
	} else {
		url += "/v1/chat/completions"
	}
	data, _ := json.Marshal(body)
	req, err := http.NewRequestWithContext(ctx, "POST", url, bytes.NewReader(data))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.APIKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.APIKey)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", fmt.Errorf("LLM request: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return "", fmt.Errorf("LLM answer: %w", err)
	}
	if resp.StatusCode != 200 {
		return "", fmt.Errorf("LLM answered %s: %.200s", resp.Status, raw)
	}
	var ans struct {
		Message chatMessage `json:"message"` // ollama
		Choices []struct {
			Message chatMessage `json:"message"`
		} `json:"choices"` // openai
	}
	if err := json.Unmarshal(raw, &ans); err != nil {
		return "", fmt.Errorf("LLM answer: %w", err)
	}
	if len(ans.Choices) > 0 {
		return ans.Choices[0].Message.Content, nil
	}
	return ans.Message.Content, nil
}

// extractScript takes the first fenced code block of an answer (the whole
// answer when there is none).
func extractScript(answer string) string {
	start := strings.Index(answer, "```")
	if start < 0 {
		return answer
	}
	rest := answer[start+3:]
	if nl := strings.IndexByte(rest, '\n'); nl >= 0 {
		rest = rest[nl+1:]
	}
	if end := strings.Index(rest, "```"); end >= 0 {
		rest = rest[:end]
	}
	return rest
}

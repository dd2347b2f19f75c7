package actions

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// ollamaServer speaks Ollama's /api/chat (stream false) and answers with a script.
func ollamaServer(t *testing.T, calls *atomic.Int32) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/chat" || r.Method != "POST" {
			http.NotFound(w, r)
			return
		}
		var req struct {
			Model    string        `json:"model"`
			Messages []chatMessage `json:"messages"`
			Stream   *bool         `json:"stream"`
		}
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil || req.Stream == nil || *req.Stream || req.Model != "qwen-test" {
			http.Error(w, "bad request", 400)
			return
		}
		if len(req.Messages) != 2 || !strings.Contains(req.Messages[1].Content, "image: Dockerfile") ||
			!strings.Contains(req.Messages[1].Content, `INPUT_WHO="Mona"`) {
			http.Error(w, "prompt lacks the metadata or inputs", 400)
			return
		}
		calls.Add(1)
		json.NewEncoder(w).Encode(map[string]any{
			"model": req.Model, "done": true,
			"message": map[string]string{"role": "assistant",
				"content": "Here it is:\n```bash\necho \"hello $INPUT_WHO\"\necho \"greeting=hi-$INPUT_WHO\" >> \"$GITHUB_OUTPUT\"\n```\n"},
		})
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestLLMFallback(t *testing.T) {
	var calls atomic.Int32
	srv := ollamaServer(t, &calls)
	e := newEnv(t, func(c *Config) { c.LLM = LLMConfig{Kind: "ollama", URL: srv.URL, Model: "qwen-test"} })
	e.write(map[string]string{"greet/action.yml": "name: greet\ninputs:\n  who: {}\nruns:\n  using: docker\n  image: Dockerfile\n"})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - id: g
        uses: ./greet
        with:
          who: Mona
      - run: echo "out=${{ steps.g.outputs.greeting }}"
`
	for i := range 2 {
		res, rec := e.run(src, "build", runOpts{})
		wantConclusion(t, res, rec, "success")
		wantLog(t, rec, "translated by LLM (unverified)", "hello Mona", "out=hi-Mona")
		if i == 1 {
			wantLog(t, rec, "(cached answer")
		}
	}
	if n := calls.Load(); n != 1 {
		t.Errorf("LLM calls = %d, want 1 (the answer is cached)", n)
	}

	// Not configured: never used.
	off := newEnv(t, nil)
	off.write(map[string]string{"greet/action.yml": "runs:\n  using: docker\n  image: Dockerfile\n"})
	res, rec := off.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "failure")
	if strings.Contains(rec.all(), LLMLabel) {
		t.Errorf("LLM mentioned without configuration:\n%s", rec.all())
	}
}

func TestLLMFallbackOpenAI(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/chat/completions" || r.Header.Get("Authorization") != "Bearer k" {
			http.Error(w, "no", http.StatusUnauthorized)
			return
		}
		json.NewEncoder(w).Encode(map[string]any{"choices": []any{map[string]any{
			"message": map[string]string{"role": "assistant", "content": "echo \"openai says $INPUT_WHO\""}}}})
	}))
	defer srv.Close()
	e := newEnv(t, func(c *Config) { c.LLM = LLMConfig{Kind: "openai", URL: srv.URL, Model: "m", APIKey: "k"} })
	e.write(map[string]string{"greet/action.yml": "inputs:\n  who: {}\nruns:\n  using: docker\n  image: docker://alpine\n"})
	src := `
on: push
jobs:
  build:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v4
      - uses: ./greet
        with:
          who: Lisa
`
	res, rec := e.run(src, "build", runOpts{})
	wantConclusion(t, res, rec, "success")
	wantLog(t, rec, LLMLabel, "openai says Lisa")
}

func TestLLMConfigValidation(t *testing.T) {
	for _, c := range []LLMConfig{{Kind: "gpt"}, {Kind: "ollama"}, {Kind: "openai", URL: "http://x"}} {
		if _, err := NewExecutor(Config{DataDir: t.TempDir(), LLM: c}); err == nil {
			t.Errorf("New with LLM %+v: want an error", c)
		}
	}
}

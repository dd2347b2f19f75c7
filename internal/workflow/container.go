package workflow

import (
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/hookci/hookci/internal/expr"
)

// Container is a job's `container:` or one of its `services:`, evaluated.
type Container struct {
	Image       string
	Credentials *Credentials // nil when absent
	Env         []Var        // sorted by name
	Ports       []string
	Volumes     []string
	Options     string
}

// Credentials log in to a container registry (`credentials:`).
type Credentials struct {
	Username, Password string
}

// Service is one entry of `services:`.
type Service struct {
	ID string // the label: its host name from a container job
	Container
}

// EvalContainer evaluates `container:` in env. It returns nil when the job
// has none or its image evaluates to "" (GitHub then runs the job on the
// runner).
func (j *Job) EvalContainer(env *expr.Env) (*Container, error) {
	if j.Container == nil {
		return nil, nil
	}
	v, err := EvalTree(j.Container, env)
	if err != nil {
		return nil, fmt.Errorf("container: %w", err)
	}
	c, err := toContainer(v)
	if err != nil {
		return nil, fmt.Errorf("container: %w", err)
	}
	if c == nil || c.Image == "" {
		return nil, nil
	}
	return c, nil
}

// EvalServices evaluates `services:` in env, in label order; a service
// whose image evaluates to "" is left out, as on GitHub.
func (j *Job) EvalServices(env *expr.Env) ([]Service, error) {
	if j.Services == nil {
		return nil, nil
	}
	v, err := EvalTree(j.Services, env)
	if err != nil {
		return nil, fmt.Errorf("services: %w", err)
	}
	kvs, ok := v.([]KV)
	if !ok {
		return nil, fmt.Errorf("services: want a mapping of labels to containers, got %s", kind(v))
	}
	var out []Service
	for _, kv := range kvs {
		c, err := toContainer(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("services.%s: %w", kv.Key, err)
		}
		if c == nil || c.Image == "" {
			continue
		}
		out = append(out, Service{ID: kv.Key, Container: *c})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].ID < out[b].ID })
	return out, nil
}

func toContainer(v any) (*Container, error) {
	switch t := v.(type) {
	case nil:
		return nil, nil
	case string:
		return &Container{Image: t}, nil
	case []KV:
	default:
		return nil, fmt.Errorf("want an image name or a mapping, got %s", kind(v))
	}
	c := &Container{}
	for _, kv := range v.([]KV) {
		var err error
		switch strings.ToLower(kv.Key) {
		case "image":
			c.Image, err = scalar(kv.Value)
		case "options":
			c.Options, err = scalar(kv.Value)
		case "env":
			c.Env, err = vars(kv.Value)
		case "ports":
			c.Ports, err = strs(kv.Value)
		case "volumes":
			c.Volumes, err = strs(kv.Value)
		case "credentials":
			var cv []Var
			if cv, err = vars(kv.Value); err == nil && cv != nil {
				c.Credentials = &Credentials{}
				for _, x := range cv {
					switch strings.ToLower(x.Name) {
					case "username":
						c.Credentials.Username = x.Value
					case "password":
						c.Credentials.Password = x.Value
					default:
						err = fmt.Errorf("unknown key %q (want username, password)", x.Name)
					}
				}
			}
		default:
			err = errors.New("unknown key")
		}
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
	}
	return c, nil
}

func scalar(v any) (string, error) {
	switch t := v.(type) {
	case nil:
		return "", nil
	case string:
		return t, nil
	case bool:
		return strconv.FormatBool(t), nil
	case float64:
		return strconv.FormatFloat(t, 'f', -1, 64), nil
	case int:
		return strconv.Itoa(t), nil
	}
	return "", fmt.Errorf("want a string, got %s", kind(v))
}

func strs(v any) ([]string, error) {
	if v == nil {
		return nil, nil
	}
	arr, ok := v.([]any)
	if !ok {
		return nil, fmt.Errorf("want a list, got %s", kind(v))
	}
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		s, err := scalar(x)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func vars(v any) ([]Var, error) {
	if v == nil {
		return nil, nil
	}
	kvs, ok := v.([]KV)
	if !ok {
		return nil, fmt.Errorf("want a mapping, got %s", kind(v))
	}
	out := make([]Var, 0, len(kvs))
	for _, kv := range kvs {
		s, err := scalar(kv.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", kv.Key, err)
		}
		out = append(out, Var{Name: kv.Key, Value: s})
	}
	sort.SliceStable(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

func kind(v any) string {
	switch v.(type) {
	case []KV:
		return "a mapping"
	case []any:
		return "a list"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// ContainerOptions are the `options:` hookci honours (Docker's `create`
// flags of the same names).
type ContainerOptions struct {
	HealthCmd         string // run with /bin/sh -c, as Docker's CMD-SHELL
	HealthInterval    time.Duration
	HealthTimeout     time.Duration
	HealthRetries     int
	HealthStartPeriod time.Duration
	NoHealthcheck     bool
	User              string
	Workdir           string
	Env               []string // KEY=VALUE
	Entrypoint        *string  // nil: the image's
	Hostname          string
}

// ParseOptions parses a container's `options:` string. A flag hookci does
// not honour is refused by name: its containers run inside the job's
// sandbox without Docker, so flags about Docker's networks, devices,
// privileges or resources have no meaning there.
func ParseOptions(s string) (ContainerOptions, error) {
	o := ContainerOptions{HealthInterval: 30 * time.Second, HealthTimeout: 30 * time.Second, HealthRetries: 3}
	words, err := splitWords(s)
	if err != nil {
		return o, fmt.Errorf("options: %w", err)
	}
	for i := 0; i < len(words); i++ {
		name, val, hasVal := strings.Cut(words[i], "=")
		arg := func() (string, error) {
			if hasVal {
				return val, nil
			}
			if i+1 >= len(words) {
				return "", fmt.Errorf("options: %s needs a value", name)
			}
			i++
			return words[i], nil
		}
		dur := func(d *time.Duration) error {
			v, err := arg()
			if err != nil {
				return err
			}
			if *d, err = time.ParseDuration(v); err != nil || *d < 0 {
				return fmt.Errorf("options: %s %q: want a duration such as 10s", name, v)
			}
			return nil
		}
		switch name {
		case "--health-cmd":
			o.HealthCmd, err = arg()
		case "--health-interval":
			err = dur(&o.HealthInterval)
		case "--health-timeout":
			err = dur(&o.HealthTimeout)
		case "--health-start-period":
			err = dur(&o.HealthStartPeriod)
		case "--health-retries":
			var v string
			if v, err = arg(); err == nil {
				if o.HealthRetries, err = strconv.Atoi(v); err != nil || o.HealthRetries < 1 {
					err = fmt.Errorf("options: --health-retries %q: want a positive number", v)
				}
			}
		case "--no-healthcheck":
			o.NoHealthcheck = true
		case "--user", "-u":
			o.User, err = arg()
		case "--workdir", "-w":
			o.Workdir, err = arg()
		case "--env", "-e":
			var v string
			if v, err = arg(); err == nil {
				o.Env = append(o.Env, v)
			}
		case "--entrypoint":
			var v string
			if v, err = arg(); err == nil {
				o.Entrypoint = &v
			}
		case "--hostname", "-h":
			o.Hostname, err = arg()
		default:
			return o, fmt.Errorf("options: %s is not supported: hookci runs containers inside the job's sandbox without Docker "+
				"(supported: --health-cmd, --health-interval, --health-timeout, --health-retries, --health-start-period, "+
				"--no-healthcheck, --user, --workdir, --env, --entrypoint, --hostname)", name)
		}
		if err != nil {
			return o, err
		}
	}
	return o, nil
}

// SplitArgs splits a Docker step's `args` string into words as GitHub does
// (shell-like quoting, no expansion).
func SplitArgs(s string) ([]string, error) { return splitWords(s) }

// splitWords splits s as a POSIX shell would split plain words with single
// and double quotes and backslashes (no expansions).
func splitWords(s string) ([]string, error) {
	var words []string
	var cur strings.Builder
	in, quote, esc := false, rune(0), false
	for _, r := range s {
		switch {
		case esc:
			cur.WriteRune(r)
			esc = false
		case r == '\\' && quote != '\'':
			esc, in = true, true
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, in = r, true
		case r == ' ' || r == '\t' || r == '\n':
			if in {
				words = append(words, cur.String())
				cur.Reset()
				in = false
			}
		default:
			cur.WriteRune(r)
			in = true
		}
	}
	if quote != 0 || esc {
		return nil, errors.New("unterminated quote")
	}
	if in {
		words = append(words, cur.String())
	}
	return words, nil
}

package expr

// JobStatus is the status the status functions see: for a step-level `if`,
// the status of the job so far; for a job-level `if`, the combined result of
// the jobs it needs (any failed → JobFailure). The zero value is JobSuccess.
type JobStatus int

// Job statuses for success(), failure() and cancelled().
const (
	JobSuccess JobStatus = iota
	JobFailure
	JobCancelled
)

// String returns "success", "failure" or "cancelled".
func (s JobStatus) String() string {
	switch s {
	case JobFailure:
		return "failure"
	case JobCancelled:
		return "cancelled"
	}
	return "success"
}

// HashFilesFunc computes hashFiles(patterns...) where the files are (the
// runner does it inside the sandbox). It returns the hex digest, or "" when
// no file matches, as GitHub does.
type HashFilesFunc func(patterns []string) (string, error)

// Env is what an expression is evaluated against. A nil *Env is valid: no
// contexts, no hashFiles, job status success.
type Env struct {
	// Contexts maps context names ("github", "env", "matrix", "steps",
	// "needs", "inputs", ...) to their values. Names are matched
	// case-insensitively. Only the names present here may be referenced by
	// the evaluated expressions (an unknown name is a parsing error, as on
	// GitHub); put a name with a Null value to allow it without data.
	Contexts map[string]Value
	// HashFiles implements hashFiles(); nil makes hashFiles() an evaluation error.
	HashFiles HashFilesFunc
	// Status is what success(), failure() and cancelled() test; always() is
	// always true.
	Status JobStatus
}

// parse parses src allowing exactly the contexts present in env.
func (env *Env) parse(src string) (*Expr, error) {
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	return parse(src, toks, env.has)
}

// has reports whether the context name is present (case-insensitively).
func (env *Env) has(name string) bool {
	ctxs := env.contexts()
	if _, ok := ctxs[name]; ok {
		return true
	}
	for k := range ctxs {
		if equalFold(k, name) {
			return true
		}
	}
	return false
}

func (env *Env) contexts() map[string]Value {
	if env == nil {
		return nil
	}
	return env.Contexts
}

// lookup finds a context by name, exactly first, then case-insensitively.
func (env *Env) lookup(name string) Value {
	ctxs := env.contexts()
	if v, ok := ctxs[name]; ok {
		return v
	}
	for k, v := range ctxs {
		if equalFold(k, name) {
			return v
		}
	}
	return Null
}

func (env *Env) status() JobStatus {
	if env == nil {
		return JobSuccess
	}
	return env.Status
}

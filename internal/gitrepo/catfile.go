package gitrepo

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/trace"
)

// catIdle is how long a mirror's `git cat-file --batch-command` stays up unused.
const catIdle = time.Minute

// errMissing is an object the mirror does not hold.
var errMissing = errors.New("object not in the mirror")

// catFile is one long-lived `git cat-file --batch-command` on a mirror: planning
// reads (does a commit exist, a file at a commit, a directory's tree, a
// commit's header) are one request and reply on its pipes instead of a git
// process per call. git looks again for packs when an object is missing, so
// objects fetched after it started are found. One request at a time.
type catFile struct {
	dir string

	mu    sync.Mutex // guards the fields below and the pipes
	cmd   *exec.Cmd
	in    io.WriteCloser
	out   *bufio.Reader
	timer *time.Timer
	// legacy: this git has no --batch-command (before 2.36, e.g. Ubuntu
	// 22.04's 2.34): reads go through --batch, and missing is not offered.
	legacy bool
}

// errNoInfo: this git's cat-file cannot check objects without reading them.
var errNoInfo = errors.New("cat-file --batch-command is not supported by this git")

// catFile returns the mirror's batch reader, made on first use.
func (c *Cache) catFile(dir string) *catFile {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cats == nil {
		c.cats = map[string]*catFile{}
	}
	cf, ok := c.cats[dir]
	if !ok {
		cf = &catFile{dir: dir}
		c.cats[dir] = cf
	}
	return cf
}

// Close stops every mirror's batch reader and ends and waits for background
// maintenance (maintain.go). The cache stays usable: a later read starts a
// reader again, a later fetch maintenance.
func (c *Cache) Close() error {
	c.stopMaintenance() // maintain.go
	c.mu.Lock()
	cats := c.cats
	c.cats = nil
	c.mu.Unlock()
	for _, cf := range cats {
		cf.mu.Lock()
		cf.stop()
		cf.mu.Unlock()
	}
	return nil
}

// start runs the process; cf.mu is held.
func (cf *catFile) start() error {
	mode := "--batch-command"
	if cf.legacy {
		mode = "--batch"
	}
	cmd := Command(context.Background(), cf.dir, nil, "cat-file", mode)
	in, err := cmd.StdinPipe()
	if err != nil {
		return fmt.Errorf("gitrepo: cat-file: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("gitrepo: cat-file: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("gitrepo: cat-file: %w", err)
	}
	cf.cmd, cf.in, cf.out = cmd, in, bufio.NewReaderSize(out, 64<<10)
	return nil
}

// stop ends the process (it exits on end of input); cf.mu is held. It
// returns the process's exit code (-1 when killed or not running).
func (cf *catFile) stop() int {
	if cf.cmd == nil {
		return -1
	}
	if cf.timer != nil {
		cf.timer.Stop()
		cf.timer = nil
	}
	cf.in.Close()
	done := make(chan struct{})
	go func() { cf.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		cf.cmd.Process.Kill()
		<-done
	}
	code := cf.cmd.ProcessState.ExitCode()
	cf.cmd, cf.in, cf.out = nil, nil, nil
	return code
}

// get returns the type and content of the object named by rev (a full id,
// optionally with ^{commit} or :path); a missing one is errMissing.
func (cf *catFile) get(ctx context.Context, rev string) (typ string, data []byte, err error) {
	defer trace.Begin(ctx, "git cat-file batch")()
	if strings.ContainsAny(rev, "\n\x00") {
		return "", nil, fmt.Errorf("gitrepo: invalid object name %q", rev)
	}
	err = cf.use(ctx, true, func() error {
		var rerr error
		typ, data, rerr = cf.request(rev)
		return rerr
	})
	return typ, data, err
}

// missing returns which of ids (full hexadecimal ids) the mirror does not
// hold, asking for all of them at once (the requests written while the
// replies are read, so neither pipe fills up).
func (cf *catFile) missing(ctx context.Context, ids []string) (miss []string, err error) {
	defer trace.Begin(ctx, "git cat-file batch (info)")()
	for _, id := range ids {
		if !ValidSHA(id) {
			return nil, fmt.Errorf("gitrepo: invalid object id %q", id)
		}
	}
	err = cf.use(ctx, false, func() error {
		if cf.legacy {
			return errNoInfo
		}
		in := cf.in
		written := make(chan error, 1)
		go func() {
			w := bufio.NewWriter(in)
			for _, id := range ids {
				w.WriteString("info " + id + "\n")
			}
			written <- w.Flush()
		}()
		for _, id := range ids {
			line, err := cf.out.ReadString('\n')
			if err != nil {
				return fmt.Errorf("gitrepo: cat-file: %w", err) // the process is stopped: the writer ends too
			}
			switch f := strings.Fields(line); {
			case len(f) == 2 && f[0] == id && f[1] == "missing":
				miss = append(miss, id)
			case len(f) == 3 && f[0] == id:
			default:
				return fmt.Errorf("gitrepo: cat-file: unexpected reply %q", line)
			}
		}
		if err := <-written; err != nil {
			return fmt.Errorf("gitrepo: cat-file: %w", err)
		}
		return nil
	})
	return miss, err
}

// use runs fn with the process up and cf.mu held. A cancelled caller stops
// the process rather than wait on its reply; so does any failure but a
// missing object (the pipes are then in an unknown state). A git that
// does not know --batch-command exits with its usage status (129) at once:
// the reader then starts again with --batch and, when retry, runs fn again.
func (cf *catFile) use(ctx context.Context, retry bool, fn func() error) error {
	cf.mu.Lock()
	defer cf.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	if cf.cmd == nil {
		if err := cf.start(); err != nil {
			return err
		}
	}
	proc := cf.cmd.Process
	unhook := context.AfterFunc(ctx, func() { proc.Kill() })
	err := fn()
	if !unhook() || err != nil && !errors.Is(err, errMissing) && !errors.Is(err, errNoInfo) {
		code := cf.stop()
		if ctxErr := ctx.Err(); ctxErr != nil {
			return errors.Join(err, ctxErr)
		}
		if code == 129 && !cf.legacy {
			cf.legacy = true
			if !retry {
				return errNoInfo
			}
			if err := cf.start(); err != nil {
				return err
			}
			if err = fn(); err != nil && !errors.Is(err, errMissing) {
				cf.stop()
				return err
			}
		} else {
			return err
		}
	}
	if cf.timer == nil {
		cf.timer = time.AfterFunc(catIdle, func() {
			cf.mu.Lock()
			defer cf.mu.Unlock()
			cf.timer = nil
			cf.stop()
		})
	} else {
		cf.timer.Reset(catIdle)
	}
	return err
}

// request writes one name and reads its reply; cf.mu is held.
func (cf *catFile) request(rev string) (string, []byte, error) {
	cmd := "contents "
	if cf.legacy {
		cmd = ""
	}
	if _, err := io.WriteString(cf.in, cmd+rev+"\n"); err != nil {
		return "", nil, fmt.Errorf("gitrepo: cat-file: %w", err)
	}
	line, err := cf.out.ReadString('\n')
	if err != nil {
		return "", nil, fmt.Errorf("gitrepo: cat-file: %w", err)
	}
	line = strings.TrimSuffix(line, "\n")
	// "<name> missing", "<name> ambiguous", or "<id> <type> <size>".
	f := strings.Fields(line)
	if len(f) != 3 {
		if strings.HasSuffix(line, " missing") || strings.HasSuffix(line, " ambiguous") {
			return "", nil, fmt.Errorf("%s: %w", rev, errMissing)
		}
		return "", nil, fmt.Errorf("gitrepo: cat-file: unexpected reply %q", line)
	}
	size, err := strconv.Atoi(f[2])
	if err != nil || size < 0 {
		return "", nil, fmt.Errorf("gitrepo: cat-file: unexpected reply %q", line)
	}
	data := make([]byte, size+1) // the content, then a newline
	if _, err := io.ReadFull(cf.out, data); err != nil {
		return "", nil, fmt.Errorf("gitrepo: cat-file: %w", err)
	}
	return f[1], data[:size], nil
}

// treeNames returns the names of a tree object's entries.
func treeNames(tree []byte, idLen int) ([]string, error) {
	var names []string
	err := treeEntries(tree, idLen, func(_, name string, _ []byte) error {
		names = append(names, name)
		return nil
	})
	if err != nil {
		return nil, errors.New("gitrepo: malformed tree object")
	}
	return names, nil
}

// errMalformedTree: a tree object does not parse.
var errMalformedTree = errors.New("malformed tree")

// treeEntries calls fn with each entry of a tree object (git's binary
// format: "<mode> <name>\0<raw id>", repeated; ids idLen bytes), in order,
// and returns fn's first error, or errMalformedTree.
func treeEntries(tree []byte, idLen int, fn func(mode, name string, id []byte) error) error {
	for len(tree) > 0 {
		sp, nul := bytes.IndexByte(tree, ' '), bytes.IndexByte(tree, 0)
		if sp < 0 || nul < sp || len(tree) < nul+1+idLen {
			return errMalformedTree
		}
		if err := fn(string(tree[:sp]), string(tree[sp+1:nul]), tree[nul+1:nul+1+idLen]); err != nil {
			return err
		}
		tree = tree[nul+1+idLen:]
	}
	return nil
}

// object reads rev through the mirror's batch reader (a git process per
// call only for a name the batch protocol cannot carry).
func (m *Mirror) object(ctx context.Context, rev string) (string, []byte, error) {
	if m.cache == nil || strings.ContainsAny(rev, "\n\x00") {
		return "", nil, errNoBatch
	}
	return m.cache.catFile(m.Dir).get(ctx, rev)
}

// errNoBatch sends a read to a git process of its own.
var errNoBatch = errors.New("not readable through cat-file --batch")

package microvm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hookci/hookci/internal/agent"
	"github.com/hookci/hookci/internal/sandbox"
	"github.com/hookci/hookci/internal/trace"
)

// Guest paths of the job layout (created by the guest init).
var guestLayout = agent.Layout{
	Workspace: "/home/runner/work/w",
	Temp:      "/home/runner/work/_temp",
	Home:      "/home/runner",
}

const guestToolCache = "/opt/hostedtoolcache"

// Backend starts microVM sandboxes. It is safe for concurrent use.
type Backend struct {
	cfg       Config
	initramfs string // generated: cfg.Initrd + the agent as /init

	accelMu  sync.Mutex // guards accel
	accel    string     // resolved accelerator, "" until the first Start
	accelWhy string

	tmplMu sync.Mutex // held while a template is built

	mu          sync.Mutex                  // guards the fields below
	live        map[string]bool             // VM and template directories in use
	templates   map[string]*template        // by vmShape.key()
	templateErr map[string]*templateFailure // by vmShape.key()
}

// New checks cfg, creates WorkDir and writes the initramfs.
func New(cfg Config) (*Backend, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	for _, d := range []string{cfg.WorkDir, filepath.Join(cfg.WorkDir, "vms"), filepath.Join(cfg.WorkDir, "templates")} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("microvm: %w", err)
		}
	}
	initramfs, err := BuildInitramfs(cfg.WorkDir, cfg.Initrd, cfg.AgentPath)
	if err != nil {
		return nil, err
	}
	b := &Backend{cfg: cfg, initramfs: initramfs, live: map[string]bool{},
		templates: map[string]*template{}, templateErr: map[string]*templateFailure{}}
	if cfg.Accel != AccelAuto {
		b.accel, b.accelWhy = cfg.Accel, "configured"
	}
	return b, nil
}

// Accel returns the accelerator VMs use ("kvm" or "tcg"). With "auto" and
// no VM started yet it resolves the choice first, which may boot a probe VM
// (bounded by 30 s); if even that fails it reports "tcg".
func (b *Backend) Accel() string {
	ctx, cancel := context.WithTimeout(context.Background(), bootTimeout)
	defer cancel()
	a, err := b.resolveAccel(ctx)
	if err != nil {
		b.cfg.Logger.Warn("microvm: choosing the accelerator", "err", err)
		return AccelTCG
	}
	return a
}

// Start boots (or, with Config.Template, restores) a VM for spec and returns
// once its agent answers. On failure nothing is left behind; errors quote the
// guest console's tail.
func (b *Backend) Start(ctx context.Context, spec sandbox.Spec) (*sandbox.Instance, error) {
	imgs, err := imageDisks(ctx, spec.ContainerImages) // container.go
	if err != nil {
		return nil, fmt.Errorf("microvm %s: %w", spec.ID, err)
	}
	if spec.WorkspaceDir == "" {
		return b.StartWith(ctx, spec, StartOptions{Images: imgs})
	}
	// The workspace goes in as an ext4 disk (measured: a 60 MB tree takes
	// 0.8 s this way against 20 s untarred by a TCG guest).
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	disks := filepath.Join(b.cfg.WorkDir, "disks")
	if err := os.MkdirAll(disks, 0o700); err != nil {
		return nil, fmt.Errorf("microvm %s: %w", spec.ID, err)
	}
	disk := filepath.Join(disks, spec.ID+".ext4")
	if err := MakeWorkspaceDisk(ctx, spec.WorkspaceDir, disk); err != nil {
		os.Remove(disk)
		return nil, fmt.Errorf("microvm %s: workspace disk: %w", spec.ID, err)
	}
	inst, err := b.StartWith(ctx, spec, StartOptions{WorkspaceDisk: disk, Images: imgs})
	if err != nil {
		os.Remove(disk)
		return nil, err
	}
	inst.WorkspaceReady = true
	inst.AfterClose(func() { os.Remove(disk) })
	return inst, nil
}

// StartOptions are microVM-specific extras of StartWith.
type StartOptions struct {
	// WorkspaceDisk is an ext4 image attached read-write and mounted at the
	// workspace (/home/runner/work/w): its root directory is the workspace.
	// MakeWorkspaceDisk makes one. The caller owns the file. An image of
	// exactly WorkspaceDiskBytes can start from a template (whose
	// placeholder disk has that size); any other size cold-boots.
	WorkspaceDisk string
	// Images are container images' ext4 disks, attached read-only so that
	// Instance.Containers can start containers from them (container.go).
	// A VM with images always cold-boots (a template has no such disks).
	Images []ImageDisk
}

// StartWith is Start with microVM-specific options.
func (b *Backend) StartWith(ctx context.Context, spec sandbox.Spec, opts StartOptions) (*sandbox.Instance, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if opts.WorkspaceDisk != "" {
		if err := isFile(opts.WorkspaceDisk); err != nil {
			return nil, fmt.Errorf("microvm %s: WorkspaceDisk: %w", spec.ID, err)
		}
	}
	accel, err := b.resolveAccel(ctx)
	if err != nil {
		return nil, err
	}
	o := vmOptions{shape: b.shape(spec), accel: accel, toolCache: spec.ToolCache, workDisk: opts.WorkspaceDisk}
	disks, err := checkImages(opts.Images)
	if err != nil {
		return nil, fmt.Errorf("microvm %s: %w", spec.ID, err)
	}
	o.images = disks
	o.shape.workDisk = o.workDisk != ""
	if spec.ToolCache != "" {
		if fi, err := os.Stat(spec.ToolCache); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("microvm %s: tool cache %q is not a directory", spec.ID, spec.ToolCache)
		}
	}
	dir := filepath.Join(b.cfg.WorkDir, "vms", spec.ID)
	if !b.claim(dir) {
		return nil, fmt.Errorf("microvm %s: a sandbox with this id is running", spec.ID)
	}
	start := time.Now()
	v, c, how, err := b.startVM(ctx, dir, o)
	if err != nil {
		b.release(dir)
		return nil, fmt.Errorf("microvm %s: %w", spec.ID, err)
	}
	v.onClose = func() { b.release(dir) }
	v.onCrash = b.keepCrashLog
	spec.Logger(b.cfg.Logger).Info("microvm started", "sandbox", spec.ID, "how", how, "accel", o.accel, "took", time.Since(start).Round(time.Millisecond))
	layout := guestLayout
	if spec.ToolCache != "" {
		layout.ToolCache = guestToolCache
	}
	inst := sandbox.NewInstance(c, layout, "microvm", v.destroy)
	inst.Containers = containerStarter(c, layout, opts.Images, b.cfg.NodeBundle)
	return inst, nil
}

// SandboxMemoryMiB is the guest memory of a VM of the default shape (what
// a warm VM may grow to once a job runs in it), for sandbox.Pool.
func (b *Backend) SandboxMemoryMiB() int { return b.cfg.DefaultMemoryMiB }

// shape applies defaults to the spec's resources.
func (b *Backend) shape(spec sandbox.Spec) vmShape {
	s := vmShape{cpus: spec.CPUs, memMiB: spec.MemoryMiB, network: spec.Network}
	if s.cpus == 0 {
		s.cpus = b.cfg.DefaultCPUs
	}
	if s.memMiB == 0 {
		s.memMiB = b.cfg.DefaultMemoryMiB
	}
	return s
}

// startVM restores from a template when possible and cold-boots otherwise.
// It also says which it did.
func (b *Backend) startVM(ctx context.Context, dir string, o vmOptions) (*vm, *agent.Client, string, error) {
	ctx, cancel := context.WithTimeout(ctx, b.cfg.StartTimeout)
	defer cancel()
	if b.cfg.Template && o.toolCache == "" && len(o.images) == 0 && (o.workDisk == "" || fileSize(o.workDisk) == WorkspaceDiskBytes) {
		t, err := b.template(ctx, o)
		if err == nil {
			v, c, err := b.clone(ctx, dir, t, o)
			if err == nil {
				return v, c, "restored from template", nil
			}
			b.cfg.Logger.Warn("microvm: start from template failed, cold-booting (the template will be rebuilt)", "sandbox", filepath.Base(dir), "template", t.shape.key(), "err", err)
			b.dropTemplate(t)
		} else {
			b.cfg.Logger.Warn("microvm: template unavailable, cold-booting", "sandbox", filepath.Base(dir), "template", o.shape.key(), "err", err)
		}
	}
	v, c, err := b.boot(ctx, dir, o)
	return v, c, "cold boot", err
}

// boot cold-boots a VM and waits for its agent.
func (b *Backend) boot(ctx context.Context, dir string, o vmOptions) (*vm, *agent.Client, error) {
	v, err := b.launch(dir, o)
	if err != nil {
		return nil, nil, err
	}
	c, err := b.ready(ctx, v, false)
	if err != nil {
		return nil, nil, err
	}
	return v, c, nil
}

// ready connects to a started VM's agent and resynchronises the guest; on
// failure it destroys the VM.
// With mountWork the guest mounts its workspace disk (a template clone's).
func (b *Backend) ready(ctx context.Context, v *vm, mountWork bool) (*agent.Client, error) {
	end := trace.Begin(ctx, "microvm: agent handshake")
	c, err := v.connect(ctx)
	end()
	if err == nil {
		end = trace.Begin(ctx, "microvm: resync")
		if err = resyncGuest(ctx, c, mountWork); err != nil {
			c.Close()
		}
		end()
	}
	if err != nil {
		diag := v.diag()
		v.destroy()
		return nil, fmt.Errorf("agent did not come up: %w%s", err, diag)
	}
	return c, nil
}

func (b *Backend) claim(dir string) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.live[dir] {
		return false
	}
	b.live[dir] = true
	return true
}

func (b *Backend) release(dir string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.live, dir)
}

// keepCrashLog saves the console and QEMU output of a VM that died under a
// job to WorkDir/crashed/<id>-<time>.log (Reap leaves them) and logs where.
func (b *Backend) keepCrashLog(v *vm) {
	dir := filepath.Join(b.cfg.WorkDir, "crashed")
	name := filepath.Join(dir, fmt.Sprintf("%s-%s.log", filepath.Base(v.dir), time.Now().UTC().Format("20060102T150405")))
	diag := fmt.Sprintf("qemu: %v%s\n", v.waitErr, v.diag())
	if err := os.MkdirAll(dir, 0o755); err == nil {
		os.WriteFile(name, []byte(diag), 0o644)
	}
	b.cfg.Logger.Warn("microvm: QEMU died before Close; console kept", "sandbox", filepath.Base(v.dir), "err", v.waitErr, "console", name)
}

// dropTemplate forgets a template that failed to restore, so that the next
// job builds a fresh one.
func (b *Backend) dropTemplate(t *template) {
	b.mu.Lock()
	if b.templates[t.shape.key()] == t {
		delete(b.templates, t.shape.key())
		delete(b.live, t.dir)
	}
	b.mu.Unlock()
}

// Close removes the backend's templates. Running sandboxes are left to
// their own Close.
func (b *Backend) Close() error {
	b.mu.Lock()
	ts := b.templates
	b.templates = map[string]*template{}
	b.mu.Unlock()
	var first error
	for _, t := range ts {
		if err := t.remove(); err != nil && first == nil {
			first = err
		}
		b.release(t.dir)
	}
	return first
}

// bootTimeout is how long an accelerator probe may take.
const bootTimeout = 30 * time.Second

// Command hookci-agent is the guest agent that runs inside every sandbox and
// serves the protocol of package agent on one of: a unix socket
// (--listen unix:/path), a listening unix socket it inherits as descriptor N
// (--listen fd:N: the namespace backend binds it on the host, outside the
// sandbox, so no path to it exists where the job runs), a virtio-serial port
// (--serial /dev/vportNpM) or a vsock port (--vsock PORT). As PID 1 of a
// microVM (or with --init) it first sets the guest up (guestInit). It logs to
// stderr. On SIGTERM or SIGINT it kills every process group it started and
// exits.
//
// `hookci-agent sandbox-init ARGS...` is PID 1 of a namespace sandbox: a
// non-dumpable reaper that runs the agent with ARGS (sandboxinit_linux.go).
//
// --containers serves the /containers routes (agent.Server.ServeContainers);
// only the microVM guest's init passes it. --no-dump makes the agent
// non-dumpable, so that processes of its own uid (the job's, in a namespace
// sandbox) cannot open its memory or descriptors through /proc.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/hookci/hookci/internal/agent"
)

type config struct {
	listen string // "unix:/path" or "fd:N"
	serial string // device path
	vsock  string // port number
	init   bool
	cgroup string // job cgroup directory
	// containers serves the /containers routes (microVM guest only).
	containers bool
	// noDump makes the agent non-dumpable (PR_SET_DUMPABLE 0).
	noDump bool
}

func main() {
	if len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "container-") {
		// A guest container's init or agent (before the PID 1 check below).
		log.SetPrefix("hookci-agent " + os.Args[1] + ": ")
		if err := agent.ContainerMain(os.Args[1]); err != nil {
			log.Print(err)
			os.Exit(1)
		}
		return
	}
	if len(os.Args) > 1 && os.Args[1] == sandboxInitArg {
		// PID 1 of a namespace sandbox (sandboxinit_linux.go), before the
		// PID 1 check below, which means a microVM guest.
		log.SetPrefix("hookci-agent " + sandboxInitArg + ": ")
		log.Print(sandboxInit(os.Args[2:]))
		os.Exit(1)
	}
	var cfg config
	flag.StringVar(&cfg.listen, "listen", "", "listen address, `unix:/path/to/sock`, or fd:N to serve an inherited listening socket")
	flag.StringVar(&cfg.serial, "serial", "", "serve on a virtio-serial port `device` (e.g. /dev/virtio-ports/hookci)")
	flag.StringVar(&cfg.vsock, "vsock", "", "listen on vsock `port`")
	flag.BoolVar(&cfg.init, "init", false, "set up the guest as its init (implied when running as PID 1)")
	flag.StringVar(&cfg.cgroup, "job-cgroup", "", "start job processes in this cgroup v2 `directory` (created, with pids and memory limits)")
	flag.BoolVar(&cfg.containers, "containers", false, "serve the /containers routes (set by the microVM guest's init only)")
	flag.BoolVar(&cfg.noDump, "no-dump", false, "make the agent non-dumpable: processes of its uid cannot reach into it through /proc")
	flag.Parse()
	log.SetPrefix("hookci-agent: ")
	log.SetFlags(log.Lmicroseconds)
	if err := run(context.Background(), cfg); err != nil {
		log.Print(err)
		os.Exit(1)
	}
}

func run(ctx context.Context, cfg config) error {
	if cfg.init || os.Getpid() == 1 {
		// guestInit sets the guest up, then supervises a child agent
		// started with --serial; it returns only on failure.
		return fmt.Errorf("guest init: %w", guestInit())
	}
	modes := 0
	for _, v := range []string{cfg.listen, cfg.serial, cfg.vsock} {
		if v != "" {
			modes++
		}
	}
	if modes != 1 {
		return errors.New("exactly one of --listen, --serial, --vsock is required")
	}
	keep := -1
	if v, ok := strings.CutPrefix(cfg.listen, "fd:"); ok {
		keep, _ = strconv.Atoi(v) // checked by inheritedListener
	}
	if err := closeInheritedFDs(keep); err != nil {
		return err
	}
	if cfg.noDump {
		if err := setNoDump(); err != nil {
			return err
		}
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	srv := agent.NewServer(log.Printf)
	defer srv.Shutdown()
	if cfg.containers {
		srv.ServeContainers()
	}
	if cfg.cgroup != "" {
		// Without the cgroup jobs still run, unbounded inside the sandbox: say so.
		if err := setupJobCgroup(cfg.cgroup); err != nil {
			log.Printf("job cgroup %s: %v (jobs run without pids/memory limits)", cfg.cgroup, err)
		} else if err := srv.SetJobCgroup(cfg.cgroup); err != nil {
			log.Printf("%v", err)
		}
	}
	err := serve(ctx, srv, cfg)
	if ctx.Err() != nil {
		return nil // told to stop
	}
	return err
}

func serve(ctx context.Context, srv *agent.Server, cfg config) error {
	switch {
	case cfg.serial != "":
		port, err := agent.OpenSerial(cfg.serial)
		if err != nil {
			return err
		}
		defer port.Close()
		log.Printf("serving on serial port %s", cfg.serial)
		return srv.ServeSerial(ctx, port)
	case cfg.vsock != "":
		port, err := strconv.ParseUint(cfg.vsock, 10, 32)
		if err != nil {
			return fmt.Errorf("--vsock: bad port %q", cfg.vsock)
		}
		l, err := agent.ListenVsock(uint32(port))
		if err != nil {
			return err
		}
		log.Printf("listening on vsock port %d", port)
		return srv.Serve(ctx, l)
	case strings.HasPrefix(cfg.listen, "fd:"):
		l, err := inheritedListener(cfg.listen)
		if err != nil {
			return err
		}
		log.Printf("listening on inherited %s", cfg.listen)
		return srv.Serve(ctx, l)
	default:
		path, ok := strings.CutPrefix(cfg.listen, "unix:")
		if !ok || path == "" {
			return fmt.Errorf("--listen: want unix:/path or fd:N, got %q", cfg.listen)
		}
		os.Remove(path) // a stale socket from an earlier run
		l, err := net.Listen("unix", path)
		if err != nil {
			return err
		}
		log.Printf("listening on %s", path)
		return srv.Serve(ctx, l)
	}
}

// inheritedListener returns the listening unix socket inherited as
// descriptor N of "fd:N". The inherited descriptor itself is closed (the
// listener holds a close-on-exec duplicate), so no process the agent starts
// inherits it.
func inheritedListener(spec string) (net.Listener, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(spec, "fd:"))
	if err != nil || n < 3 {
		return nil, fmt.Errorf("--listen: bad descriptor in %q (want fd:N, N >= 3)", spec)
	}
	f := os.NewFile(uintptr(n), "listener")
	if f == nil {
		return nil, fmt.Errorf("--listen %s: not an open descriptor", spec)
	}
	defer f.Close()
	l, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("--listen %s: %w", spec, err)
	}
	if _, ok := l.(*net.UnixListener); !ok {
		l.Close()
		return nil, fmt.Errorf("--listen %s: not a listening unix socket", spec)
	}
	return l, nil
}

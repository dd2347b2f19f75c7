package firecracker

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// fakeAPI is a stand-in Firecracker API server on a real unix socket: it
// records every request and answers 204, or 400 with a fault message for
// paths listed in fail.
type fakeAPI struct {
	mu   sync.Mutex
	reqs []string // "METHOD path body"
	fail map[string]string
}

func startFakeAPI(t *testing.T, fail map[string]string) (*fakeAPI, string) {
	t.Helper()
	sock := filepath.Join(shortDir(t), "api.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeAPI{fail: fail}
	srv := &http.Server{Handler: f}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return f, sock
}

func (f *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.reqs = append(f.reqs, r.Method+" "+r.URL.Path+" "+string(body))
	f.mu.Unlock()
	if r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, `{"fault_message":"want application/json"}`, http.StatusBadRequest)
		return
	}
	if msg, ok := f.fail[r.URL.Path]; ok {
		w.WriteHeader(http.StatusBadRequest)
		json.NewEncoder(w).Encode(map[string]string{"fault_message": msg})
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "fc")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func TestConfigureSequence(t *testing.T) {
	f, sock := startFakeAPI(t, nil)
	s := vmSetup{cpus: 2, memMiB: 1024, kernel: "/k/vmlinux", initrd: "/k/initrd", bootArgs: "console=ttyS0 hookci.vsock=1024",
		rootDisk: "/k/root.ext4", vsockPath: "/w/v.sock"}
	if err := newAPIClient(sock).configure(context.Background(), s); err != nil {
		t.Fatalf("configure: %v", err)
	}
	want := []string{
		`PUT /machine-config {"vcpu_count":2,"mem_size_mib":1024,"smt":false}`,
		`PUT /boot-source {"kernel_image_path":"/k/vmlinux","initrd_path":"/k/initrd","boot_args":"console=ttyS0 hookci.vsock=1024"}`,
		`PUT /drives/rootfs {"drive_id":"rootfs","path_on_host":"/k/root.ext4","is_root_device":true,"is_read_only":true}`,
		`PUT /vsock {"guest_cid":3,"uds_path":"/w/v.sock"}`,
		`PUT /actions {"action_type":"InstanceStart"}`,
	}
	if d := cmp.Diff(want, f.reqs); d != "" {
		t.Errorf("API calls (-want +got):\n%s", d)
	}
}

func TestConfigureFault(t *testing.T) {
	f, sock := startFakeAPI(t, map[string]string{"/drives/rootfs": "Unable to open the block device backing file"})
	err := newAPIClient(sock).configure(context.Background(), vmSetup{cpus: 1, memMiB: 128, kernel: "/k", rootDisk: "/nope"})
	if err == nil || !strings.Contains(err.Error(), "Unable to open the block device backing file") || !strings.Contains(err.Error(), "/drives/rootfs") {
		t.Fatalf("configure with a failing drive: got %v, want the fault message and path", err)
	}
	if got := len(f.reqs); got != 3 {
		t.Errorf("requests sent: got %d, want 3 (stop at the first fault): %q", got, f.reqs)
	}
}

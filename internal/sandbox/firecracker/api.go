package firecracker

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// apiClient speaks Firecracker's REST API over its unix socket
// (--api-sock). Every call used here is a PUT answered with 204 No Content
// on success and a JSON {"fault_message": ...} otherwise.
type apiClient struct {
	hc *http.Client
}

func newAPIClient(socket string) *apiClient {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
		MaxIdleConns: 1,
	}
	return &apiClient{hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// Request bodies, with Firecracker's field names.
type machineConfig struct {
	VCPUCount  int  `json:"vcpu_count"`
	MemSizeMiB int  `json:"mem_size_mib"`
	SMT        bool `json:"smt"`
}

type bootSource struct {
	KernelImagePath string `json:"kernel_image_path"`
	InitrdPath      string `json:"initrd_path,omitempty"`
	BootArgs        string `json:"boot_args"`
}

type drive struct {
	DriveID      string `json:"drive_id"`
	PathOnHost   string `json:"path_on_host"`
	IsRootDevice bool   `json:"is_root_device"`
	IsReadOnly   bool   `json:"is_read_only"`
}

type vsock struct {
	GuestCID int    `json:"guest_cid"`
	UDSPath  string `json:"uds_path"`
}

type action struct {
	ActionType string `json:"action_type"`
}

// put sends one PUT and turns a non-2xx answer into an error carrying
// Firecracker's fault message.
func (c *apiClient) put(ctx context.Context, path string, body any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPut, "http://firecracker"+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("firecracker API PUT %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	var fault struct {
		FaultMessage string `json:"fault_message"`
	}
	if json.Unmarshal(raw, &fault) == nil && fault.FaultMessage != "" {
		return fmt.Errorf("firecracker API PUT %s: %s: %s", path, resp.Status, fault.FaultMessage)
	}
	return fmt.Errorf("firecracker API PUT %s: %s: %q", path, resp.Status, raw)
}

// vmSetup is everything configured before InstanceStart.
type vmSetup struct {
	cpus, memMiB             int
	kernel, initrd, bootArgs string
	rootDisk                 string
	vsockPath                string
}

// configure sends the pre-boot configuration and starts the instance.
func (c *apiClient) configure(ctx context.Context, s vmSetup) error {
	steps := []struct {
		path string
		body any
	}{
		{"/machine-config", machineConfig{VCPUCount: s.cpus, MemSizeMiB: s.memMiB}},
		{"/boot-source", bootSource{KernelImagePath: s.kernel, InitrdPath: s.initrd, BootArgs: s.bootArgs}},
		{"/drives/rootfs", drive{DriveID: "rootfs", PathOnHost: s.rootDisk, IsRootDevice: true, IsReadOnly: true}},
		{"/vsock", vsock{GuestCID: guestCID, UDSPath: s.vsockPath}},
		{"/actions", action{ActionType: "InstanceStart"}},
	}
	for _, st := range steps {
		if err := c.put(ctx, st.path, st.body); err != nil {
			return err
		}
	}
	return nil
}

// guestCID is the guest's vsock context id (3 is the first one free for
// guests; each VM has its own vsock device, so all can use it).
const guestCID = 3

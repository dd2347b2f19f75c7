package agent

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
)

// PutFiles extracts the tar stream under dir in the sandbox (dir is created
// if missing). The agent refuses entries that would land outside dir.
func (c *Client) PutFiles(ctx context.Context, dir string, tarStream io.Reader) error {
	return c.putFiles(ctx, url.Values{"dir": {dir}}, tarStream)
}

// putFiles is PUT /files with query (PutFiles, PutCheckout).
func (c *Client) putFiles(ctx context.Context, query url.Values, tarStream io.Reader) error {
	resp, err := c.do(ctx, "put files", http.MethodPut, "/files", query, tarStream)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return c.transportErr(ctx, "put files", err)
	}
	return nil
}

// GetFiles returns a tar stream of path in the sandbox: for a directory its
// contents with names relative to it, for a file one entry named after it.
// The caller closes the stream. A missing path is an error wrapping
// fs.ErrNotExist.
func (c *Client) GetFiles(ctx context.Context, path string) (io.ReadCloser, error) {
	resp, err := c.do(ctx, "get files", http.MethodGet, "/files", url.Values{"path": {path}}, nil)
	if err != nil {
		return nil, err
	}
	return &bodyReader{rc: resp.Body, c: c, ctx: ctx}, nil
}

// bodyReader classifies read errors of a streamed response body.
type bodyReader struct {
	rc  io.ReadCloser
	c   *Client
	ctx context.Context
}

func (b *bodyReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		err = b.c.transportErr(b.ctx, "get files", err)
	}
	return n, err
}

func (b *bodyReader) Close() error { return b.rc.Close() }

// WriteFile writes data to path in the sandbox with the given permission
// bits, creating parent directories.
func (c *Client) WriteFile(ctx context.Context, path string, data []byte, mode fs.FileMode) error {
	q := url.Values{"path": {path}, "mode": {fmt.Sprintf("%#o", mode.Perm())}}
	resp, err := c.do(ctx, "write file", http.MethodPut, "/file", q, bytes.NewReader(data))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return c.transportErr(ctx, "write file", err)
	}
	return nil
}

// ReadFile returns the content of path in the sandbox; a missing file is an
// error wrapping fs.ErrNotExist.
func (c *Client) ReadFile(ctx context.Context, path string) ([]byte, error) {
	resp, err := c.do(ctx, "read file", http.MethodGet, "/file", url.Values{"path": {path}}, nil)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, c.transportErr(ctx, "read file", err)
	}
	return data, nil
}

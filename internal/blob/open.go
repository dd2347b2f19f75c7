package blob

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
)

// Options is the [blobs] configuration.
type Options struct {
	// URL is empty (the data directory), file:///path, or
	// s3://bucket[/prefix]?endpoint=http://host:port[&region=r].
	URL string
	// DataDir is where the default directory store lives.
	DataDir string
	// AccessKeyID, SecretAccessKey and Region are for s3:// (see S3Config).
	AccessKeyID, SecretAccessKey, Region string
	// Getenv reads the standard AWS environment (os.Getenv in production).
	Getenv func(string) string
}

// Open returns the store opts name; an s3:// store is checked (reachable,
// credentials accepted, bucket present or created, writable) before it is
// returned, so that a setting that cannot work is an error at start.
func Open(ctx context.Context, opts Options) (Store, error) {
	if opts.URL == "" {
		if opts.DataDir == "" {
			return nil, fmt.Errorf("blob store: no data directory")
		}
		return NewDir(opts.DataDir), nil
	}
	u, err := url.Parse(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("HOOKCI_BLOB_URL ([blobs] url): %w", err)
	}
	switch u.Scheme {
	case "file":
		if u.Path == "" || !filepath.IsAbs(u.Path) {
			return nil, fmt.Errorf("HOOKCI_BLOB_URL ([blobs] url): want file:///absolute/path, got %q", opts.URL)
		}
		return NewDir(u.Path), nil
	case "s3":
		q := u.Query()
		for k := range q {
			if k != "endpoint" && k != "region" {
				return nil, fmt.Errorf("HOOKCI_BLOB_URL ([blobs] url): unknown parameter %q (want endpoint, region)", k)
			}
		}
		if u.User != nil {
			return nil, fmt.Errorf("HOOKCI_BLOB_URL ([blobs] url): put credentials in HOOKCI_S3_ACCESS_KEY_ID/HOOKCI_S3_SECRET_ACCESS_KEY, not the URL")
		}
		s, err := OpenS3(ctx, S3Config{
			Endpoint: q.Get("endpoint"), Bucket: u.Host, Prefix: strings.Trim(u.Path, "/"),
			Region: cmpOr(q.Get("region"), cmpOr(opts.Region, "us-east-1")), AccessKeyID: opts.AccessKeyID, SecretAccessKey: opts.SecretAccessKey,
			Getenv: opts.Getenv,
		})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("HOOKCI_BLOB_URL ([blobs] url): scheme %q is not supported: want s3://bucket?endpoint=…, file:///path, or unset for the data directory", u.Scheme)
}

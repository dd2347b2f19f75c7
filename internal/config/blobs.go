package config

// Blobs is the [blobs] table: where caches and artifacts are kept. An empty
// URL keeps them in the data directory (one host); several hosts share an
// S3-compatible bucket:
//
//	[blobs]
//	url = "s3://bucket/optional/prefix?endpoint=http://127.0.0.1:9000&region=us-east-1"
//	access_key_id = "…"      # or HOOKCI_S3_ACCESS_KEY_ID, else AWS_ACCESS_KEY_ID
//	secret_access_key = "…"  # or HOOKCI_S3_SECRET_ACCESS_KEY, else AWS_SECRET_ACCESS_KEY
//
// `hookci serve` checks the store at start (reachable, credentials
// accepted, bucket present or created, writable) and refuses to start when
// it cannot work.
type Blobs struct {
	URL             string `toml:"url" env:"HOOKCI_BLOB_URL"`
	AccessKeyID     string `toml:"access_key_id" env:"HOOKCI_S3_ACCESS_KEY_ID"`
	SecretAccessKey string `toml:"secret_access_key" env:"HOOKCI_S3_SECRET_ACCESS_KEY" secret:"true"`
	Region          string `toml:"region" env:"HOOKCI_S3_REGION"`
}

// applyBlobsEnv applies the HOOKCI_BLOB_URL and HOOKCI_S3_* overrides.
func applyBlobsEnv(b *Blobs, lookup func(string) (string, bool)) {
	for _, f := range []struct {
		name string
		dst  *string
	}{
		{"HOOKCI_BLOB_URL", &b.URL}, {"HOOKCI_S3_ACCESS_KEY_ID", &b.AccessKeyID},
		{"HOOKCI_S3_SECRET_ACCESS_KEY", &b.SecretAccessKey}, {"HOOKCI_S3_REGION", &b.Region},
	} {
		if v, ok := lookup(f.name); ok {
			*f.dst = v
		}
	}
}

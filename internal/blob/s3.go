package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// S3Config says where an S3-compatible bucket is and how to sign requests.
type S3Config struct {
	// Endpoint is the server's base URL (http://127.0.0.1:9000); empty is
	// AWS (https://s3.amazonaws.com).
	Endpoint string
	Bucket   string
	// Prefix is prepended to every key ("ci/"), so that one bucket can hold
	// several installations.
	Prefix string
	Region string
	// AccessKeyID and SecretAccessKey sign requests; both empty falls back
	// to the standard AWS environment (AWS_ACCESS_KEY_ID, …).
	AccessKeyID, SecretAccessKey string
	// PartSize is the multipart upload's part size, the most memory one
	// upload holds (0: 16 MiB; S3 allows 10,000 parts, so objects up to
	// 160 GiB).
	PartSize uint64
	// Getenv reads the standard AWS environment (os.Getenv in production).
	Getenv func(string) string
}

// S3 is a Store in an S3-compatible bucket (AWS S3, MinIO, versitygw,
// SeaweedFS …): what several hosts share.
type S3 struct {
	c      *minio.Client
	bucket string
	prefix string
	part   uint64
	where  string
}

const defaultPartSize = 16 << 20

// OpenS3 connects to the bucket, creates it when it is missing, and checks
// that an object can be written, read and deleted there, so that a setting
// that cannot work fails at start with the reason.
func OpenS3(ctx context.Context, cfg S3Config) (*S3, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("s3 store: no bucket named (want s3://bucket?endpoint=…)")
	}
	endpoint := cfg.Endpoint
	if endpoint == "" {
		endpoint = "https://s3.amazonaws.com"
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("s3 store: endpoint %q: want http(s)://host[:port]", endpoint)
	}
	creds, err := s3Credentials(cfg)
	if err != nil {
		return nil, err
	}
	lookup := minio.BucketLookupAuto
	if cfg.Endpoint != "" {
		lookup = minio.BucketLookupPath // self-hosted servers rarely have per-bucket DNS names
	}
	c, err := minio.New(u.Host, &minio.Options{
		Creds: creds, Secure: u.Scheme == "https", Region: cfg.Region, BucketLookup: lookup,
		MaxRetries: 3, TrailingHeaders: true,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 store: %w", err)
	}
	s := &S3{c: c, bucket: cfg.Bucket, prefix: strings.TrimLeft(cfg.Prefix, "/"), part: cfg.PartSize,
		where: fmt.Sprintf("s3 bucket %s at %s", cfg.Bucket, u.Host)}
	if s.part == 0 {
		s.part = defaultPartSize
	}
	if s.prefix != "" && !strings.HasSuffix(s.prefix, "/") {
		s.prefix += "/"
	}
	if err := s.check(ctx, cfg.Region); err != nil {
		return nil, err
	}
	return s, nil
}

func s3Credentials(cfg S3Config) (*credentials.Credentials, error) {
	if cfg.AccessKeyID != "" || cfg.SecretAccessKey != "" {
		if cfg.AccessKeyID == "" || cfg.SecretAccessKey == "" {
			return nil, errors.New("s3 store: set both the access key id and the secret access key (HOOKCI_S3_ACCESS_KEY_ID, HOOKCI_S3_SECRET_ACCESS_KEY)")
		}
		return credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""), nil
	}
	getenv := cfg.Getenv
	if getenv == nil {
		getenv = func(string) string { return "" }
	}
	id := cmpOr(getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_ACCESS_KEY"))
	secret := cmpOr(getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SECRET_KEY"))
	if id == "" || secret == "" {
		return nil, errors.New("s3 store: no credentials: set HOOKCI_S3_ACCESS_KEY_ID and HOOKCI_S3_SECRET_ACCESS_KEY ([blobs] access_key_id, secret_access_key) or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
	}
	return credentials.NewStaticV4(id, secret, getenv("AWS_SESSION_TOKEN")), nil
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// startTimeout bounds the checks at start, so that an unreachable endpoint
// is an error rather than a hang.
const startTimeout = 20 * time.Second

func (s *S3) check(ctx context.Context, region string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	ok, err := s.c.BucketExists(ctx, s.bucket)
	if err != nil {
		return s.explain("checking the bucket", err)
	}
	if !ok {
		if err := s.c.MakeBucket(ctx, s.bucket, minio.MakeBucketOptions{Region: region}); err != nil {
			return s.explain("the bucket does not exist and creating it failed", err)
		}
	}
	probe := ".hookci-probe-" + fmt.Sprint(time.Now().UnixNano())
	if _, err := s.Put(ctx, probe, strings.NewReader("probe")); err != nil {
		return fmt.Errorf("s3 store: writing a test object: %w", err)
	}
	if err := s.Delete(ctx, probe); err != nil {
		return fmt.Errorf("s3 store: deleting a test object: %w", err)
	}
	return nil
}

// explain turns an S3 error into a message that says what to fix.
func (s *S3) explain(what string, err error) error {
	r := minio.ToErrorResponse(err)
	switch {
	case r.Code == "InvalidAccessKeyId" || r.Code == "XAdminUserNotFound" || r.Code == "SignatureDoesNotMatch" || r.Code == "AccessDenied" ||
		r.StatusCode == http.StatusForbidden || r.StatusCode == http.StatusUnauthorized:
		return fmt.Errorf("s3 store (%s): %s: the server refused the credentials (%s): check HOOKCI_S3_ACCESS_KEY_ID/HOOKCI_S3_SECRET_ACCESS_KEY: %w", s.where, what, cmpOr(r.Code, http.StatusText(r.StatusCode)), err)
	case r.StatusCode == 0 && unreachable(err):
		return fmt.Errorf("s3 store (%s): %s: cannot reach the endpoint: %w", s.where, what, err)
	}
	return fmt.Errorf("s3 store (%s): %s: %w", s.where, what, err)
}

// Put streams r to the bucket (multipart, PartSize at a time) and checks
// that the server stored as many bytes as were read; each part carries a
// CRC32C the server verifies.
func (s *S3) Put(ctx context.Context, key string, r io.Reader) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	c := newCounter(r)
	up, err := s.c.PutObject(ctx, s.bucket, s.prefix+key, c, -1, minio.PutObjectOptions{
		PartSize: s.part, ContentType: "application/octet-stream", Checksum: minio.ChecksumCRC32C,
	})
	if err != nil {
		return Info{}, s.explain("storing "+key, err)
	}
	if up.Size != c.n {
		return Info{}, fmt.Errorf("s3 store (%s): storing %s: the server stored %d bytes, %d were sent", s.where, key, up.Size, c.n)
	}
	return Info{Key: key, Size: c.n, Modified: up.LastModified, SHA256: c.sum()}, nil
}

type s3Object struct {
	*minio.Object
	size int64
}

func (o s3Object) Size() int64 { return o.size }

// Open reads the object (range requests for ReadAt and Seek).
func (s *S3) Open(ctx context.Context, key string) (Object, error) {
	info, err := s.Stat(ctx, key)
	if err != nil {
		return nil, err
	}
	o, err := s.c.GetObject(ctx, s.bucket, s.prefix+key, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.explain("reading "+key, err)
	}
	return s3Object{o, info.Size}, nil
}

// Stat asks the server about key.
func (s *S3) Stat(ctx context.Context, key string) (Info, error) {
	if err := CheckKey(key); err != nil {
		return Info{}, err
	}
	oi, err := s.c.StatObject(ctx, s.bucket, s.prefix+key, minio.StatObjectOptions{})
	if err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" || r.StatusCode == http.StatusNotFound {
			return Info{}, notExist(key)
		}
		return Info{}, s.explain("reading "+key, err)
	}
	return Info{Key: key, Size: oi.Size, Modified: oi.LastModified}, nil
}

// List lists the keys under prefix.
func (s *S3) List(ctx context.Context, prefix string) ([]Info, error) {
	var out []Info
	for oi := range s.c.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}) {
		if oi.Err != nil {
			return nil, s.explain("listing "+prefix, oi.Err)
		}
		key := strings.TrimPrefix(oi.Key, s.prefix)
		if strings.HasPrefix(key, ".hookci-probe-") {
			continue
		}
		out = append(out, Info{Key: key, Size: oi.Size, Modified: oi.LastModified})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Delete removes key.
func (s *S3) Delete(ctx context.Context, key string) error {
	if err := CheckKey(key); err != nil {
		return err
	}
	if err := s.c.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{}); err != nil {
		if r := minio.ToErrorResponse(err); r.Code == "NoSuchKey" {
			return nil
		}
		return s.explain("deleting "+key, err)
	}
	return nil
}

// String names the bucket and endpoint.
func (s *S3) String() string { return s.where }

// unreachable reports a failure to connect or to get an answer.
func unreachable(err error) bool {
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne)
}

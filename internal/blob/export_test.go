package blob

import (
	"context"
	"encoding/xml"
	"net/http"
	"net/url"
	"time"
)

// Test hooks for blob_test (the S3 tests start versitygw through s3test,
// which imports this package, so they cannot be in package blob).

// SetListPageSize makes List ask for n keys a page; the returned function
// restores the default.
func SetListPageSize(n int) (restore func()) {
	old := listPageSize
	listPageSize = n
	return func() { listPageSize = old }
}

// SetRetryBase sets the first wait before a retry.
func SetRetryBase(d time.Duration) (restore func()) {
	old := retryBase
	retryBase = d
	return func() { retryBase = old }
}

// CRC32C is what Put sends in x-amz-checksum-crc32c for b.
func CRC32C(b []byte) string { return crc32c(b) }

// PutRaw stores body under key with one signed PutObject carrying crc as
// its x-amz-checksum-crc32c (a wrong one, to see the server check it).
func (s *S3) PutRaw(ctx context.Context, key string, body []byte, crc string) error {
	resp, err := s.c.do(ctx, &s3Request{method: http.MethodPut, key: s.prefix + key, body: body,
		header: http.Header{"X-Amz-Checksum-Crc32c": {crc}}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// UploadsInProgress lists the keys of the bucket's unfinished multipart
// uploads (ListMultipartUploads).
func (s *S3) UploadsInProgress(ctx context.Context) ([]string, error) {
	resp, err := s.c.do(ctx, &s3Request{method: http.MethodGet, query: url.Values{"uploads": {""}}})
	if err != nil {
		return nil, err
	}
	var doc struct {
		Upload []struct{ Key, UploadId string }
	}
	if err := readXML(resp, "ListMultipartUploadsResult", &doc); err != nil {
		return nil, err
	}
	var keys []string
	for _, u := range doc.Upload {
		keys = append(keys, u.Key)
	}
	return keys, nil
}

// MultipartRaw stores part as a one-part multipart upload (CRC32C
// declared) whose UploadPart and Complete carry crc as the part's
// CRC32C; the upload is aborted when that fails.
func (s *S3) MultipartRaw(ctx context.Context, key string, part []byte, crc string) error {
	full := s.prefix + key
	resp, err := s.c.do(ctx, &s3Request{method: http.MethodPost, key: full, query: url.Values{"uploads": {""}},
		header: http.Header{"X-Amz-Checksum-Algorithm": {"CRC32C"}}})
	if err != nil {
		return err
	}
	var started struct{ UploadId string }
	if err := readXML(resp, "InitiateMultipartUploadResult", &started); err != nil {
		return err
	}
	q := url.Values{"uploadId": {started.UploadId}}
	abort := func(err error) error {
		if resp, aerr := s.c.do(ctx, &s3Request{method: http.MethodDelete, key: full, query: q}); aerr == nil {
			resp.Body.Close()
		}
		return err
	}
	resp, err = s.c.do(ctx, &s3Request{method: http.MethodPut, key: full, body: part,
		query:  url.Values{"uploadId": {started.UploadId}, "partNumber": {"1"}},
		header: http.Header{"X-Amz-Checksum-Crc32c": {crc}}})
	if err != nil {
		return abort(err)
	}
	resp.Body.Close()
	body, _ := xml.Marshal(struct {
		XMLName xml.Name `xml:"CompleteMultipartUpload"`
		Part    []completedPart
	}{Part: []completedPart{{PartNumber: 1, ETag: resp.Header.Get("ETag"), ChecksumCRC32C: crc}}})
	resp, err = s.c.do(ctx, &s3Request{method: http.MethodPost, key: full, query: q, body: body, errorIn200: true})
	if err != nil {
		return abort(err)
	}
	resp.Body.Close()
	return nil
}
